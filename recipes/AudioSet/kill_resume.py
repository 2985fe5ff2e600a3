"""Starting a recipe run on several processes, killing every process of
it and comparing its weights with another run's: what the kill-and-resume
soak (``soak_kill_resume.py``) and the recipes' tests share.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXPORTS = ("model", "model_weight_averaged")


def tiny_options(frames=98, batch_size=2):
    """The recipe's options for a tiny AST (32-dim, 1 block, no ImageNet
    weights) on ``frames`` frames, batches of ``batch_size``, the data
    read in the training process, a short warm-up.

    Example
    -------
    >>> options = tiny_options(198, 4)
    >>> options[options.index("--target_length") + 1]
    '198'
    """
    return [
        "--model_size", "null", "--embed_dim", "32", "--depth", "1",
        "--num_heads", "2", "--imagenet_weights", "null", "--fstride", "16",
        "--tstride", "16", "--target_length", str(frames), "--batch_size",
        str(batch_size), "--num_workers", "0", "--warmup_steps", "4",
        "--lr", "0.002",
    ]  # fmt: skip


def free_port():
    """A TCP port free on this host now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def launcher(processes):
    """The command that starts a script on ``processes`` processes:
    ``torchrun`` (``torch.distributed.run``) on a free port, or Python
    alone for one."""
    if processes == 1:
        return [sys.executable]
    return [sys.executable, "-m", "torch.distributed.run",
            f"--nproc_per_node={processes}",
            f"--master_port={free_port()}"]  # fmt: skip


def recipe_command(data, output, processes, labels, epochs, interval,
                   extra=()):  # fmt: skip
    """The AudioSet recipe's command (``balanced.yaml``, the tiny AST
    with mixup on half the batches, gloo on CPUs) on the demo set in
    ``data``: ``epochs`` epochs, every epoch averaged, a checkpoint every
    ``interval`` steps."""
    return [
        *launcher(processes), os.path.join(HERE, "train.py"),
        os.path.join(HERE, "hparams", "balanced.yaml"),
        "--csv_folder", str(data), "--clips_folder",
        os.path.join(data, "audio"), "--output_folder", str(output),
        "--n_classes", str(labels), *tiny_options(),
        "--mixup_probability", "0.5", "--number_of_epochs", str(epochs),
        "--average_epochs", f"[1, {epochs}]",
        "--ckpt_interval_steps", str(interval), "--device", "cpu",
        *(["--distributed_backend", "gloo"] if processes > 1 else []),
        *extra,
    ]  # fmt: skip


def demo_shards(data, output, split, size):
    """The training clips of the demo set in ``data`` (its ``split``:
    ``balanced`` or ``full``) in shards of ``size`` in ``output``/shards,
    from the manifest the recipe's prepare step writes in
    ``output``/save; their brace pattern."""
    from audioset_prepare import prepare_audioset

    from ast_lobes.training.data.shards import write_shards

    save = os.path.join(output, "save")
    prepare_audioset(save, os.path.join(data, "class_labels_indices.csv"),
                     split, str(data), os.path.join(data, "audio"))  # fmt: skip
    index = write_shards(os.path.join(save, "train.csv"),
                         os.path.join(output, "shards"), size,
                         log=lambda line: None)  # fmt: skip
    last = len(index["shards"]) - 1
    return os.path.join(output, "shards", f"shard-{{000000..{last:06d}}}.tar")


def descendants(pid):
    """The process ids below ``pid`` (children, theirs, ...), from
    ``/proc`` (Linux)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                parent = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_every_process(process):
    """SIGKILL to a launched run and every process below it (torchrun's
    workers live in sessions of their own), at once."""
    for pid in [process.pid, *descendants(process.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def checkpoints(save_folder):
    """Names of the checkpoint folders whose meta file is written."""
    if not os.path.isdir(save_folder):
        return set()
    return {
        name for name in os.listdir(save_folder)
        if os.path.isfile(os.path.join(save_folder, name, "CKPT.yaml"))
    }  # fmt: skip


def run_and_kill(command, save_folder, delay, after_checkpoints, log,
                 timeout=600, cwd=ROOT):  # fmt: skip
    """Starts ``command`` and kills every process of it ``delay`` seconds
    after its ``after_checkpoints``-th new checkpoint (after its start
    with 0); returns ``"killed"``, or ``"finished"`` (exit status 0) when
    it ended first."""
    seen = checkpoints(save_folder)
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command, cwd=cwd, stdout=output, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + timeout
    try:
        made = 0
        while made < after_checkpoints and process.poll() is None:
            now = checkpoints(save_folder)
            made += len(now - seen)
            seen = now
            if time.monotonic() > deadline:
                raise TimeoutError(f"no checkpoint in {timeout} s: {log}")
            time.sleep(0.002)
        time.sleep(delay)
        if process.poll() is not None:
            if process.returncode != 0:
                raise RuntimeError(f"the run failed ({process.returncode}), "
                                   f"see {log}")  # fmt: skip
            return "finished"
    finally:
        kill_every_process(process)
    return "killed"


def model_tensors(folder):
    """The encoder's and head's tensors of an exported model folder, by
    file and name."""
    import torch

    tensors = {}
    for name in ("embedding_model.ckpt", "classifier.ckpt"):
        state = torch.load(os.path.join(folder, name), weights_only=True)
        for key, value in state.items():
            tensors[f"{name}:{key}"] = value
    return tensors


def differing_tensors(first, second):
    """Names of the tensors of two runs' exports that are not identical
    (missing on one side included).

    Example
    -------
    >>> import torch
    >>> one = {"a": torch.zeros(2), "b": torch.ones(1)}
    >>> differing_tensors(one, {"a": torch.tensor([0.0, 1e-9])})
    ['a', 'b']
    """
    import torch

    names = sorted(set(first) | set(second))
    return [
        name for name in names
        if name not in first or name not in second
        or not torch.equal(first[name], second[name])
    ]  # fmt: skip


def exported_tensors(output_folder):
    """The tensors of a run's exports (``EXPORTS``), by folder."""
    return {
        f"{export}/{name}": value
        for export in EXPORTS
        for name, value in model_tensors(
            os.path.join(output_folder, export)
        ).items()
    }

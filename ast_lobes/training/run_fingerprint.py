"""A run's fingerprint (its identity), stored with every checkpoint, so
that a run never continues from a checkpoint made on other data or other
settings.

The identity is a hash of each split's manifest (its clips and labels)
and the settings that change what is learnt: the architecture, the front
end, the labels, the fold and the starting weights; where a run stores
what it computed from the files (a transfer's encoder outputs), also
what the audio files and the starting weights hold. ``AtomicCheckpointer``
writes it into every checkpoint's meta file; ``check_run_identity``
compares it with the checkpoints already in the run's folder before
anything is trained and refuses a mismatch, naming what differs, unless
the user asks to resume anyway (``resume_anyway: true``) or to start over
in place (``start_over: true``, which deletes those checkpoints).

Authors
 * AST-SpeechBrain contributors 2026
"""

import hashlib
import json
import logging
import os
import shutil

import torch
from speechbrain.utils.distributed import ddp_barrier, if_main_process

from ast_lobes.compat.aliases import RENAMED_OPTIONS
from ast_lobes.training.data.manifest import value_digest
from ast_lobes.training.data.shards import file_sha256

logger = logging.getLogger(__name__)

# Keys of the recipes' YAMLs that choose the weights training starts from.
STARTING_WEIGHT_KEYS = (
    "imagenet_weights", "pretrained", "audioset_weights",
    "ssast_weights", "init_from",
)  # fmt: skip


class RunIdentityError(ValueError):
    """Checkpoints in a run's folder that were made by another run."""


def file_digest(path):
    """SHA-256 of a file's bytes (the first 16 hex digits).

    Example
    -------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> _ = open(path, "w").write("ID,wav\\n")
    >>> file_digest(path)
    'f2947fb9a1f9d697'
    """
    return file_sha256(path)[:16]


def weights_digest(module):
    """SHA-256 of a module's weights (every tensor's name, dtype, shape
    and bytes; the first 16 hex digits): the same for the same weights
    however they were loaded (a published name, a file, a folder).

    Example
    -------
    >>> import torch
    >>> layer = torch.nn.Linear(2, 2)
    >>> before = weights_digest(layer)
    >>> with torch.no_grad():
    ...     layer.bias[0] += 1e-6
    >>> weights_digest(layer) == before
    False
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name} {tensor.dtype} {list(tensor.shape)}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().data)
    return digest.hexdigest()[:16]


IDENTITY_FILE = "run_identity.json"


def write_identity(folder, identity):
    """Writes ``identity`` into a checkpoint folder (main process)."""
    if if_main_process():
        with open(os.path.join(folder, IDENTITY_FILE), "w",
                  encoding="utf-8") as handle:  # fmt: skip
            json.dump(identity, handle, sort_keys=True)


def stored_identity(checkpoint):
    """The identity a checkpoint was saved with, or None (made before runs
    had one)."""
    digest = checkpoint.meta.get("run_identity")
    path = os.path.join(checkpoint.path, IDENTITY_FILE)
    if digest is None or not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def encoder_settings(encoder):
    """The architecture of an encoder: an AST's config, or another
    encoder's class and parameter shapes."""
    encoder = getattr(encoder, "module", encoder)
    config = getattr(encoder, "config", None)
    if config is not None and hasattr(config, "as_dict"):
        return config.as_dict()
    shapes = {name: list(p.shape) for name, p in encoder.named_parameters()}
    return {"class": type(encoder).__name__, "parameters": value_digest(shapes)}


def front_end_settings(compute_features, normalize):
    """The front end's settings and the fbank scaling."""
    settings = {
        key: getattr(compute_features, key)
        for key in ("sample_rate", "n_mels", "frame_shift", "target_length")
        if hasattr(compute_features, key)
    }
    for key in ("mean", "std"):
        if hasattr(normalize, key):
            settings[f"norm_{key}"] = round(float(getattr(normalize, key)), 6)
    if getattr(normalize, "per_clip_mean", False):
        settings["norm_per_clip_mean"] = True
    return settings


def run_identity(manifests, hparams, label_names=None, split_digests=None,
                 contents=None):  # fmt: skip
    """The identity of a run.

    Arguments
    ---------
    manifests : dict
        Split name to manifest file.
    hparams : dict
        The loaded hparams: ``encoder`` (or ``embedding_model``),
        ``compute_features``, ``normalize``, and where the recipe has
        them, ``fold`` and the starting-weight keys.
    label_names : list or None
        The labels, in output order.
    split_digests : dict or None
        Digests of splits that are not one manifest file (training shards),
        in place of the file's.
    contents : dict or None
        What the files hold where a run stores what it computed from them
        (a transfer's stored encoder outputs): ``audio`` (split to a
        digest of ``clip_digests``) and ``source_weights``
        (``weights_digest`` of the encoder started from).

    Returns
    -------
    dict
        ``splits`` (split to a digest of its manifest), ``settings`` and,
        with ``contents``, ``audio``.
    """
    encoder = hparams.get("encoder", hparams.get("embedding_model"))
    settings = {
        "architecture": encoder_settings(encoder),
        "front_end": front_end_settings(
            hparams["compute_features"], hparams.get("normalize")
        ),
        "labels": None if label_names is None else value_digest(label_names),
        "fold": hparams.get("fold"),
        "starting_weights": {
            key: str(hparams[key])
            for key in STARTING_WEIGHT_KEYS
            if hparams.get(key) not in (None, False)
        },
    }
    if hparams.get("weight_ema_epochs"):  # its checkpoints hold one
        settings["weight_ema_epochs"] = hparams["weight_ema_epochs"]
    identity = {
        "splits": {
            split: file_digest(path)
            for split, path in sorted(manifests.items())
        }
        | (split_digests or {}),
        "settings": settings,
    }
    if contents:
        if "source_weights" in contents:
            settings["source_weights"] = contents["source_weights"]
        identity["audio"] = dict(contents.get("audio", {}))
    return identity


def renamed_starting_weights(identity):
    """A stored identity with its starting-weight keys under today's
    names (``pretrained_ast`` is ``pretrained``: ``ast_lobes.compat``)."""
    settings = identity.get("settings", {})
    weights = settings.get("starting_weights")
    if not isinstance(weights, dict):
        return identity
    renamed = {
        RENAMED_OPTIONS.get(key, (None, (key,)))[1][0]: value
        for key, value in weights.items()
    }  # fmt: skip
    return {**identity, "settings": {**settings, "starting_weights": renamed}}


def identity_differences(stored, current):
    """What differs between two identities, as phrases.

    Example
    -------
    >>> a = {"splits": {"train": "1", "valid": "2"},
    ...      "settings": {"fold": 1, "labels": "x"}}
    >>> b = {"splits": {"train": "3", "valid": "2"},
    ...      "settings": {"fold": 2, "labels": "x"}}
    >>> identity_differences(a, b)
    ["the train split's clips or labels", 'fold (1, this run 2)']
    """
    found = []
    stored = renamed_starting_weights(stored)
    splits = set(stored.get("splits", {})) | set(current["splits"])
    for split in sorted(splits):
        if stored.get("splits", {}).get(split) != current["splits"].get(split):
            found.append(f"the {split} split's clips or labels")
    audio = stored.get("audio", {}), current.get("audio", {})
    if "audio" not in stored:  # a checkpoint of a run that stored none
        audio = ({}, {})
    for split in sorted(set(audio[0]) | set(audio[1])):
        if audio[0].get(split) != audio[1].get(split):
            found.append(f"the {split} split's audio files")
    stored_settings = stored.get("settings", {})
    keys = list(current["settings"])
    keys += [key for key in stored_settings if key not in current["settings"]]
    for key in keys:
        before = stored_settings.get(key)
        value = current["settings"].get(key)
        if before == value:
            continue
        if isinstance(value, dict) and isinstance(before, dict):
            keys = sorted(
                k for k in set(value) | set(before)
                if value.get(k) != before.get(k)
            )  # fmt: skip
            found.append(f"{key} ({', '.join(keys)})")
        elif key in ("fold",):
            found.append(f"{key} ({before}, this run {value})")
        else:
            found.append(key)
    return found


def check_run_identity(checkpointer, identity, resume_anyway=False,
                       start_over=False):  # fmt: skip
    """Makes ``checkpointer`` store ``identity`` with every checkpoint and
    refuses to go on from checkpoints of another run.

    Arguments
    ---------
    checkpointer : ast_lobes.training.checkpoints.AtomicCheckpointer
        The run's checkpointer.
    identity : dict
        ``run_identity(...)`` of this run.
    resume_anyway : bool
        Continue from checkpoints of another identity (logged).
    start_over : bool
        Delete checkpoints of another identity and start again.

    Returns
    -------
    int
        How many checkpoints ``start_over`` deleted.

    Raises
    ------
    RunIdentityError
        Naming the folder and what differs, and the two ways out.
    """
    checkpointer.run_identity = identity
    others = []
    digest = value_digest(identity)
    for checkpoint in checkpointer.list_checkpoints():
        if checkpoint.meta.get("run_identity") == digest:
            continue
        stored = stored_identity(checkpoint)
        if stored is None:
            others.append((checkpoint, ["made before runs had an identity"]))
            continue
        differences = identity_differences(stored, identity)
        if differences:
            others.append((checkpoint, differences))
    if not others:
        return 0
    what = sorted({phrase for _, phrases in others for phrase in phrases})
    folder = checkpointer.checkpoints_dir
    if start_over:
        if if_main_process():
            for checkpoint, _ in others:
                shutil.rmtree(checkpoint.path, ignore_errors=True)
        ddp_barrier()
        logger.warning(
            "start_over: deleted %d checkpoints of another run in %s (%s)",
            len(others), folder, "; ".join(what),
        )  # fmt: skip
        return len(others)
    if resume_anyway:
        logger.warning(
            "resume_anyway: continuing from checkpoints in %s made by "
            "another run (%s)", folder, "; ".join(what),
        )  # fmt: skip
        return 0
    count = f"{len(others)} checkpoint{'s' if len(others) > 1 else ''}"
    raise RunIdentityError(
        f"{folder} holds {count} of another run (differing in: "
        f"{'; '.join(what)}); use another --output_folder or "
        "--experiment_folder, or pass --start_over true to delete them and "
        "train again there, or --resume_anyway true to continue from them"
    )

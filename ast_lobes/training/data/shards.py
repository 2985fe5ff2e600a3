"""WebDataset tar shards of a manifest's clips, written once and read by
every process and loader worker in a seeded, resumable order.

``write_shards`` decodes each clip of a manifest (``ID, duration, wav,
label``) once, resampled to the recipe's rate, and stores it as 16-bit
FLAC with a JSON record (id, labels, duration, label-balanced weight) in
tar shards of ``clips_per_shard`` clips. ``shards.json`` beside them lists
each finished shard with its clip count and SHA-256, so an interrupted
writer resumes at the first shard missing and ``check_shards`` finds a
shard that was cut short or changed.

``ShardedClips`` reads them back as batches (``id``, ``sig``, ``targets``,
SpeechBrain's ``PaddedBatch``): the shards of an epoch are shuffled with
the seed and the epoch and dealt out to the (process, worker) slots, the
clips pass through a seeded shuffle buffer and, with ``balanced``, each
clip is drawn a Poisson number of times with mean ``clips * weight /
total weight``: the label-balanced sampling of the full AudioSet recipe
(``label_balanced_sampler``) in expectation. Every process yields the same
number of batches an epoch, ``ShardLoader`` counts the batches used and a
checkpoint stores that count, so a resumed run skips exactly the batches
it had trained on and sees the rest in the same order.

Authors
 * AST-SpeechBrain contributors 2026
"""

import hashlib
import io
import json
import math
import os

import numpy as np
import soundfile
import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch
from speechbrain.utils.checkpoints import (
    mark_as_loader,
    mark_as_saver,
    register_checkpoint_hooks,
)

from ast_lobes.audio.io import read_audio
from ast_lobes.training.data.datasets import UnknownLabelError, split_labels
from ast_lobes.training.data.sampling import (
    distributed_place,
    label_balanced_weights,
)

INDEX_NAME = "shards.json"
INDEX_VERSION = 1


class ShardError(ValueError):
    """A shard folder that is incomplete, changed or of other clips."""


def file_sha256(path):
    """SHA-256 of a file's bytes, in hex (read in 1 MiB blocks).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.csv")
    >>> _ = open(path, "w").write("ID,wav\\n")
    >>> file_sha256(path)[:16]
    'f2947fb9a1f9d697'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def flac_bytes(waveform, sample_rate):
    """A 1-D float waveform as 16-bit FLAC file bytes."""
    buffer = io.BytesIO()
    soundfile.write(
        buffer, waveform.numpy(), sample_rate, format="FLAC", subtype="PCM_16"
    )
    return buffer.getvalue()


def decode_flac(data):
    """FLAC bytes as a float32 tensor ``[samples]``.

    Example
    -------
    >>> wave = torch.tensor([0.0, 0.5, -0.25, 1.0 - 2**-15])
    >>> decode_flac(flac_bytes(wave, 16000)).tolist() == wave.tolist()
    True
    """
    samples, _ = soundfile.read(io.BytesIO(data), dtype="float32")
    return torch.from_numpy(samples)


def write_json_atomically(path, value):
    """Writes ``value`` as JSON through a temporary file and a rename."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=1)
    os.replace(partial, path)


def manifest_rows(csv_path, label_column="label"):
    """``(id, wav, labels, duration)`` of a manifest's rows, in order."""
    data = sb.dataio.dataio.load_data_csv(csv_path)
    return [
        (
            clip_id,
            row["wav"],
            split_labels(row[label_column]),
            float(row.get("duration") or 0.0),
        )
        for clip_id, row in data.items()
    ]


def write_shards(
    csv_path,
    folder,
    clips_per_shard=1000,
    sample_rate=16000,
    label_column="label",
    log=print,
):
    """Writes a manifest's clips into tar shards, resuming a stopped run.

    Arguments
    ---------
    csv_path : str
        Manifest (``ID, duration, wav`` and the label column).
    folder : str
        Where ``shard-000000.tar``... and ``shards.json`` go. A folder
        holding shards of another manifest or other settings is refused.
    clips_per_shard : int
        Clips per shard (1,000 10-s clips are about 200 MB).
    sample_rate : int
        Every clip is resampled (and mixed down) to this rate.
    label_column : str
        Column holding the labels (``;``-separated).
    log : callable
        Called with one line per shard written.

    Returns
    -------
    dict
        The index: ``source`` (what the shards hold), ``clips`` and
        ``shards`` (name, clip count, sum of the clips' balanced-sampling
        weights, SHA-256).

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> wav = os.path.join(root, "a.wav")
    >>> soundfile.write(wav, np.zeros(1600), 16000)
    >>> with open(os.path.join(root, "m.csv"), "w") as handle:
    ...     _ = handle.write(f"ID,duration,wav,label\\nx,0.1,{wav},dog;cat\\n")
    >>> index = write_shards(
    ...     os.path.join(root, "m.csv"), os.path.join(root, "shards"),
    ...     log=lambda line: None,
    ... )
    >>> index["clips"], [shard["name"] for shard in index["shards"]]
    (1, ['shard-000000.tar'])
    """
    import webdataset

    rows = manifest_rows(csv_path, label_column)
    weights = label_balanced_weights([labels for _, _, labels, _ in rows])
    source = {
        "version": INDEX_VERSION,
        "manifest_sha256": file_sha256(csv_path),
        "clips_per_shard": int(clips_per_shard),
        "sample_rate": int(sample_rate),
        "label_column": label_column,
    }
    os.makedirs(folder, exist_ok=True)
    index_path = os.path.join(folder, INDEX_NAME)
    index = {"source": source, "clips": len(rows), "shards": []}
    if os.path.isfile(index_path):
        index = read_index(folder)
        if index["source"] != source:
            raise ShardError(
                f"{index_path}: the shards there were written from another "
                f"manifest or with other settings ({index['source']}); "
                "write to a new folder or delete that one"
            )
    done = {shard["name"]: shard for shard in index["shards"]}
    shards = []
    for number, start in enumerate(range(0, len(rows), clips_per_shard)):
        name = f"shard-{number:06d}.tar"
        path = os.path.join(folder, name)
        stop = min(start + clips_per_shard, len(rows))
        if name in done and os.path.isfile(path):
            if file_sha256(path) == done[name]["sha256"]:
                shards.append(done[name])
                continue
        partial = path + ".partial"
        with open(partial, "wb") as handle:
            writer = webdataset.TarWriter(handle, mtime=0)
            for position in range(start, stop):
                clip_id, wav, labels, duration = rows[position]
                waveform = read_audio(wav, sample_rate, resample=True)
                record = {
                    "id": clip_id,
                    "labels": labels,
                    "weight": weights[position],
                    "duration": len(waveform) / sample_rate,
                }
                writer.write(
                    {
                        "__key__": f"{position:09d}",
                        "flac": flac_bytes(waveform, sample_rate),
                        "json": json.dumps(record).encode("utf-8"),
                    }
                )
            writer.close()
        os.replace(partial, path)
        shards.append(
            {
                "name": name,
                "clips": stop - start,
                "weight": sum(weights[start:stop]),
                "sha256": file_sha256(path),
            }
        )
        index["shards"] = shards + [
            shard for shard in index["shards"] if shard["name"] > name
        ]
        write_json_atomically(index_path, index)
        log(f"{path}: clips {start + 1}-{stop} of {len(rows)}")
    index["shards"] = shards
    write_json_atomically(index_path, index)
    return index


def read_index(folder):
    """The ``shards.json`` of a shard folder (``ShardError`` if absent)."""
    path = os.path.join(folder, INDEX_NAME)
    if not os.path.isfile(path):
        raise ShardError(
            f"{path}: missing; a shard folder is written by write_shards "
            "(python -m ast_lobes.training.data.write_shards)"
        )
    with open(path, encoding="utf-8") as handle:
        index = json.load(handle)
    if index.get("source", {}).get("version") != INDEX_VERSION:
        raise ShardError(f"{path}: not a shard index of this version")
    return index


def check_shards(folder):
    """Checks every shard of the index: present, its SHA-256 and its clip
    count; raises ``ShardError`` naming the first bad one.

    Returns
    -------
    dict
        The index.
    """
    from webdataset.tariterators import tarfile_samples

    index = read_index(folder)
    written = sum(shard["clips"] for shard in index["shards"])
    if written != index["clips"]:
        raise ShardError(
            f"{folder}: {written} of {index['clips']} clips written; run "
            "write_shards again to finish"
        )
    for shard in index["shards"]:
        path = os.path.join(folder, shard["name"])
        if not os.path.isfile(path):
            raise ShardError(f"{path}: missing")
        if file_sha256(path) != shard["sha256"]:
            raise ShardError(f"{path}: its SHA-256 is not the index's")
        clips = sum(1 for _ in tarfile_samples([{"url": path}]))
        if clips != shard["clips"]:
            raise ShardError(
                f"{path}: {clips} clips, the index says {shard['clips']}"
            )
    return index


def names_shard_folder(shards):
    """True when ``train_shards`` names a folder for the recipe to write
    shards into, False when it names ``.tar`` shards written beforehand.

    Example
    -------
    >>> names_shard_folder("/data/shards"), names_shard_folder(
    ...     "/data/shards/shard-{000000..000009}.tar")
    (True, False)
    """
    return isinstance(shards, str) and ".tar" not in shards


def expand_shards(shards):
    """Paths of a brace pattern (``a/shard-{000000..000009}.tar``), a
    comma-separated list or a list, each checked against its folder's
    ``shards.json``; a folder stands for every shard of its index.

    Returns
    -------
    list of (str, int, float)
        ``(path, clips, weight)`` per shard (weight: the sum of its clips'
        balanced-sampling weights).
    """
    import braceexpand

    if isinstance(shards, str):
        shards = [part for part in shards.split(",") if part]
    paths = []
    for part in shards:
        if os.path.isdir(part):
            names = [shard["name"] for shard in read_index(part)["shards"]]
            paths += [os.path.join(part, name) for name in names]
        else:
            paths += braceexpand.braceexpand(part)
    if not paths:
        raise ShardError("no shards given")
    indexes, listed = {}, []
    for path in paths:
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in indexes:
            indexes[folder] = {
                shard["name"]: (shard["clips"], shard["weight"])
                for shard in read_index(folder)["shards"]
            }
        name = os.path.basename(path)
        if name not in indexes[folder] or not os.path.isfile(path):
            raise ShardError(
                f"{path}: not a finished shard of {folder}/{INDEX_NAME}"
            )
        listed.append((path, *indexes[folder][name]))
    return listed


def shard_contents(shards):
    """``[name, SHA-256]`` of each shard of ``expand_shards``, in order,
    from the indexes: what a run trains on, for its identity (a run
    resumed on other shards, or on shards rewritten, is refused)."""
    indexes, contents = {}, []
    for path, _, _ in shards:
        folder = os.path.dirname(os.path.abspath(path))
        if folder not in indexes:
            indexes[folder] = {
                shard["name"]: shard["sha256"]
                for shard in read_index(folder)["shards"]
            }
        name = os.path.basename(path)
        contents.append([name, indexes[folder][name]])
    return contents


def identity(item):
    """The loader's collate function: batches are made by the dataset."""
    return item


class ShardedClips(torch.utils.data.IterableDataset):
    """Batches of clips read from shards: the same batches, in the same
    order, for the same seed, epoch, process count and worker count.

    Arguments
    ---------
    shards : str or list
        Brace pattern, comma-separated list or list of shard paths.
    label_encoder : CategoricalEncoder
        Maps label names to target indices.
    batch_size : int
        Clips per batch.
    seed : int
        Seeds the shard order, the shuffle buffer and the balanced draws.
    balanced : bool
        Label-balanced draws with replacement (the weights in the shards).
    shuffle_buffer : int
        Clips held to shuffle the stream (0: shard order).
    world_size, rank : int or None
        The process count and this process's rank (None: from
        ``torch.distributed`` when it is initialised, else 1 and 0).

    Example
    -------
    >>> import tempfile
    >>> from speechbrain.dataio.encoder import CategoricalEncoder
    >>> root = tempfile.mkdtemp()
    >>> with open(os.path.join(root, "m.csv"), "w") as handle:
    ...     _ = handle.write("ID,duration,wav,label\\n")
    ...     for n in range(6):
    ...         wav = os.path.join(root, f"{n}.wav")
    ...         soundfile.write(wav, np.zeros(800), 16000)
    ...         _ = handle.write(f"c{n},0.05,{wav},{'ab'[n % 2]}\\n")
    >>> _ = write_shards(os.path.join(root, "m.csv"), root, 2, log=print)
    ... # doctest: +ELLIPSIS
    /.../shard-000000.tar: clips 1-2 of 6
    ...
    >>> labels = CategoricalEncoder()
    >>> labels.update_from_iterable(["a", "b"])
    >>> clips = ShardedClips(
    ...     os.path.join(root, "shard-{000000..000002}.tar"), labels,
    ...     batch_size=2, seed=1, world_size=1, rank=0,
    ... )
    >>> batches = list(clips)
    >>> len(batches), sorted(i for b in batches for i in b.id)
    (3, ['c0', 'c1', 'c2', 'c3', 'c4', 'c5'])
    >>> batches[0].sig.data.shape, batches[0].targets.data.shape
    (torch.Size([2, 800]), torch.Size([2, 2]))
    """

    def __init__(
        self,
        shards,
        label_encoder,
        batch_size,
        seed=0,
        balanced=False,
        shuffle_buffer=1000,
        world_size=None,
        rank=None,
    ):
        super().__init__()
        self.shards = expand_shards(shards)
        self.label_encoder = label_encoder
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self.balanced = bool(balanced)
        self.shuffle_buffer = int(shuffle_buffer)
        if world_size is None:
            world_size, rank = distributed_place()
        self.world_size, self.rank = int(world_size), int(rank)
        self.clips = sum(clips for _, clips, _ in self.shards)
        self.total_weight = sum(weight for _, _, weight in self.shards)
        self.epoch = 0
        self.skip_batches = 0

    def set_epoch(self, epoch):
        """Sets the epoch that seeds the coming pass."""
        self.epoch = int(epoch)

    def __len__(self):
        """Batches each process yields per epoch (every process the same,
        as ``DistributedSampler`` pads: the clips over the processes)."""
        per_process = math.ceil(self.clips / self.world_size)
        return max(1, math.ceil(per_process / self.batch_size))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (
            (0, 1) if info is None else (info.id, info.num_workers)
        )
        slot, slots = self.rank * workers + worker, self.world_size * workers
        # the loader takes batches from its workers in turn
        wanted = len(range(worker, len(self), workers))
        skipped = len(range(worker, self.skip_batches, workers))
        stream = self.slot_samples(slot, slots)
        for number in range(wanted):
            chunk = [next(stream) for _ in range(self.batch_size)]
            if number >= skipped:
                yield self.make_batch(chunk)

    def slot_samples(self, slot, slots):
        """An endless seeded stream of raw samples for one (process,
        worker) slot: its shards, passed over again as needed."""
        from webdataset.tariterators import tarfile_samples

        rng = np.random.default_rng([self.seed, self.epoch, slot])
        order = np.random.default_rng([self.seed, self.epoch]).permutation(
            len(self.shards)
        )
        if len(self.shards) >= slots:
            mine, keep = [self.shards[i] for i in order[slot::slots]], None
        else:  # fewer shards than slots: every slot reads all, keeps its part
            mine, keep = [self.shards[i] for i in order], (slot, slots)
        rate = self.clips / self.total_weight if self.balanced else None
        buffer = []
        seen = 0
        while True:  # each pass: every clip of the slot once (or drawn)
            for index in rng.permutation(len(mine)):
                url = mine[index][0]
                for sample in tarfile_samples([{"url": url}]):
                    seen += 1
                    if keep is not None and (seen - 1) % keep[1] != keep[0]:
                        continue
                    copies = 1
                    if rate is not None:
                        weight = json.loads(sample["json"])["weight"]
                        copies = rng.poisson(weight * rate)
                    for _ in range(copies):
                        if len(buffer) < self.shuffle_buffer:
                            buffer.append(sample)
                            continue
                        place = rng.integers(len(buffer))
                        buffer[place], sample = sample, buffer[place]
                        yield sample
            seen = 0
            rng.shuffle(buffer)
            yield from buffer
            buffer = []

    def make_batch(self, samples):
        """A ``PaddedBatch`` of decoded clips with their targets."""
        items = []
        for sample in samples:
            record = json.loads(sample["json"])
            targets = torch.zeros(len(self.label_encoder))
            for label in record["labels"]:
                if label not in self.label_encoder.lab2ind:
                    raise UnknownLabelError(
                        f"{sample['__url__']}: clip {record['id']} has label "
                        f"{label!r}, not one of the training labels"
                    )
                targets[self.label_encoder.lab2ind[label]] = 1.0
            items.append(
                {
                    "id": record["id"],
                    "sig": decode_flac(sample["flac"]),
                    "targets": targets,
                }
            )
        return PaddedBatch(items)


@register_checkpoint_hooks
class ShardLoader(torch.utils.data.DataLoader):
    """A ``DataLoader`` over ``ShardedClips`` that a SpeechBrain checkpoint
    saves the position of: a run resumed inside an epoch skips the batches
    it had used, before decoding them.

    Arguments
    ---------
    dataset : ShardedClips
        The batches.
    num_workers : int
        Loader processes (each reads its own shards).
    """

    def __init__(self, dataset, num_workers=0):
        super().__init__(
            dataset, batch_size=None, num_workers=num_workers,
            collate_fn=identity,
        )  # fmt: skip
        self.used = 0

    def set_epoch(self, epoch):
        """The Brain calls this before each epoch (its ``train_sampler``)."""
        self.dataset.set_epoch(epoch)

    def __iter__(self):
        self.used = self.dataset.skip_batches
        for batch in super().__iter__():
            self.used += 1
            yield batch
        self.dataset.skip_batches = 0

    @mark_as_saver
    def save(self, path):
        """Stores the batches used in this epoch."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"epoch": self.dataset.epoch, "used": self.used}, handle)

    @mark_as_loader
    def load(self, path, end_of_epoch):
        """Restores the position inside an epoch (none at an epoch's end)."""
        with open(path, encoding="utf-8") as handle:
            state = json.load(handle)
        self.dataset.skip_batches = 0 if end_of_epoch else state["used"]

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

Shards are strangers' files until checked: ``shard_samples`` hashes each
shard once per process, from the open file it then reads, and refuses
(``ShardError``, naming the shard and member) a digest other than the
index's, a member that is not a regular file, larger than
``MAX_MEMBER_BYTES`` or of a name ``write_shards`` does not write, a
record or FLAC that does not decode (``MAX_CLIP_SAMPLES`` bounds a clip),
and a clip count other than the index's; ``read_index`` refuses a
malformed ``shards.json``.

Authors
 * AST-SpeechBrain contributors 2026
"""

import hashlib
import io
import json
import math
import os
import re
import stat
import tarfile

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
# a shard member larger than this is refused before it is read: a 10-s
# clip is about 200 KB of FLAC, an hour of 16-kHz audio about 70 MB
MAX_MEMBER_BYTES = 64 << 20
# a FLAC member declaring more samples than this is refused before they
# are decoded (about 70 minutes at 16 kHz; 256 MiB of float32)
MAX_CLIP_SAMPLES = 64 << 20
# a shards.json larger than this is refused (2,041 shards take 300 KB)
MAX_INDEX_BYTES = 64 << 20
MEMBER_NAME = re.compile(r"^([0-9]+)[.](flac|json)$")
SHARD_NAME = re.compile(r"^[A-Za-z0-9_.-]+[.]tar$")
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


class ShardError(ValueError):
    """A shard folder that is incomplete, changed or of other clips, or a
    shard whose bytes or members are not what ``write_shards`` writes."""


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
    with soundfile.SoundFile(io.BytesIO(data)) as handle:
        if handle.channels != 1 or not 0 < handle.frames <= MAX_CLIP_SAMPLES:
            raise ValueError(
                f"{handle.channels} channels, {handle.frames} samples (a "
                f"shard clip is mono, 1 to {MAX_CLIP_SAMPLES} samples)"
            )
        frames = handle.frames
        samples = handle.read(frames, dtype="float32")
    if len(samples) != frames:
        raise ValueError(
            f"{len(samples)} samples decoded, the header says {frames}"
        )
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
    """The ``shards.json`` of a shard folder; ``ShardError`` naming the
    file and key if it is absent or not an index ``write_shards`` wrote.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, INDEX_NAME), "w").write("[1]")
    >>> read_index(folder)
    Traceback (most recent call last):
    ...
    ast_lobes.training.data.shards.ShardError: .../shards.json: not a ...
    """
    path = os.path.join(folder, INDEX_NAME)
    if not os.path.isfile(path):
        raise ShardError(
            f"{path}: missing; a shard folder is written by write_shards "
            "(python -m ast_lobes.training.data.write_shards)"
        )
    if os.path.getsize(path) > MAX_INDEX_BYTES:
        raise ShardError(f"{path}: larger than {MAX_INDEX_BYTES} bytes")
    try:
        with open(path, encoding="utf-8") as handle:
            index = json.load(handle)
    except (ValueError, RecursionError) as error:
        raise ShardError(f"{path}: not JSON ({error})") from None
    source = index.get("source") if isinstance(index, dict) else None
    if not isinstance(source, dict) or source.get("version") != INDEX_VERSION:
        raise ShardError(f"{path}: not a shard index of this version")
    shards = index.get("shards")
    if not isinstance(shards, list) or not is_count(index.get("clips")):
        raise ShardError(f"{path}: 'clips' and 'shards' are not an index's")
    for number, shard in enumerate(shards):
        problem = shard_entry_problem(shard)
        if problem:
            raise ShardError(f"{path}: shards[{number}]: {problem}")
    return index


def is_count(value):
    """True for a whole number >= 0 (not a bool)."""
    return (
        isinstance(value, int) and not isinstance(value, bool) and (value >= 0)
    )


def shard_entry_problem(shard):
    """What is wrong with one ``shards`` entry of an index, or None.

    Example
    -------
    >>> shard_entry_problem({"name": "../x.tar", "clips": 1, "weight": 1.0,
    ...                      "sha256": "0" * 64})
    "name '../x.tar' is not a shard file name"
    """
    if not isinstance(shard, dict):
        return "not an object"
    name = shard.get("name")
    if (
        not isinstance(name, str)
        or not SHARD_NAME.match(name)
        or (name.startswith("."))
    ):
        return f"name {name!r} is not a shard file name"
    if not is_count(shard.get("clips")):
        return f"clips {shard.get('clips')!r} is not a count"
    weight = shard.get("weight")
    if (
        isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or (not math.isfinite(weight) or weight < 0)
    ):
        return f"weight {weight!r} is not a finite number >= 0"
    digest = shard.get("sha256")
    if not isinstance(digest, str) or not SHA256_HEX.match(digest):
        return f"sha256 {digest!r} is not a SHA-256 in hex"
    return None


# (device, inode, size, mtime) of each shard file this process has hashed,
# with its digest: a shard is hashed once per process
_VERIFIED = {}


def verify_open_shard(handle, path, sha256):
    """Checks that an open shard file's bytes have the index's SHA-256
    (once per file and process), leaving it at its start.

    A shard is hashed from the same open file it is then read from, so
    the bytes checked are the bytes used.
    """
    info = os.fstat(handle.fileno())
    if not stat.S_ISREG(info.st_mode):
        raise ShardError(f"{path}: not a regular file")
    key = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    if _VERIFIED.get(key) != sha256:
        digest = hashlib.sha256()
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
        if digest.hexdigest() != sha256:
            raise ShardError(
                f"{path}: its SHA-256 is not the index's (changed or "
                "corrupt); write it again or run write_shards --check"
            )
        _VERIFIED[key] = sha256
        handle.seek(0)


def shard_samples(path, sha256, clips=None):
    """The samples of one shard (``__key__``, ``__url__``, ``flac`` and
    ``json`` bytes each), in order, after its SHA-256 is checked against
    ``sha256``; ``ShardError`` naming the shard and member for a member
    that is not a regular file, is larger than ``MAX_MEMBER_BYTES``, has
    a name ``write_shards`` does not write, or a JSON record that does not
    decode, and for a clip count other than ``clips`` (if given).

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "shard-000000.tar")
    >>> with tarfile.open(path, "w") as archive:
    ...     member = tarfile.TarInfo("000000000.json")
    ...     member.type = tarfile.SYMTYPE
    ...     member.linkname = "/etc/passwd"
    ...     archive.addfile(member)
    >>> list(shard_samples(path, file_sha256(path)))
    Traceback (most recent call last):
    ...
    ast_lobes.training.data.shards.ShardError: .../shard-000000.tar: member ...
    """
    try:
        handle = open(path, "rb")
    except OSError as error:
        raise ShardError(f"{path}: unreadable ({error})") from None
    with handle:
        verify_open_shard(handle, path, sha256)
        try:
            archive = tarfile.open(fileobj=handle, mode="r|")
        except tarfile.TarError as error:
            raise ShardError(f"{path}: not a tar file ({error})") from None
        count, sample = 0, None
        try:
            for member in archive:
                where = f"{path}: member {member.name!r}"
                if not member.isreg():
                    raise ShardError(f"{where}: not a regular file")
                if member.size > MAX_MEMBER_BYTES:
                    raise ShardError(
                        f"{where}: {member.size} bytes, more than a shard "
                        f"member may hold ({MAX_MEMBER_BYTES})"
                    )
                match = MEMBER_NAME.match(member.name)
                if not match:
                    raise ShardError(
                        f"{where}: not a clip's .flac or .json member"
                    )
                key, extension = match.groups()
                if sample is None or key != sample["__key__"]:
                    if sample is not None:
                        count += 1
                        yield checked_sample(sample, path)
                    sample = {"__key__": key, "__url__": path}
                if extension in sample:
                    raise ShardError(f"{where}: twice in the shard")
                sample[extension] = archive.extractfile(member).read()
        except tarfile.TarError as error:
            raise ShardError(f"{path}: corrupt tar ({error})") from None
        if sample is not None:
            count += 1
            yield checked_sample(sample, path)
    if clips is not None and count != clips:
        raise ShardError(f"{path}: {count} clips, the index says {clips}")


def checked_sample(sample, path):
    """``sample`` if it has a FLAC member and a JSON record of a clip."""
    key = sample["__key__"]
    where = f"{path}: member {key + '.json'!r}"
    if "flac" not in sample or "json" not in sample:
        raise ShardError(
            f"{path}: member {key!r}: a clip needs a .flac and a .json member"
        )
    try:
        record = json.loads(sample["json"])
    except (ValueError, RecursionError) as error:
        raise ShardError(f"{where}: not JSON ({error})") from None
    if not isinstance(record, dict):
        record = {}
    labels, weight = record.get("labels"), record.get("weight")
    if (
        not isinstance(record.get("id"), str)
        or not isinstance(labels, list)
        or not all(isinstance(label, str) for label in labels)
        or isinstance(weight, bool)
        or not isinstance(weight, (int, float))
        or not math.isfinite(weight)
        or weight < 0
    ):
        raise ShardError(
            f"{where}: not a clip record (id: text, labels: list of "
            "text, weight: finite number >= 0)"
        )
    return sample


def check_shards(folder):
    """Checks every shard of the index: present, its SHA-256 and its clip
    count; raises ``ShardError`` naming the first bad one.

    Returns
    -------
    dict
        The index.
    """
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
        for sample in shard_samples(path, shard["sha256"], shard["clips"]):
            decoded_clip(sample, header_only=True)
    return index


def decoded_clip(sample, header_only=False):
    """A sample's FLAC member as a float32 tensor ``[samples]`` (with
    ``header_only``, only its header is read); ``ShardError`` naming the
    shard and member if it does not decode or declares more than
    ``MAX_CLIP_SAMPLES`` samples."""
    try:
        if header_only:
            with soundfile.SoundFile(io.BytesIO(sample["flac"])) as handle:
                if handle.channels != 1 or not (
                    0 < handle.frames <= MAX_CLIP_SAMPLES
                ):
                    raise ValueError(
                        f"{handle.channels} channels, {handle.frames} samples"
                    )
            return None
        return decode_flac(sample["flac"])
    except (ValueError, RuntimeError) as error:
        raise ShardError(
            f"{sample['__url__']}: member {sample['__key__'] + '.flac'!r}: "
            f"not a clip's FLAC ({error})"
        ) from None


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
        shards = split_outside_braces(shards)
    paths = []
    for part in shards:
        if os.path.isdir(part):
            names = [shard["name"] for shard in read_index(part)["shards"]]
            paths += [os.path.join(part, name) for name in names]
            continue
        try:
            paths += braceexpand.braceexpand(part)
        except braceexpand.UnbalancedBracesError:
            raise ShardError(
                f"train_shards {part}: unbalanced braces (a pattern is "
                "shard-{000000..000009}.tar)"
            ) from None
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
        if name not in indexes[folder]:
            raise ShardError(
                f"{path}: not a finished shard of {folder}/{INDEX_NAME}"
            )
        if not os.path.isfile(path):
            raise ShardError(
                f"{path}: missing (listed in {folder}/{INDEX_NAME}; check "
                f"the folder: write_shards - {folder} --check)"
            )
        listed.append((path, *indexes[folder][name]))
    return listed


def split_outside_braces(text):
    """A comma-separated list of paths and brace patterns, split at the
    commas outside braces.

    Example
    -------
    >>> split_outside_braces("a-{0,2}.tar,b.tar")
    ['a-{0,2}.tar', 'b.tar']
    """
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return [part for part in parts if part]


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


def worker_message(error):
    """The one-line message of an error a loader worker raised (torch
    puts the worker's traceback before it).

    Example
    -------
    >>> worker_message(ShardError(
    ...     "Caught ShardError in DataLoader worker process 0.\\n"
    ...     "Original Traceback...\\nShardError: a.tar: bad\\n"))
    'a.tar: bad'
    """
    text = str(error)
    if "Original Traceback" not in text:
        return text
    last = text.strip().splitlines()[-1]
    return last.split(f"{type(error).__name__}: ", 1)[-1]


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
        self.digests = [digest for _, digest in shard_contents(self.shards)]
        self.clips = sum(clips for _, clips, _ in self.shards)
        self.total_weight = sum(weight for _, _, weight in self.shards)
        if self.balanced and not self.total_weight > 0:
            raise ShardError(
                f"{self.shards[0][0]}...: balanced draws need clip weights; "
                "the indexes give these shards none"
            )
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
        worker) slot: its shards, passed over again as needed, each
        checked against its index (``shard_samples``)."""
        rng = np.random.default_rng([self.seed, self.epoch, slot])
        order = np.random.default_rng([self.seed, self.epoch]).permutation(
            len(self.shards)
        )
        if len(self.shards) >= slots:
            mine, keep = order[slot::slots], None
        else:  # fewer shards than slots: every slot reads all, keeps its part
            mine, keep = order, (slot, slots)
        rate = self.clips / self.total_weight if self.balanced else None
        buffer = []
        seen = 0
        while True:  # each pass: every clip of the slot once (or drawn)
            for index in rng.permutation(len(mine)):
                path, clips, _ = self.shards[mine[index]]
                digest = self.digests[mine[index]]
                for sample in shard_samples(path, digest, clips):
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
                        if buffer:  # (shuffle_buffer 0: shard order)
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
                    "sig": decoded_clip(sample),
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
        batches = super().__iter__()
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                break
            except (ShardError, UnknownLabelError) as error:
                # from a worker, torch puts its traceback in the message
                raise type(error)(worker_message(error)) from None
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

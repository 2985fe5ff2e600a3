"""Writing recipe manifests and remembering which preparations are done,
with what their data held: a table's bytes, a folder's listing, and the
audio files' bytes (``source_digest``, ``manifests_audio``), so that a
preparation is reused only for the same data.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import hashlib
import json
import os

from ast_lobes.training.data.shards import file_sha256

OPTIONS_FILE = "prepare_options.json"
DIGESTS_FILE = "audio_digests.json"


def write_manifest(path, rows):
    """Writes ``rows`` (dicts with the same keys) as a CSV manifest.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "train.csv")
    >>> write_manifest(path, [{"ID": "a", "duration": "1.0", "wav": "a.wav"}])
    >>> open(path).read().splitlines()
    ['ID,duration,wav', 'a,1.0,a.wav']
    """
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    partial = f"{path}.{os.getpid()}.part"
    with open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)


def already_prepared(save_folder, options, audio_of=None):
    """True if ``save_folder`` was prepared with exactly ``options`` (and,
    with ``audio_of``, the manifests of those splits list audio files
    that hold what they held then, ``manifests_audio``, and the files it
    skipped are as they were).

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> already_prepared(folder, {"fold": 1})
    False
    >>> mark_prepared(folder, {"fold": 1})
    >>> already_prepared(folder, {"fold": 1}), already_prepared(folder, {})
    (True, False)
    """
    path = os.path.join(save_folder, OPTIONS_FILE)
    if not os.path.isfile(path):
        return False
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
    except ValueError:  # damaged: prepared again
        return False
    if not isinstance(stored, dict):
        return False
    audio, skipped = stored.pop("audio", None), stored.pop("skipped", {})
    if stored != options or (audio_of is None) != (audio is None):
        return False
    if audio_of is None:
        return True
    record = os.path.join(save_folder, DIGESTS_FILE)
    try:
        return audio == manifests_audio(save_folder, audio_of) and (
            skipped == audio_digests(list(skipped), record)
        )
    except (OSError, KeyError, csv.Error):  # a listed file is gone
        return False


def forget_preparation(save_folder):
    """Removes the record of an earlier preparation of ``save_folder`` and
    what was derived from its manifests (``label_encoder.txt``, built
    from the training manifest where it is absent), before its manifests
    are written again: other data keep no labels of the old.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> mark_prepared(folder, {"fold": 1})
    >>> _ = open(os.path.join(folder, "label_encoder.txt"), "w").close()
    >>> forget_preparation(folder)
    >>> sorted(os.listdir(folder))
    []
    """
    for name in (OPTIONS_FILE, "label_encoder.txt"):
        path = os.path.join(save_folder, name)
        if os.path.isfile(path):
            os.remove(path)


def mark_prepared(save_folder, options, audio_of=None, skipped=()):
    """Records that ``save_folder`` holds manifests made with ``options``
    (with ``audio_of``, from the audio its manifests of those splits
    list, as it is now, and the files it ``skipped`` as they are now: a
    file repaired since is prepared again)."""
    os.makedirs(save_folder, exist_ok=True)
    if audio_of is not None:
        record = os.path.join(save_folder, DIGESTS_FILE)
        options = {
            **options,
            "audio": manifests_audio(save_folder, audio_of),
            "skipped": audio_digests(sorted(set(skipped)), record),
        }
    path = os.path.join(save_folder, OPTIONS_FILE)
    partial = f"{path}.{os.getpid()}.part"  # a killed run leaves no half
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(options, handle)
    os.replace(partial, path)


def value_digest(value):
    """SHA-256 of a JSON-able value (the first 16 hex digits)."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def source_digest(data):
    """What a preparation reads before the audio: a table's bytes (each
    table's, for ``{split: table}``), or a folder's listing (the path of
    every file below its subfolders and beside them, hidden ones left
    out, as ``scan_class_folders`` walks it). None for a path that does
    not exist (the preparation names it).

    Example
    -------
    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> os.makedirs(os.path.join(root, "dog"))
    >>> before = source_digest(root)
    >>> _ = open(os.path.join(root, "dog", "a.wav"), "w").close()
    >>> source_digest(root) == before
    False
    """
    if isinstance(data, dict):
        return {split: source_digest(path) for split, path in data.items()}
    if os.path.isfile(data):
        return file_sha256(data)[:16]
    if not os.path.isdir(data):
        return None
    names = []
    for entry in sorted(os.listdir(data)):
        path = os.path.join(data, entry)
        if entry.startswith("."):
            continue
        names.append(entry)
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = sorted(s for s in subfolders if s[0] != ".")
            names += sorted(
                os.path.relpath(os.path.join(folder, name), data)
                for name in files
                if name[0] != "."
            )
    return value_digest(names)


def audio_digests(paths, record=None):
    """``{path: SHA-256 of its bytes (16 hex digits)}``. With
    ``record`` (a JSON file), each digest is kept there with the file's
    size, modification and change times and inode, and read back for a
    file whose four are unchanged (a file rewritten or replaced changes
    its change time), so that a second run reads no file again.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "a.wav")
    >>> _ = open(path, "wb").write(b"RIFF")
    >>> record = os.path.join(folder, "digests.json")
    >>> audio_digests([path], record)[path]
    'a40ff3d5900fb769'
    >>> _ = open(path, "wb").write(b"RIFX")
    >>> audio_digests([path], record)[path] == 'a40ff3d5900fb769'
    False
    """
    kept = {}
    if record is not None and os.path.isfile(record):
        try:
            with open(record, encoding="utf-8") as handle:
                kept = json.load(handle)
        except (OSError, ValueError):
            kept = {}
        if not isinstance(kept, dict):  # not a record of this function's
            kept = {}
    digests, changed = {}, False
    for path in paths:
        info = os.stat(path)
        state = [info.st_size, info.st_mtime_ns, info.st_ctime_ns,
                 info.st_ino]  # fmt: skip
        old = kept.get(path)
        if isinstance(old, list) and len(old) == 5 and old[:4] == state:
            digests[path] = old[4]
            continue
        digests[path] = file_sha256(path)[:16]
        kept[path] = [*state, digests[path]]
        changed = True
    if record is not None and changed:
        partial = f"{record}.{os.getpid()}.part"
        with open(partial, "w", encoding="utf-8") as handle:
            json.dump(kept, handle)
        os.replace(partial, record)
    return digests


def clip_digests(manifest):
    """``{clip id: digest of its audio file's bytes}`` of a manifest
    (``ID`` and ``wav`` columns; ``audio_digests``, recorded beside it):
    a clip whose file changes at the same path gets another digest.

    Example
    -------
    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> _ = open(os.path.join(folder, "a.wav"), "wb").write(b"RIFF")
    >>> path = os.path.join(folder, "train.csv")
    >>> _ = open(path, "w").write(f"ID,wav\\na,{folder}/a.wav\\n")
    >>> clip_digests(path)
    {'a': 'a40ff3d5900fb769'}
    """
    with open(manifest, newline="", encoding="utf-8") as handle:
        rows = [(row["ID"], row["wav"]) for row in csv.DictReader(handle)]
    record = os.path.join(os.path.dirname(manifest), DIGESTS_FILE)
    digests = audio_digests([path for _, path in rows], record)
    return {clip: digests[path] for clip, path in rows}


def manifests_audio(save_folder, splits=("train", "valid", "test")):
    """``{split: digest}`` of what the audio files of ``save_folder``'s
    manifests (``<split>.csv``, columns ``ID`` and ``wav``) hold: each
    clip's ID and file bytes (``clip_digests``). A file replaced at the
    same path changes its split's digest.
    """
    return {
        split: value_digest(
            clip_digests(os.path.join(save_folder, f"{split}.csv"))
        )
        for split in splits
    }

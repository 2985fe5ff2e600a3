"""A preparation of AudioFolder data is reused only for the same data:
an edited table, a file added to a class folder or an audio file replaced
at the same path is prepared again (its manifests, labels and statistics
from the data as they are), and a run's identity holds the audio files'
bytes, so that a checkpoint made from other audio is refused."""

import csv
import json
import os
import shutil
import sys

import numpy as np
import soundfile

from ast_lobes.training.data.manifest import manifests_audio
from ast_lobes.training.run_fingerprint import identity_differences

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def prepare(data, save_folder):
    sys.path.insert(0, os.path.join(ROOT, "recipes", "AudioFolder"))
    from audiofolder_prepare import prepare_audio_folder

    return prepare_audio_folder(str(data), str(save_folder), seed=3)


def tone(path, freq, seconds=0.5):
    t = np.arange(round(seconds * 16000)) / 16000
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, 0.3 * np.sin(2 * np.pi * freq * t), 16000,
                    subtype="PCM_16")  # fmt: skip


def labels_in(save_folder):
    found = set()
    for split in ("train", "valid", "test"):
        with open(os.path.join(save_folder, f"{split}.csv"), newline="") as f:
            found |= {row["label"] for row in csv.DictReader(f)}
    return found


def write_table(path, rows):
    with open(path, "w", newline="") as handle:
        handle.write("path,label\n")
        handle.writelines(f"{clip},{label}\n" for clip, label in rows)


def test_an_edited_table_is_prepared_again_with_its_labels(tmp_path):
    rows = []
    for label, freq in (("low", 300), ("mid", 1200), ("high", 4000)):
        for index in range(5):
            tone(tmp_path / label / f"{label}{index}.wav", freq + 20 * index)
            rows.append((f"{label}/{label}{index}.wav", label))
    table, save = tmp_path / "clips.csv", tmp_path / "save"
    write_table(table, rows)
    first = prepare(table, save)
    assert first["labels"] == ["high", "low", "mid"]
    (save / "label_encoder.txt").write_text("'low' => 0\n")  # a run's
    options = (save / "prepare_options.json").stat().st_mtime_ns
    assert prepare(table, save) == first  # the same table: reused
    assert (save / "prepare_options.json").stat().st_mtime_ns == options
    # the class 'high' relabelled 'top' in the table, nothing else
    write_table(table, [(p, "top" if lab == "high" else lab)
                        for p, lab in rows])  # fmt: skip
    again = prepare(table, save)
    assert again["labels"] == ["low", "mid", "top"]
    assert labels_in(save) == {"low", "mid", "top"}
    assert not (save / "label_encoder.txt").exists()  # the old labels'


def test_a_replaced_audio_file_or_a_new_one_is_prepared_again(tmp_path):
    data, save = tmp_path / "sounds", tmp_path / "save"
    for label, freq in (("low", 300), ("mid", 1200), ("high", 4000)):
        for index in range(5):
            tone(data / label / f"{label}{index}.wav", freq + 20 * index)
    first = prepare(data, save)
    # every file of 'low' replaced by a high tone of the same length
    for index in range(5):
        path = data / "low" / f"low{index}.wav"
        shutil.copy(data / "high" / f"high{index}.wav", path)
    again = prepare(data, save)
    assert again["norm_mean"] != first["norm_mean"]  # statistics anew
    assert prepare(data, save) == again  # unchanged since: reused
    audio = manifests_audio(str(save))
    for index in range(5):  # the low tones back, each split's digest moves
        tone(data / "low" / f"low{index}.wav", 300 + 20 * index)
    changed = manifests_audio(str(save))
    moved = {split for split in audio if audio[split] != changed[split]}
    assert moved == {"train", "valid", "test"}
    tone(data / "mid" / "mid9.wav", 1300)  # a new clip
    prepare(data, save)
    ids = []
    for split in ("train", "valid", "test"):
        with open(save / f"{split}.csv", newline="") as handle:
            ids += [row["ID"] for row in csv.DictReader(handle)]
    assert "mid9" in ids and len(ids) == 16


def test_other_audio_is_a_difference_unless_the_checkpoint_stored_none():
    settings = {"fold": None, "labels": "x"}
    splits = {"train": "1", "valid": "2"}
    current = {"splits": splits, "settings": settings,
               "audio": {"train": "a", "valid": "b"}}  # fmt: skip
    stored = {**current, "audio": {"train": "c", "valid": "b"}}
    assert identity_differences(stored, current) == [
        "the train split's audio files"
    ]
    older = {"splits": splits, "settings": settings}  # before audio
    assert identity_differences(older, current) == []


def test_a_damaged_digest_record_is_computed_again(tmp_path):
    """The record's digests are read back only as written: a damaged one
    (not JSON, another shape, a short entry) gives the SHA-256 of the
    bytes, as hashlib computes it."""
    import hashlib

    from ast_lobes.training.data.manifest import audio_digests

    path, record = tmp_path / "a.wav", tmp_path / "record.json"
    path.write_bytes(b"RIFF....WAVE")
    expected = hashlib.sha256(b"RIFF....WAVE").hexdigest()[:16]
    info = os.stat(path)
    state = [info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_ino]
    for junk in ("[1, 2]", "nul", f'{{"{path}": 5}}',
                 f'{{"{path}": {state}}}'):  # fmt: skip
        record.write_text(junk)
        assert audio_digests([str(path)], str(record)) == {str(path): expected}


def test_a_skipped_file_repaired_since_is_prepared_again(tmp_path):
    """skip_bad_files: a corrupt file is skipped; once it is a WAV, the
    next preparation takes it (it stayed skipped, as reused)."""
    sys.path.insert(0, os.path.join(ROOT, "recipes", "AudioFolder"))
    from audiofolder_prepare import prepare_audio_folder

    data, save = tmp_path / "sounds", tmp_path / "save"
    for label, freq in (("low", 300), ("mid", 1200), ("high", 4000)):
        for index in range(5):
            tone(data / label / f"{label}{index}.wav", freq + 20 * index)
    bad = data / "low" / "low9.wav"
    bad.write_bytes(b"RIFF, not a WAV")
    first = prepare_audio_folder(str(data), str(save), seed=3,
                                 skip_bad_files=True)  # fmt: skip
    assert (first["skipped"], sum(first["clips"].values())) == (1, 15)
    tone(bad, 310)
    again = prepare_audio_folder(str(data), str(save), seed=3,
                                 skip_bad_files=True)  # fmt: skip
    assert (again["skipped"], sum(again["clips"].values())) == (0, 16)


def test_a_damaged_record_of_the_preparation_prepares_again(tmp_path):
    """A prepare_options.json cut short (a run killed while writing it)
    is not a preparation: the data are prepared again."""
    data, save = tmp_path / "sounds", tmp_path / "save"
    for label, freq in (("low", 300), ("mid", 1200), ("high", 4000)):
        for index in range(5):
            tone(data / label / f"{label}{index}.wav", freq + 20 * index)
    first = prepare(data, save)
    record = save / "prepare_options.json"
    record.write_text(record.read_text()[:20])
    assert prepare(data, save) == first
    assert json.loads(record.read_text())["data"] == str(data)

"""Files a stranger hands the project: one clip named two ways is one
clip, file names that are not UTF-8 are data, and one output has one
writer."""

import os
import sys

import numpy as np
import pytest
import soundfile

from ast_lobes.training.data.labelled_audio import (
    DataError,
    read_label_table,
    scan_class_folders,
)

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
sys.path.insert(0, os.path.join(ROOT, "tests", "helpers"))


def write_wav(path, seconds=0.2, rate=16000):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, np.zeros(round(seconds * rate), np.float32), rate)


def write_table(path, rows):
    path.write_text("\n".join(["path,label"] + rows) + "\n")
    return path


@pytest.mark.parametrize(
    "second",
    ["./clips/a.wav", "clips//a.wav", "clips/sub/../a.wav", "linked/a.wav"],
)
def test_a_table_naming_one_clip_two_ways_is_refused(tmp_path, second):
    write_wav(str(tmp_path / "clips" / "a.wav"))
    write_wav(str(tmp_path / "clips" / "b.wav"))
    (tmp_path / "clips" / "sub").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "clips")
    table = write_table(
        tmp_path / "t.csv",
        ["clips/a.wav,dog", "clips/b.wav,cat", f"{second},dog"],
    )
    with pytest.raises(DataError) as error:
        read_label_table(str(table))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"{table}: 1 paths listed more than once")
    assert ": clips/a.wav (line 2) = " in message
    assert f"{second} (line 4)" in message


def test_separate_tables_naming_one_clip_are_refused(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "recipes", "AudioFolder"))
    from audiofolder_prepare import read_clips

    for name in "abcd":
        write_wav(str(tmp_path / "clips" / f"{name}.wav"))
    train = write_table(
        tmp_path / "train.csv", ["clips/a.wav,dog", "clips/b.wav,cat"]
    )
    test = write_table(
        tmp_path / "test.csv", ["./clips/a.wav,dog", "clips/c.wav,cat"]
    )
    with pytest.raises(DataError) as error:
        read_clips({"train": str(train), "test": str(test)}, {})
    message = str(error.value)
    assert "\n" not in message
    assert "listed in more than one table" in message
    assert str(train) in message and str(test) in message


def test_a_class_folder_linking_another_is_refused(tmp_path):
    for name in ("dog/a.wav", "dog/b.wav", "cat/c.wav"):
        write_wav(str(tmp_path / "data" / name))
    (tmp_path / "data" / "cat" / "a.wav").symlink_to(
        tmp_path / "data" / "dog" / "a.wav"
    )
    with pytest.raises(DataError) as error:
        scan_class_folders(str(tmp_path / "data"))
    message = str(error.value)
    assert "1 files found more than once" in message
    assert "cat/a.wav" in message and "dog/a.wav" in message

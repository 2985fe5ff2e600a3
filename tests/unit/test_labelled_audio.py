"""Reading the user's labelled audio: layouts, splits, folds and every bad
input named in the error."""

import os
from collections import Counter

import numpy as np
import pytest
import soundfile

from ast_lobes.training.data.labelled_audio import (
    DataError,
    check_audio,
    is_multi_label,
    read_label_table,
    scan_class_folders,
)
from ast_lobes.training.data.splits import assign_folds, assign_splits


def write_wav(path, seconds=0.5, rate=16000, channels=1):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    audio = np.zeros((round(seconds * rate), channels), dtype=np.float32)
    soundfile.write(path, audio.squeeze(), rate)


def class_folder(root, counts):
    for label, count in counts.items():
        for index in range(count):
            write_wav(root / label / f"{label}{index}.wav")
    return root


def write_table(path, header, rows, delimiter=","):
    lines = [delimiter.join(header)] + [delimiter.join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_empty_folder_and_empty_class_are_named(tmp_path):
    with pytest.raises(DataError, match="no class folders with audio"):
        scan_class_folders(str(tmp_path))
    class_folder(tmp_path, {"dog": 2})
    (tmp_path / "cat").mkdir()
    with pytest.raises(DataError, match="class folders without audio: cat"):
        scan_class_folders(str(tmp_path))
    with pytest.raises(DataError, match="nowhere: no such data folder"):
        scan_class_folders(str(tmp_path / "nowhere"))


def test_non_audio_files_are_listed_or_skipped_and_reported(tmp_path):
    class_folder(tmp_path, {"dog": 2, "cat": 2})
    (tmp_path / "dog" / "notes.txt").write_text("x")
    (tmp_path / "cat" / "cover.jpg").write_text("x")
    (tmp_path / "readme.md").write_text("x")
    (tmp_path / ".DS_Store").write_text("x")  # hidden: ignored
    with pytest.raises(DataError, match="1 files outside the class folders"):
        scan_class_folders(str(tmp_path))
    (tmp_path / "readme.md").unlink()
    with pytest.raises(
        DataError, match=r"2 files that are not audio .*cover.jpg, .*notes.txt"
    ):
        scan_class_folders(str(tmp_path))
    clips, skipped = scan_class_folders(str(tmp_path), skip_other=True)
    assert Counter(c.labels[0] for c in clips) == {"dog": 2, "cat": 2}
    assert sorted(os.path.basename(p) for p, _ in skipped) == [
        "cover.jpg", "notes.txt"
    ]  # fmt: skip


def test_bad_audio_is_listed_or_skipped_and_rates_counted(tmp_path):
    class_folder(tmp_path, {"dog": 2})
    write_wav(str(tmp_path / "dog" / "stereo44k.wav"), 0.5, 44100, 2)
    write_wav(str(tmp_path / "dog" / "cut.wav"), 5.0)
    cut = tmp_path / "dog" / "cut.wav"
    cut.write_bytes(cut.read_bytes()[:2000])  # header promises 5 s
    soundfile.write(tmp_path / "dog" / "empty.wav", np.zeros(0), 16000)
    (tmp_path / "dog" / "corrupt.wav").write_bytes(b"RIFF\x00garbage")
    clips, _ = scan_class_folders(str(tmp_path))
    with pytest.raises(DataError) as error:
        check_audio(clips)
    message = str(error.value)
    assert message.startswith("3 unreadable audio files")
    for part in ("corrupt.wav: unreadable or corrupt",
                 "cut.wav: truncated: the header promises 5.00 s",
                 "empty.wav: the audio file holds no samples"):  # fmt: skip
        assert part in message
    good, report = check_audio(clips, skip_bad=True)
    assert len(good) == 3 and len(report.skipped) == 3
    assert report.sample_rates == {16000: 2, 44100: 1}
    assert report.channels == {1: 2, 2: 1}
    assert "sample rates: 16000 Hz x2, 44100 Hz x1" in report.lines()
    assert good[0].duration == 0.5


def test_table_errors_name_the_column_line_and_path(tmp_path):
    write_wav(str(tmp_path / "a.wav"))
    write_wav(str(tmp_path / "b.wav"))
    table = write_table(tmp_path / "t.csv", ["file", "tags"], [["a.wav", "x"]])
    with pytest.raises(DataError, match="no column 'path'; the columns are "
                                        "file, tags"):  # fmt: skip
        read_label_table(str(table))
    clips = read_label_table(str(table), "file", "tags")
    assert clips[0].labels == ("x",)
    cases = {
        "empty label cells at line 3": [["a.wav", "x"], ["b.wav", " "]],
        "1 missing files: .*gone.wav": [["a.wav", "x"], ["gone.wav", "y"]],
        "1 paths listed more than once: .*a.wav": [["a.wav", "x"],
                                                   ["a.wav", "y"]],
        "the table has no rows": [],
    }  # fmt: skip
    for message, rows in cases.items():
        write_table(table, ["path", "label"], rows)
        with pytest.raises(DataError, match=message):
            read_label_table(str(table))
    rows = [["a.wav", "x", "train"], ["b.wav", "x", "dev"]]
    tsv = write_table(
        tmp_path / "t.tsv", ["path", "label", "split"], rows, "\t"
    )
    with pytest.raises(DataError, match="'split' holds dev; expected train"):
        read_label_table(str(tsv), split_column="split")


def test_multi_label_cells_are_detected(tmp_path):
    write_wav(str(tmp_path / "a.wav"))
    write_wav(str(tmp_path / "b.wav"))
    table = write_table(tmp_path / "t.csv", ["path", "label"],
                        [["a.wav", "dog"], ["b.wav", "dog; bark"]])  # fmt: skip
    clips = read_label_table(str(table))
    assert [c.labels for c in clips] == [("dog",), ("dog", "bark")]
    assert is_multi_label(clips) and not is_multi_label(clips[:1])


def clips_of(counts, groups_per_label=None):
    from ast_lobes.training.data.labelled_audio import Clip

    clips = []
    for label, count in counts.items():
        for index in range(count):
            group = None
            if groups_per_label:
                group = f"{label}-speaker{index % groups_per_label}"
            clips.append(Clip(f"{label}{index}.wav", (label,), group=group))
    return clips


def test_splits_are_stratified_seeded_and_keep_groups_apart():
    clips = assign_splits(clips_of({"a": 40, "b": 20}, 10), 0.2, 0.2, seed=3)
    per_split = Counter((c.split, c.labels[0]) for c in clips)
    for split, share in (("train", 0.6), ("valid", 0.2), ("test", 0.2)):
        assert per_split[split, "a"] == pytest.approx(40 * share, abs=4)
        assert per_split[split, "b"] == pytest.approx(20 * share, abs=2)
    splits_of_group = {}
    for clip in clips:
        splits_of_group.setdefault(clip.group, set()).add(clip.split)
    assert all(len(s) == 1 for s in splits_of_group.values())
    again = assign_splits(clips_of({"a": 40, "b": 20}, 10), 0.2, 0.2, seed=3)
    assert [c.split for c in again] == [c.split for c in clips]


def test_too_few_clips_and_unseen_classes_are_refused():
    with pytest.raises(DataError, match=r"fewer than 3 clips.*: rare \(2\)"):
        assign_splits(clips_of({"a": 10, "rare": 2}))
    clips = clips_of({"a": 4, "b": 1})
    for clip, split in zip(clips, ["train", "train", "valid", "test", "test"],
                           strict=True):  # fmt: skip
        clip.split = split
    with pytest.raises(DataError, match="only in valid or test.*: b"):
        assign_splits(clips)


def test_folds_cover_every_clip_once_with_groups_inside_one_fold():
    clips = assign_folds(clips_of({"a": 30, "b": 15}, 5), n_folds=5, seed=1)
    assert Counter(c.fold for c in clips) == {str(f): 9 for f in range(1, 6)}
    folds_of_group = {}
    for clip in clips:
        folds_of_group.setdefault(clip.group, set()).add(clip.fold)
    assert all(len(f) == 1 for f in folds_of_group.values())
    with pytest.raises(DataError, match=r"fewer than 2 clips.*: once \(1\)"):
        assign_folds(clips_of({"a": 10, "once": 1}), n_folds=5)

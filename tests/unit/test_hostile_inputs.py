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


def test_one_table_given_for_two_splits_is_refused(tmp_path):
    sys.path.insert(0, os.path.join(ROOT, "recipes", "AudioFolder"))
    from audiofolder_prepare import read_clips

    for name in "abc":
        write_wav(str(tmp_path / "clips" / f"{name}.wav"))
    train = write_table(tmp_path / "train.csv", ["clips/a.wav,dog"])
    held = write_table(
        tmp_path / "held.csv", ["clips/b.wav,dog", "clips/c.wav,cat"]
    )
    tables = {"train": str(train), "valid": str(held), "test": str(held)}
    with pytest.raises(DataError) as error:
        read_clips(tables, {})
    message = str(error.value)
    assert "2 files listed in more than one table" in message
    assert f"{held} (valid)" in message and f"{held} (test)" in message


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


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    from tagger_models import export_tagger, small_tagger

    folder = tmp_path_factory.mktemp("model") / "m"
    return str(export_tagger(small_tagger(target_length=100), folder))


def odd_named_clips(folder):
    """Two clips with UTF-8 names and one whose name is not UTF-8."""
    folder.mkdir()
    write_wav(str(folder / "a.wav"))
    write_wav(str(folder / "b.wav"))
    write_wav(str(folder / "c.wav"))
    odd = os.path.join(os.fsencode(folder), b"caf\xe9.wav")
    os.rename(os.path.join(os.fsencode(folder), b"c.wav"), odd)
    return odd


def tagged_names(output):
    """The bytes of the file names an output records."""
    import csv
    import json

    with open(output, encoding="utf-8", errors="surrogateescape") as handle:
        if output.endswith(".csv"):
            names = [row["file"] for row in csv.DictReader(handle)]
        else:
            names = [json.loads(line)["file"] for line in handle]
    return sorted(os.path.basename(os.fsencode(name)) for name in names)


def counting_scores(monkeypatch):
    from pretrained_interfaces import AudioTagger

    scored = []
    score_windows = AudioTagger.score_windows
    monkeypatch.setattr(
        AudioTagger,
        "score_windows",
        lambda self, w, pad=True: (
            scored.extend(w) or score_windows(self, w, pad)
        ),
    )
    return scored


@pytest.mark.parametrize("extension", [".csv", ".jsonl"])
def test_a_file_name_that_is_not_utf8_is_written_and_resumed(
    tmp_path, model_folder, monkeypatch, capsys, extension
):
    from pretrained_interfaces.tag_cli import main as ast_tag

    odd_named_clips(tmp_path / "clips")
    output = str(tmp_path / f"tags{extension}")
    command = [str(tmp_path / "clips"), "--model", model_folder,
               "--output", output, "--workers", "0"]  # fmt: skip
    scored = counting_scores(monkeypatch)
    assert ast_tag(command) == 0
    assert tagged_names(output) == [b"a.wav", b"b.wav", b"caf\xe9.wav"]
    assert len(scored) == 3
    assert ast_tag(command) == 0  # resumed: nothing tagged again
    assert "3 of 3 files are already in" in capsys.readouterr().err
    assert len(scored) == 3
    assert len(tagged_names(output)) == 3


def test_resuming_from_elsewhere_or_through_a_link_tags_nothing_again(
    tmp_path, model_folder, monkeypatch, capsys
):
    from pretrained_interfaces.tag_cli import main as ast_tag

    (tmp_path / "data").mkdir()
    for name in ("a.wav", "b.wav"):
        write_wav(str(tmp_path / "data" / "clips" / name))
    (tmp_path / "linked").symlink_to(tmp_path / "data")
    output = str(tmp_path / "tags.csv")
    options = ["--model", model_folder, "--output", output, "--workers", "0"]
    scored = counting_scores(monkeypatch)
    monkeypatch.chdir(tmp_path / "data")
    assert ast_tag(["clips", *options]) == 0
    assert len(scored) == 2
    monkeypatch.chdir(tmp_path)
    assert ast_tag(["data/clips", *options]) == 0
    assert ast_tag([str(tmp_path / "linked" / "clips"), *options]) == 0
    assert ast_tag(["linked/./clips", "data//clips", *options]) == 0
    assert len(scored) == 2
    assert "2 of 2 files are already in" in capsys.readouterr().err


def test_a_file_name_that_is_not_utf8_is_printed_escaped(
    tmp_path, model_folder, capsys
):
    from pretrained_interfaces.tag_cli import main as ast_tag

    odd_named_clips(tmp_path / "clips")
    command = [str(tmp_path / "clips"), "--model", model_folder,
               "--workers", "0"]  # fmt: skip
    assert ast_tag(command) == 0
    assert "caf\\xe9.wav (0.20 s): " in capsys.readouterr().out


ODD_NAMES = [b"a.wav", b"b.wav", b"caf\xe9.wav"]


def basenames(paths):
    """The sorted bytes of the base names of ``paths``."""
    return sorted(os.path.basename(os.fsencode(str(p))) for p in paths)


def tag_odd_names(tmp_path, model_folder, *options):
    from pretrained_interfaces.tag_cli import main as ast_tag

    if not (tmp_path / "clips").exists():
        odd_named_clips(tmp_path / "clips")
    return ast_tag([str(tmp_path / "clips"), "--model", model_folder,
                    "--precision", "fp32", *options])  # fmt: skip


def test_events_of_a_name_that_is_not_utf8_are_printed_escaped(
    tmp_path, model_folder, capsys
):
    import json

    assert tag_odd_names(tmp_path, model_folder, "--events") == 0
    assert "caf\\xe9.wav (0.20 s, " in capsys.readouterr().out
    assert tag_odd_names(tmp_path, model_folder, "--events", "--json") == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert basenames(result["file"] for result in results) == ODD_NAMES


def test_a_timeline_is_drawn_for_a_name_that_is_not_utf8(
    tmp_path, model_folder
):
    timeline = tmp_path / "timeline"
    assert tag_odd_names(tmp_path, model_folder, "--events", "--timeline",
                         str(timeline)) == 0  # fmt: skip
    assert sorted(os.listdir(os.fsencode(timeline))) == [
        b"a.png", b"b.png", b"caf\xe9.png"
    ]  # fmt: skip


def test_two_clips_of_one_name_get_two_timelines(tmp_path, model_folder):
    from pretrained_interfaces.tag_cli import main as ast_tag

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        write_wav(str(tmp_path / folder / "x.wav"))
    timeline = tmp_path / "timeline"
    assert ast_tag([str(tmp_path / "a"), str(tmp_path / "b"), "--model",
                    model_folder, "--precision", "fp32", "--events",
                    "--timeline", str(timeline)]) == 0  # fmt: skip
    assert sorted(os.listdir(timeline)) == ["x-2.png", "x.png"]


def test_embeddings_keep_a_name_that_is_not_utf8(tmp_path, model_folder):
    embeddings = str(tmp_path / "embeddings.npz")
    assert tag_odd_names(tmp_path, model_folder, "--embeddings",
                         embeddings) == 0  # fmt: skip
    assert basenames(np.load(embeddings)["files"]) == ODD_NAMES


HOLD_LOCK = """
import fcntl, os, sys, time
handle = open(sys.argv[1] + ".lock", "a+")
fcntl.flock(handle, fcntl.LOCK_EX)
handle.write(f"{os.getpid()}\\n")
handle.flush()
print("held", flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("stream", [False, True])
def test_a_second_writer_of_one_output_is_refused_until_the_first_dies(
    tmp_path, model_folder, capsys, stream
):
    import io
    import signal
    import subprocess

    from pretrained_interfaces import tag_cli

    write_wav(str(tmp_path / "clips" / "a.wav"))
    output = str(tmp_path / "tags.jsonl")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, output],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline() == "held\n"
        inputs = ["--stream"] if stream else [str(tmp_path / "clips")]
        command = [*inputs, "--model", model_folder, "--output",
                   os.path.join(str(tmp_path), ".", "tags.jsonl"),
                   "--workers", "0"]  # fmt: skip

        def run():
            args = tag_cli.parse_args(command)
            if stream:
                pcm = io.BytesIO(np.zeros(16000, "<i2").tobytes())
                return tag_cli.stream_input(args, pcm, io.StringIO())
            return tag_cli.main(command)

        assert run() == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert err.startswith("ast-tag: error: ")
        assert f"another ast-tag (process {holder.pid}) is writing it" in err
        assert not os.path.exists(output) or not open(output).read()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert run() == 0  # the dead holder's lock went with it
    assert open(output).read().count("\n") >= 1


@pytest.mark.parametrize(
    "line", ['{"file": "a\\u0000b"}', "[" * 100_000 + "]" * 100_000]
)
def test_a_broken_record_in_an_output_is_one_line_naming_it(tmp_path, line):
    from pretrained_interfaces.results_file import (
        ResultsFile,
        ResultsFileError,
    )

    path = tmp_path / "tags.jsonl"
    path.write_text('{"file": "a.wav"}\n' + line + "\n")
    with pytest.raises(ResultsFileError) as error, ResultsFile(str(path)):
        pass
    assert str(error.value).startswith(f"{path}: line 2 is not a result")


# Random small mutations of a real table: its clips are read and split, or
# the data layer says in one line what is wrong.

TABLE_ROWS = [
    "path,label,speaker",
    *(f"clips/{i}.wav,{'dog' if i % 2 else 'cat'},s{i % 4}" for i in range(12)),
]


@pytest.fixture(scope="module")
def table_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("table")
    for i in range(12):
        write_wav(str(folder / "clips" / f"{i}.wav"))
    return folder


@pytest.mark.parametrize("seed", range(80))
def test_random_mutations_of_a_table_split_or_end_in_a_data_error(
    table_folder, seed
):
    # seeded (not hypothesis: its generation reads the modules imported)
    import random

    from ast_lobes.training.data.splits import assign_splits

    draw = random.Random(seed)
    data = bytearray("\n".join(TABLE_ROWS).encode() + b"\n")
    for _ in range(draw.randint(1, 4)):
        position = draw.randrange(len(data))
        if draw.random() < 0.1:
            del data[position:]
        else:
            data[position] = draw.randrange(256)
        if not data:
            break
    table = table_folder / f"labels{seed}.csv"
    table.write_bytes(bytes(data))
    try:
        clips = read_label_table(str(table), group_column="speaker")
        assign_splits(clips, 0.25, 0.25, seed=0)
    except DataError as error:
        assert "\n" not in str(error)
        return
    for clip in clips:
        assert os.path.isfile(clip.path) and clip.split in (
            "train", "valid", "test",
        )  # fmt: skip

"""Speech Commands V2 recipe: official split, errors, a smoke run."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
RECIPE = os.path.join(ROOT, "recipes", "SpeechCommands")
sys.path.insert(0, RECIPE)

from make_speech_commands_demo import WORDS, make_demo_speech_commands  # noqa: E402
from speech_commands_prepare import (  # noqa: E402
    SplitLeakError,
    prepare_speech_commands,
)

from ast_lobes.audio.io import AudioFileError  # noqa: E402
from ast_lobes.inference.hardware import (  # noqa: E402
    detect_hardware,
    fast_precisions,
)
from ast_lobes.training.data.labelled_audio import DataError  # noqa: E402

SMALL_MODEL = [
    "--model_size", "null", "--embed_dim", "32", "--depth", "1",
    "--num_heads", "2", "--imagenet_weights", "null", "--fstride", "16",
    "--tstride", "16", "--num_workers", "0",
]  # fmt: skip


@pytest.fixture(scope="module")
def sc_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sc") / "speech_commands"
    make_demo_speech_commands(str(folder))
    return folder


def read_rows(path):
    with open(path) as handle:
        header, *lines = handle.read().splitlines()
    return [
        dict(zip(header.split(","), line.split(","), strict=True))
        for line in lines
    ]


def test_prepare_official_split_and_counts(sc_dir, tmp_path):
    counts = prepare_speech_commands(str(sc_dir), str(tmp_path))
    assert counts == {
        "train": {"clips": 70, "speakers": 2, "words": 35},
        "valid": {"clips": 35, "speakers": 1, "words": 35},
        "test": {"clips": 35, "speakers": 1, "words": 35},
    }
    assert json.loads((tmp_path / "split_counts.json").read_text()) == counts
    rows = {s: read_rows(tmp_path / f"{s}.csv") for s in counts}
    listed = (sc_dir / "testing_list.txt").read_text().split()
    assert sorted(
        os.path.relpath(r["wav"], sc_dir) for r in rows["test"]
    ) == sorted(listed)
    assert {r["label"] for r in rows["train"]} == set(WORDS)
    every_wav = [r["wav"] for split in rows.values() for r in split]
    assert len(set(every_wav)) == 140
    assert not any("_background_noise_" in wav for wav in every_wav)
    speakers = {s: {r["speaker"] for r in rows[s]} for s in rows}
    assert not speakers["train"] & speakers["valid"]
    assert not speakers["train"] & speakers["test"]
    assert not speakers["valid"] & speakers["test"]
    durations = {float(r["duration"]) for r in rows["train"]}
    assert durations <= {0.8, 1.0}
    stamp = (tmp_path / "train.csv").stat().st_mtime_ns
    prepare_speech_commands(str(sc_dir), str(tmp_path))
    assert (tmp_path / "train.csv").stat().st_mtime_ns == stamp


def broken_copy(sc_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(sc_dir, copy)
    return copy


def test_prepare_errors_name_the_file(sc_dir, tmp_path):
    copy = broken_copy(sc_dir, tmp_path)
    (copy / "testing_list.txt").unlink()
    with pytest.raises(FileNotFoundError, match="testing_list.txt: missing"):
        prepare_speech_commands(str(copy), str(tmp_path / "a"))

    copy = broken_copy(sc_dir, tmp_path / "b")
    first = (copy / "validation_list.txt").read_text().split()[0]
    (copy / first).unlink()
    with pytest.raises(FileNotFoundError, match="not found.*" + first):
        prepare_speech_commands(str(copy), str(tmp_path / "b" / "out"))

    copy = broken_copy(sc_dir, tmp_path / "c")
    victim = sorted((copy / "yes").iterdir())[0]
    victim.write_bytes(b"RIFF not really audio")
    with pytest.raises(AudioFileError, match=f"{victim.name}: unreadable"):
        prepare_speech_commands(str(copy), str(tmp_path / "c" / "out"))

    copy = broken_copy(sc_dir, tmp_path / "d")
    victim = sorted((copy / "no").iterdir())[0]
    soundfile.write(victim, np.zeros(8000, dtype=np.float32), 8000)
    with pytest.raises(AudioFileError, match="sample rate 8000 Hz"):
        prepare_speech_commands(str(copy), str(tmp_path / "d" / "out"))


def test_prepare_refuses_a_speaker_in_two_splits(sc_dir, tmp_path):
    copy = broken_copy(sc_dir, tmp_path)
    test_clip = (copy / "testing_list.txt").read_text().split()[0]
    speaker = os.path.basename(test_clip).split("_nohash_")[0]
    shutil.copy(copy / test_clip, copy / "wow" / f"{speaker}_nohash_7.wav")
    with pytest.raises(SplitLeakError, match=f"train and test.*{speaker}"):
        prepare_speech_commands(str(copy), str(tmp_path / "out"))


def test_prepare_takes_a_listed_clip_however_spelled(sc_dir, tmp_path):
    copy = broken_copy(sc_dir, tmp_path)
    listed = (copy / "validation_list.txt").read_text().split()
    (copy / "validation_list.txt").write_text(
        "\n".join([f"./{listed[0]}", *listed[1:]]) + "\n"
    )
    prepare_speech_commands(str(copy), str(tmp_path / "out"))
    valid = read_rows(tmp_path / "out" / "valid.csv")
    train = read_rows(tmp_path / "out" / "train.csv")
    assert sorted(os.path.relpath(r["wav"], copy) for r in valid) == sorted(
        listed
    )
    assert {r["label"] for r in valid} == set(WORDS)
    assert listed[0] not in {os.path.relpath(r["wav"], copy) for r in train}


@pytest.mark.parametrize("link", ["file", "word folder"])
def test_prepare_refuses_one_file_under_two_names(sc_dir, tmp_path, link):
    # a test clip linked under another speaker's name (which the speaker
    # check cannot see) or a word folder linked under another word
    copy = broken_copy(sc_dir, tmp_path)
    test_clip = (copy / "testing_list.txt").read_text().split()[0]
    if link == "file":
        other = "wow/ffffffff_nohash_0.wav"
        (copy / other).symlink_to(copy / test_clip)
    else:
        word = test_clip.split("/")[0]
        (copy / "zzz").symlink_to(copy / word)
        other = "zzz/" + test_clip.split("/")[1]
    with pytest.raises(DataError) as error:
        prepare_speech_commands(str(copy), str(tmp_path / "out"))
    message = str(error.value)
    assert "files found more than once" in message
    assert test_clip in message and other in message


def test_prepare_refuses_a_clip_in_both_lists_however_spelled(sc_dir, tmp_path):
    copy = broken_copy(sc_dir, tmp_path)
    test_clip = (copy / "testing_list.txt").read_text().split()[0]
    with open(copy / "validation_list.txt", "a") as handle:
        handle.write(f"./{test_clip}\n")
    with pytest.raises(DataError) as error:
        prepare_speech_commands(str(copy), str(tmp_path / "out"))
    assert (
        f"1 clips named more than once in the lists: ./{test_clip} "
        f"(validation_list.txt) = {test_clip} (testing_list.txt)"
    ) in str(error.value)


def test_smoke_run_tests_best_checkpoint_and_exports(sc_dir, tmp_path):
    from speechbrain.inference.classifiers import EncoderClassifier

    exp = tmp_path / "exp"
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "ast.yaml"),
        "--data_folder", str(sc_dir), "--output_folder", str(exp),
        "--batch_size", "8", "--number_of_epochs", "3", "--lr", "0.002",
        "--lr_milestone_start", "2", "--test_precisions", "[auto]",
        "--patchout_time", "2", "--patchout_freq", "1",
        *SMALL_MODEL,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    lines = [json.loads(x) for x in (exp / "metrics.jsonl").read_text().split(
        "\n") if x]  # fmt: skip
    valid = {line["epoch"]: line["accuracy"] for line in lines[:-2]}
    assert sorted(valid) == [1, 2, 3]
    # auto is a mode this CPU runs at least as fast as fp32 (which one is
    # the recipe's own probe's choice: the machine's load can change it)
    assert lines[-2]["test"] == "test"
    auto = lines[-1]["test"].removeprefix("test_")
    assert auto in fast_precisions(detect_hardware("cpu")), lines[-1]
    test_accuracy = lines[-2]["accuracy"]
    log = (exp / "train_log.txt").read_text()
    assert "epoch: 3" in log and "test accuracy" in log
    tested_epoch = int(output.split("checkpoint of epoch ")[1].split(",")[0])
    assert valid[tested_epoch] == max(valid.values())
    assert f"test accuracy: {100 * test_accuracy:.2f}%" in output
    assert any(n.startswith("CKPT+") for n in os.listdir(exp / "save"))
    model = EncoderClassifier.from_hparams(
        source=str(exp / "model"), hparams_file="hyperparams.yaml",
        savedir=str(tmp_path / "loaded"),
    )  # fmt: skip
    rows = read_rows(exp / "save" / "test.csv")
    hits = sum(model.classify_file(r["wav"])[3][0] == r["label"] for r in rows)
    assert hits / len(rows) == pytest.approx(test_accuracy)

    stamp = (exp / "model" / "classifier.ckpt").stat().st_mtime_ns
    result = subprocess.run([*command, "--test_only"], capture_output=True,
                            text=True, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert f"test accuracy: {100 * test_accuracy:.2f}%" in result.stdout
    assert (exp / "model" / "classifier.ckpt").stat().st_mtime_ns == stamp

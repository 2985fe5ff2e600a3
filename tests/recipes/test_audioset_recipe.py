"""AudioSet recipe: official CSV layout, missing clips, a smoke run, DDP."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
RECIPE = os.path.join(ROOT, "recipes", "AudioSet")
sys.path.insert(0, RECIPE)

from audioset_prepare import prepare_audioset  # noqa: E402
from ensemble import main as ensemble_main  # noqa: E402
from kill_resume import (  # noqa: E402
    demo_shards,
    differing_tensors,
    exported_tensors,
    kill_every_process,
    launcher,
    recipe_command,
    run_and_kill,
    tiny_options,
)
from make_audioset_demo import make_demo_audioset  # noqa: E402
from recipe_main import run_in_process  # noqa: E402 (tests/helpers)

from ast_lobes.training.data.datasets import UnknownLabelError  # noqa: E402
from ast_lobes.training.data.labelled_audio import DataError  # noqa: E402
from pretrained_interfaces import AudioTagger  # noqa: E402

SMALL = ["--n_classes", "4", *tiny_options(frames=198, batch_size=4)]


@pytest.fixture(scope="module")
def audioset_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audioset")
    made = make_demo_audioset(str(folder))
    return folder, made


def read_rows(path):
    import csv

    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_prepare_reads_official_layout_and_reports_missing(
    audioset_dir, tmp_path
):
    folder, made = audioset_dir
    report = prepare_audioset(
        str(tmp_path), str(folder / "class_labels_indices.csv"), "full",
        str(folder), str(folder / "audio"),
    )  # fmt: skip
    assert report["train"]["listed"] == 32 and report["eval"]["listed"] == 12
    bad = len(made["missing"]) + len(made["corrupt"])
    found = report["train"]["found"] + report["eval"]["found"]
    assert found == 44 - bad
    assert sum(r["missing"] for r in report.values()) == len(made["missing"])
    assert sum(r["unreadable"] for r in report.values()) == len(made["corrupt"])
    listed = (tmp_path / "missing_clips.tsv").read_text()
    for ytid in made["missing"] + made["corrupt"]:
        assert ytid in listed
    train = read_rows(tmp_path / "train.csv")
    names = {os.path.basename(r["wav"]) for r in train}
    assert any(n.startswith("Y") for n in names)
    assert any(n.endswith("_30.000.flac") for n in names)
    segments = (folder / "balanced_train_segments.csv").read_text()
    first = segments.splitlines()[3]
    ytid, mids = first.split(",")[0], first.split('"')[1].split(",")
    row = next(r for r in train if r["ID"] == ytid)
    labels = read_rows(folder / "class_labels_indices.csv")
    expected = [x["display_name"] for x in labels if x["mid"] in mids]
    assert sorted(row["label"].split(";")) == sorted(expected)
    encoder = (tmp_path / "label_encoder.txt").read_text().splitlines()
    assert encoder[1] == "'Male speech, man speaking' => 1"
    balanced = prepare_audioset(
        str(tmp_path / "bal"), str(folder / "class_labels_indices.csv"),
        "balanced", str(folder), str(folder / "audio"),
    )  # fmt: skip
    assert balanced["train"]["listed"] == 24


def test_a_sized_demo_is_prepared_alone_by_the_prepare_script(
    tmp_path, monkeypatch, capsys
):
    from make_audioset_demo import main as make_demo

    make_demo([str(tmp_path / "data"), "--balanced", "7", "--unbalanced",
               "3", "--eval", "5", "--seconds", "0.5", "--n_labels", "9",
               "--clean"])  # fmt: skip
    labels = read_rows(tmp_path / "data" / "class_labels_indices.csv")
    assert len(labels) == 9 and labels[8]["display_name"] == "Shout"
    result = run_in_process(
        os.path.join(RECIPE, "audioset_prepare.py"),
        [os.path.join(RECIPE, "hparams", "full.yaml"),
         *data_args(tmp_path / "data", tmp_path / "exp"), *SMALL],
        monkeypatch, capsys,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train: 10 of 10 clips found" in result.stdout
    train = read_rows(tmp_path / "exp" / "save" / "train.csv")
    evaluated = read_rows(tmp_path / "exp" / "save" / "eval.csv")
    assert (len(train), len(evaluated)) == (10, 5)  # full: 7 + 3
    assert {float(row["duration"]) for row in train + evaluated} == {0.5}
    assert not (tmp_path / "exp" / "model").exists()  # nothing trained


def test_prepare_accepts_reference_json_datafiles(audioset_dir, tmp_path):
    folder, _ = audioset_dir
    rows = read_rows(folder / "class_labels_indices.csv")
    wav = sorted((folder / "audio").glob("*.wav"))[1]
    data = {"data": [
        {"wav": str(wav), "labels": f"{rows[0]['mid']},{rows[2]['mid']}"},
        {"wav": str(folder / "gone.wav"), "labels": rows[1]["mid"]},
    ]}  # fmt: skip
    (tmp_path / "d.json").write_text(json.dumps(data))
    other = sorted((folder / "audio").glob("*.wav"))[2]
    (tmp_path / "e.json").write_text(json.dumps(
        {"data": [{"wav": str(other), "labels": rows[0]["mid"]}]}
    ))  # fmt: skip
    report = prepare_audioset(
        str(tmp_path / "out"), str(folder / "class_labels_indices.csv"),
        train_json=str(tmp_path / "d.json"), eval_json=str(tmp_path / "e.json"),
    )  # fmt: skip
    assert report["train"] == {
        "listed": 2, "found": 1, "missing": 1, "unreadable": 0
    }  # fmt: skip
    (row,) = read_rows(tmp_path / "out" / "train.csv")
    assert row["label"] == "Speech;Female speech, woman speaking"


@pytest.mark.parametrize("spelling", ["dot", "link"])
def test_one_clip_file_in_train_and_eval_is_refused_however_spelled(
    audioset_dir, tmp_path, spelling
):
    folder, _ = audioset_dir
    mid = read_rows(folder / "class_labels_indices.csv")[0]["mid"]
    wav = sorted((folder / "audio").glob("*.wav"))[1]
    again = str(folder / "audio" / "." / wav.name)
    if spelling == "link":
        (tmp_path / "linked").symlink_to(folder / "audio")
        again = str(tmp_path / "linked" / wav.name)
    for name, path in (("train", str(wav)), ("eval", again)):
        (tmp_path / f"{name}.json").write_text(
            json.dumps({"data": [{"wav": path, "labels": mid}]})
        )
    with pytest.raises(DataError) as error:
        prepare_audioset(
            str(tmp_path / "out"), str(folder / "class_labels_indices.csv"),
            train_json=str(tmp_path / "train.json"),
            eval_json=str(tmp_path / "eval.json"),
        )  # fmt: skip
    message = str(error.value)
    assert "1 clip files listed more than once" in message
    assert str(wav) in message and again in message


def test_a_training_segment_listed_for_eval_is_refused(audioset_dir, tmp_path):
    folder, _ = audioset_dir
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    segments = (copy / "balanced_train_segments.csv").read_text()
    first = segments.splitlines()[3]
    with open(copy / "eval_segments.csv", "a") as handle:
        handle.write(first + "\n")
    with pytest.raises(DataError, match="listed more than once.*train.*eval"):
        prepare_audioset(str(tmp_path / "out"),
                         str(copy / "class_labels_indices.csv"), "full",
                         str(copy), str(copy / "audio"))  # fmt: skip


def test_prepare_errors_name_the_file(audioset_dir, tmp_path):
    folder, _ = audioset_dir
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    labels = str(copy / "class_labels_indices.csv")
    with open(copy / "eval_segments.csv", "a") as handle:
        handle.write('zzzzzzzzzzz, 0.000, 10.000, "/m/unknown"\n')
    with pytest.raises(UnknownLabelError, match="eval_segments.csv.*unknown"):
        prepare_audioset(str(tmp_path / "a"), labels, "full", str(copy),
                         str(copy / "audio"))  # fmt: skip
    with open(copy / "eval_segments.csv", "a") as handle:
        handle.write("broken, row\n")
    with pytest.raises(ValueError, match=r"eval_segments.csv:\d+: expected"):
        prepare_audioset(str(tmp_path / "b"), labels, "full", str(copy),
                         str(copy / "audio"))  # fmt: skip
    (copy / "eval_segments.csv").unlink()
    with pytest.raises(FileNotFoundError, match="eval_segments.csv: missing"):
        prepare_audioset(str(tmp_path / "c"), labels, "full", str(copy),
                         str(copy / "audio"))  # fmt: skip
    with pytest.raises(FileNotFoundError, match="nowhere.csv: missing"):
        prepare_audioset(str(tmp_path / "d"), str(tmp_path / "nowhere.csv"))


def test_a_malformed_segment_row_ends_the_recipe_in_one_line(
    audioset_dir, tmp_path, monkeypatch, capsys
):
    folder, _ = audioset_dir
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    with open(copy / "eval_segments.csv", "a") as handle:
        handle.write("broken, row\n")
    result = run_in_process(
        os.path.join(RECIPE, "train.py"),
        [os.path.join(RECIPE, "hparams", "full.yaml"),
         *data_args(copy, tmp_path / "exp"), *SMALL],
        monkeypatch, capsys,
    )  # fmt: skip
    assert result.returncode == 2
    assert "eval_segments.csv:" in result.stderr and "expected" in result.stderr
    assert "Traceback" not in result.stderr


def run_recipe(args, processes=1, timeout=600):
    """Runs the recipe on ``processes`` processes to its end (every
    process of it killed if it has not ended in ``timeout`` seconds); its
    output."""
    command = [*launcher(processes), os.path.join(RECIPE, "train.py"), *args]
    return run_command(command, timeout)


def run_command(command, timeout=600):
    """Runs a recipe's ``command`` to its end (as ``run_recipe``)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        cwd=ROOT,
    )  # fmt: skip
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_every_process(process)
        pytest.fail(f"no end in {timeout} s (hung?): {' '.join(command)}")
    lines = [x for x in output.splitlines() if "it/s" not in x]
    first_error = next(
        (i for i, x in enumerate(lines) if "Traceback" in x or "rror" in x), 0
    )
    # with the lines before it: a process killed by a signal says why there
    shown = lines[max(first_error - 20, 0) :]
    assert process.returncode == 0, "\n".join(shown)[:8000]
    return output


def data_args(folder, exp):
    return [
        "--csv_folder", str(folder), "--clips_folder",
        str(folder / "audio"), "--output_folder", str(exp),
    ]  # fmt: skip


def test_full_smoke_run_with_averaging_and_ensembles(audioset_dir, tmp_path):
    folder, made = audioset_dir
    exp = tmp_path / "exp"
    output = run_recipe(
        [os.path.join(RECIPE, "hparams", "full.yaml"),
         *data_args(folder, exp), *SMALL, "--number_of_epochs", "3",
         "--average_epochs", "[2, 3]"]
    )  # fmt: skip
    results = json.loads((exp / "results.json").read_text())
    for key in ("last_epoch", "best_epoch", "weight_averaged",
                "checkpoint_ensemble"):  # fmt: skip
        assert 0.0 <= results[key]["mAP"] <= 1.0
        assert f"{key}: {results[key]['mAP']:.4f}" in output
    log = (exp / "train_log.txt").read_text()
    assert "valid mAP" in log and "evaluated: weight_averaged" in log
    checkpoints = [n for n in os.listdir(exp / "save") if n.startswith("CKPT")]
    assert len(checkpoints) == 3
    assert (exp / "model_weight_averaged" / "hyperparams.yaml").is_file()
    assert (
        "multi_label: true" in (exp / "model" / "hyperparams.yaml").read_text()
    )
    per_class = (exp / "per_class_ap_weight_averaged.tsv").read_text()
    assert "Male speech, man speaking" in per_class
    report = (exp / "save" / "missing_clips.tsv").read_text()
    assert all(ytid in report for ytid in made["missing"])
    ensemble = ensemble_main([str(exp), str(exp)])
    assert ensemble["mAP"] == pytest.approx(results["weight_averaged"]["mAP"])
    epochs = [
        str(exp / "predictions" / f"valid_epoch{e}.npz") for e in (1, 2, 3)
    ]
    assert ensemble_main(epochs)["mAP"] == pytest.approx(
        results["checkpoint_ensemble"]["mAP"]
    )
    # the exported models reproduce the recipe's eval scores
    rows = {r["ID"]: r for r in read_rows(exp / "save" / "eval.csv")}
    exports = {
        "model": "valid_epoch3",
        "model_weight_averaged": "weight_averaged",
    }
    for model, name in exports.items():
        tagger = AudioTagger.from_hparams(
            source=str(exp / model),
            savedir=str(tmp_path / model),
            precision="fp32",
        )
        with np.load(exp / "predictions" / f"{name}.npz") as data:
            for clip, expected in zip(data["ids"], data["scores"], strict=True):
                got = tagger.tag_file(rows[clip]["wav"], window=10.0).scores
                assert np.allclose(got, expected, atol=1e-5)

    # --test_only: the best checkpoint and the weight average evaluated
    # again, nothing trained or exported
    stamps = {m: (exp / m / "classifier.ckpt").stat().st_mtime_ns
              for m in exports}  # fmt: skip
    output = run_recipe(
        [os.path.join(RECIPE, "hparams", "full.yaml"),
         *data_args(folder, exp), *SMALL, "--number_of_epochs", "3",
         "--average_epochs", "[2, 3]", "--test_only"]
    )  # fmt: skip
    again = json.loads((exp / "results.json").read_text())
    assert again["weight_averaged"]["mAP"] == pytest.approx(
        results["weight_averaged"]["mAP"]
    )
    tested = json.loads((exp / "metrics.jsonl").read_text().splitlines()[-2])
    assert tested["mAP"] == pytest.approx(results["best_epoch"]["mAP"])
    assert stamps == {m: (exp / m / "classifier.ckpt").stat().st_mtime_ns
                      for m in exports}  # fmt: skip


def test_two_processes_split_the_evaluation_and_match_one_process(
    audioset_dir, tmp_path
):
    from speechbrain.inference.classifiers import EncoderClassifier

    from ast_lobes.audio.io import read_audio

    folder, _ = audioset_dir
    exp = tmp_path / "ddp"
    run_recipe(
        [os.path.join(RECIPE, "hparams", "balanced.yaml"),
         *data_args(folder, exp), *SMALL, "--number_of_epochs", "1",
         "--average_epochs", "[1, 1]", "--distributed_backend", "gloo",
         "--device", "cpu"],
        processes=2,
    )  # fmt: skip
    saves = [n for n in os.listdir(exp / "save") if n.startswith("CKPT")]
    assert len(saves) == 1
    with np.load(exp / "predictions" / "valid_epoch1.npz") as data:
        ids, scores = list(data["ids"]), data["scores"]
    rows = {r["ID"]: r for r in read_rows(exp / "save" / "eval.csv")}
    assert ids == list(rows)  # each clip once, in the set's order
    log = (exp / "log.txt").read_text()
    assert f"rank 0 scores {len(rows) // 2} of the {len(rows)} clips" in log
    # each process scored its half; one process scoring the whole set
    # (--test_only, the same checkpoint) gives the same metrics exactly
    split = json.loads((exp / "metrics.jsonl").read_text().splitlines()[0])
    assert split["epoch"] == 1
    run_recipe(
        [os.path.join(RECIPE, "hparams", "balanced.yaml"),
         *data_args(folder, exp), *SMALL, "--number_of_epochs", "1",
         "--average_epochs", "[1, 1]", "--device", "cpu", "--test_only"]
    )  # fmt: skip
    whole = json.loads((exp / "metrics.jsonl").read_text().splitlines()[-2])
    assert whole["test"] == "test"
    for key in ("mAP", "mAUC", "d_prime", "accuracy"):
        assert whole[key] == split[key], key
    model = EncoderClassifier.from_hparams(
        source=str(exp / "model"), hparams_file="hyperparams.yaml",
        savedir=str(tmp_path / "loaded"),
    )  # fmt: skip
    for clip, expected in zip(ids, scores, strict=True):
        wav = read_audio(rows[clip]["wav"], 16000).unsqueeze(0)
        with torch.no_grad():
            logits = model.mods.classifier(model.encode_batch(wav))
        assert np.allclose(
            torch.sigmoid(logits).flatten().numpy(), expected, atol=1e-5
        )


def test_two_processes_train_from_shards_label_balanced(
    audioset_dir, tmp_path, monkeypatch, capsys
):
    folder, _ = audioset_dir
    exp = tmp_path / "shards_ddp"
    pattern = demo_shards(folder, exp, "full", 5)
    output = run_recipe(
        [os.path.join(RECIPE, "hparams", "full.yaml"),
         *data_args(folder, exp), *SMALL, "--number_of_epochs", "1",
         "--average_epochs", "[1, 1]", "--train_shards", pattern,
         "--distributed_backend", "gloo", "--device", "cpu"],
        processes=2,
    )  # fmt: skip
    assert "Cannot automatically solve distributed sampling" not in output
    results = json.loads((exp / "results.json").read_text())
    assert 0.0 <= results["last_epoch"]["mAP"] <= 1.0
    assert (exp / "model" / "hyperparams.yaml").is_file()
    # resuming on other shards (one left out) is refused
    fewer = pattern.replace("{000000..", "{000001..")
    refused = run_in_process(
        os.path.join(RECIPE, "train.py"),
        [os.path.join(RECIPE, "hparams", "full.yaml"), *data_args(folder, exp),
         *SMALL, "--number_of_epochs", "2", "--average_epochs", "[1, 1]",
         "--train_shards", fewer, "--device", "cpu"],
        monkeypatch, capsys,
    )  # fmt: skip
    assert refused.returncode != 0
    assert "the train split's clips or labels" in refused.stderr
    # shards that are not there: one line naming the index, exit status 2
    missing = run_in_process(
        os.path.join(RECIPE, "train.py"),
        [os.path.join(RECIPE, "hparams", "full.yaml"),
         *data_args(folder, tmp_path / "no_shards"), *SMALL,
         "--train_shards", str(tmp_path / "nowhere" / "shard-{0..1}.tar")],
        monkeypatch, capsys,
    )  # fmt: skip
    assert missing.returncode == 2
    assert "nowhere/shards.json: missing" in missing.stderr
    assert "Traceback" not in missing.stderr
    # a run from written shards prepares the eval split only: the loose
    # training clips are neither listed nor read
    other = tmp_path / "from_shards_only"
    run_recipe(
        [os.path.join(RECIPE, "hparams", "full.yaml"),
         *data_args(folder, other), *SMALL, "--number_of_epochs", "1",
         "--average_epochs", "[1, 1]", "--train_shards", pattern,
         "--device", "cpu"],
    )  # fmt: skip
    assert not (other / "save" / "train.csv").exists()
    report = json.loads((other / "save" / "prepare_report.json").read_text())
    assert list(report) == ["eval"]
    assert (other / "model" / "hyperparams.yaml").is_file()


@pytest.fixture(scope="module")
def long_eval_set(tmp_path_factory):
    """20 training clips (5 steps of 2 x 2), 40 eval clips: a validation
    long enough to kill a run in, all clips of 1 s and readable."""
    folder = tmp_path_factory.mktemp("long_eval")
    make_demo_audioset(str(folder), 4, (20, 0, 40), 1.0, 0, clean=True)
    return folder


@pytest.mark.parametrize(
    "source, kill",
    [("files", "at a random step"), ("shards", "after an epoch's last step")],
)
def test_two_processes_killed_inside_an_epoch_resume_to_the_same_weights(
    long_eval_set, tmp_path, source, kill
):
    """Every process of a two-process run is killed (SIGKILL) inside an
    epoch; the same command resumes it there and ends with the weights of
    a run never stopped, bit for bit. The uninterrupted run checkpoints
    every step, the killed one every 2 steps (random kill) or at the
    epoch's last step (killed during the validation after it: the random
    generators are restored before the next epoch's loader draws). Before,
    the uninterrupted run hung (its processes disagreed on the
    checkpoints), and a run resumed after an epoch's last step ended with
    other weights."""
    import functools
    import random

    folder = long_eval_set
    seed = random.randrange(10**6)
    rng = random.Random(seed)
    interval, checkpoints, delay = 5, 1, 0.0
    if kill == "at a random step":
        interval, checkpoints = 2, rng.randint(1, 4)
        delay = rng.uniform(0, 0.1)
    runs = {}
    for name in ("whole", "killed"):
        exp = tmp_path / name
        extra = []
        if source == "shards":
            extra = ["--train_shards", demo_shards(folder, exp, "full", 5)]
        # 2 processes, 4 labels, 2 epochs, a checkpoint every step or so
        every = 1 if name == "whole" else interval
        command = functools.partial(recipe_command, folder, exp, 2, 4, 2,
                                    every, extra)  # fmt: skip
        if name == "killed":
            outcome = run_and_kill(
                command(), str(exp / "save"), delay, checkpoints,
                str(tmp_path / "killed.log"),
            )  # fmt: skip
            assert outcome == "killed", f"ended before its kill (seed {seed})"
            assert not (exp / "model").exists()
        output = run_command(command())  # a new port each time
        runs[name] = exported_tensors(str(exp))
    resumed = re.findall(
        r"resumed at step (\d) of epoch (\d) from (\S+)",
        (tmp_path / "killed" / "log.txt").read_text(),
    )
    assert len(resumed) == 1, (seed, output[-3000:])
    step, epoch, checkpoint = resumed[0]
    assert os.path.dirname(checkpoint) == str(tmp_path / "killed" / "save")
    if kill == "after an epoch's last step":
        assert (step, epoch) == ("5", "1")
    assert differing_tensors(runs["whole"], runs["killed"]) == [], seed


def test_a_user_error_under_torchrun_is_one_line_a_process(
    audioset_dir, tmp_path
):
    """Each process prints the error (here an option given twice) in one
    line with its rank (no traceback of its own) and exits with status 2;
    torchrun's summary of the failure repeats that line."""
    folder, _ = audioset_dir
    message = "--lr given twice (0.002, then 0.1); give each option once"
    command = [
        *launcher(2), os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "full.yaml"),
        *data_args(folder, tmp_path / "exp"), *SMALL,
        "--distributed_backend", "gloo", "--device", "cpu",
        "--lr", "0.1", "--lr", "0.2",  # after SMALL's --lr 0.002
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=ROOT, timeout=300)  # fmt: skip
    assert result.returncode == 1  # torchrun's own status
    lines = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert sorted(lines) == [
        f"error: {message} (rank {rank}; --traceback shows it)"
        for rank in (0, 1)
    ], result.stderr[-3000:]
    assert result.stderr.count("Traceback") == 1  # torchrun's own
    assert "[rank0]: Traceback" not in result.stderr
    assert "DuplicateKeyError" not in result.stderr
    assert f"traceback : error: {message} (rank 0;" in result.stderr

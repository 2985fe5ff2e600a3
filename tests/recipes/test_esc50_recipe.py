"""ESC-50 recipe: preparation, a five-fold smoke run, resuming, export."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import soundfile

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
RECIPE = os.path.join(ROOT, "recipes", "ESC50")
sys.path.insert(0, RECIPE)

from esc50_prepare import prepare_esc50  # noqa: E402
from make_demo_data import make_demo_esc50  # noqa: E402

from ast_lobes.audio.io import AudioFileError  # noqa: E402
from ast_lobes.training.data.labelled_audio import DataError  # noqa: E402


@pytest.fixture(scope="module")
def esc50_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("esc50") / "ESC-50"
    make_demo_esc50(str(folder), clips_per_fold=2, seconds=1.0)
    return folder


def train(args, **kwargs):
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "demo.yaml"), *args,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, cwd=ROOT, **kwargs
    )


def error_lines(result):
    """The lines of a failed run's output that explain it (not progress)."""
    lines = (result.stdout + result.stderr).splitlines()
    return "\n".join(line for line in lines if "it/s" not in line)[-4000:]


def test_prepare_writes_manifests_and_skips_done_work(esc50_dir, tmp_path):
    cache = tmp_path / "audio_16k"
    prepare_esc50(str(esc50_dir), str(tmp_path / "f3"), 3, str(cache))
    with open(tmp_path / "f3" / "test.csv") as handle:
        test_rows = handle.read().splitlines()[1:]
    with open(tmp_path / "f3" / "train.csv") as handle:
        train_rows = handle.read().splitlines()[1:]
    assert len(test_rows) == 10 and len(train_rows) == 40
    assert all(
        os.path.basename(r.split(",")[2]).startswith("3-") for r in test_rows
    )
    clip = sorted(cache.iterdir())[0]
    assert soundfile.info(clip).samplerate == 16000
    stamp = clip.stat().st_mtime_ns
    prepare_esc50(str(esc50_dir), str(tmp_path / "f4"), 4, str(cache))
    assert clip.stat().st_mtime_ns == stamp


def test_prepare_errors(esc50_dir, tmp_path):
    with pytest.raises(ValueError, match="fold must be one of"):
        prepare_esc50(str(esc50_dir), str(tmp_path / "x"), 6)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="esc50.csv: missing"):
        prepare_esc50(str(empty), str(tmp_path / "y"), 1)
    broken = tmp_path / "broken"
    make_demo_esc50(str(broken), clips_per_fold=1, seconds=0.5)
    victim = sorted((broken / "audio").iterdir())[0]
    victim.unlink()
    with pytest.raises(AudioFileError, match=f"{victim.name}: no such audio"):
        prepare_esc50(str(broken), str(tmp_path / "z"), 1)


@pytest.mark.parametrize(
    "spelling", ["1-100010-A-0.wav", "./1-100010-A-0.wav", "5-9-A-0.wav"]
)
def test_one_clip_listed_in_two_folds_is_refused(esc50_dir, tmp_path, spelling):
    import shutil

    copy = tmp_path / "ESC-50"
    shutil.copytree(esc50_dir, copy)
    meta = copy / "meta" / "esc50.csv"
    lines = meta.read_text().splitlines()
    assert lines[1].startswith("1-100010-A-0.wav,1,")  # fold 1
    if spelling == "5-9-A-0.wav":  # a link to it
        (copy / "audio" / spelling).symlink_to(
            copy / "audio" / "1-100010-A-0.wav"
        )
    lines.append(f"{spelling},5,0,siren,False,9,A")
    meta.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as error:
        prepare_esc50(str(copy), str(tmp_path / "out"), 1)
    assert str(error.value) == (
        f"{meta}: 1 files listed more than once: 1-100010-A-0.wav (line 2) "
        f"= {spelling} (line {len(lines)}) (a clip is in one fold only)"
    )


@pytest.mark.parametrize("name", ["../outside/a.wav", "ABSOLUTE"])
def test_a_clip_outside_audio_is_refused_before_writing_there(
    esc50_dir, tmp_path, name
):
    import shutil

    import numpy as np

    copy = tmp_path / "ESC-50"
    shutil.copytree(esc50_dir, copy)
    (copy / "outside").mkdir()
    soundfile.write(copy / "outside" / "a.wav", np.zeros(44100), 44100)
    (tmp_path / "outside").mkdir()  # where the copy would be written
    if name == "ABSOLUTE":
        name = str(tmp_path / "outside" / "a.wav")
        shutil.copy(copy / "outside" / "a.wav", name)
    meta = copy / "meta" / "esc50.csv"
    with open(meta, "a") as handle:
        handle.write(f"{name},5,0,siren,False,9,A\n")
    written = set(os.listdir(tmp_path / "outside"))
    with pytest.raises(DataError, match=f"line 52: '{name}' is not a file "
                       "in audio/"):  # fmt: skip
        prepare_esc50(str(copy), str(tmp_path / "out"), 1,
                      str(tmp_path / "cache"))  # fmt: skip
    assert set(os.listdir(tmp_path / "outside")) == written


def test_five_fold_smoke_run_in_parallel(esc50_dir, tmp_path):
    # --output_folder, the habit of SpeechBrain users, is the folds' root
    exp = tmp_path / "exp"
    result = train(
        ["--data_folder", str(esc50_dir), "--output_folder", str(exp),
         "--resampled_folder", str(tmp_path / "cache"),
         "--parallel_folds", "2", "--debug", "--debug_persistently",
         "--debug_epochs", "2", "--debug_batches", "2"],
    )  # fmt: skip
    assert result.returncode == 0, error_lines(result)
    summary = json.loads((exp / "cross_validation.json").read_text())
    for key in ("last_epoch", "best_epoch"):
        assert sorted(summary[key]["per_fold"]) == ["1", "2", "3", "4", "5"]
        assert 0.0 <= summary[key]["mean"] <= 1.0
    for fold in range(1, 6):
        log = (exp / f"fold{fold}" / "train_log.txt").read_text()
        assert "epoch: 2" in log and "valid accuracy" in log
        run_log = (exp / f"fold{fold}" / "log.txt").read_text()
        assert (
            "training stages: spec_augment on; mixup off, fbank_noise off"
            in run_log
        )
        saves = os.listdir(exp / f"fold{fold}" / "save")
        assert any(name.startswith("CKPT+") for name in saves)
        assert (exp / f"fold{fold}" / "model" / "hyperparams.yaml").is_file()
        assert (exp / f"fold{fold}" / "valid_metrics.jsonl").is_file()
    assert "mean accuracy" in result.stdout
    assert f"(written to {exp / 'cross_validation.json'})" in result.stdout
    assert not (exp / "save").exists()  # no fold ran in the root itself


def test_killed_run_resumes_with_same_epochs(esc50_dir, tmp_path):
    exp = tmp_path / "exp"
    args = [
        "--data_folder", str(esc50_dir), "--experiment_folder", str(exp),
        "--resampled_folder", str(tmp_path / "cache"), "--folds", "[2]",
        "--number_of_epochs", "4",
    ]  # fmt: skip
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "demo.yaml"), *args,
    ]  # fmt: skip
    metrics = exp / "fold2" / "valid_metrics.jsonl"
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    saved = exp / "fold2" / "save"
    while not any(saved.glob("CKPT+*/CKPT.yaml")) and time.time() < deadline:
        assert process.poll() is None, "training ended before the kill"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = len(metrics.read_text().splitlines())
    assert done_before < 4
    result = train(args)
    assert result.returncode == 0, error_lines(result)
    epochs = [
        json.loads(line)["epoch"] for line in metrics.read_text().splitlines()
    ]
    assert sorted(set(epochs)) == [1, 2, 3, 4]
    log = (exp / "fold2" / "train_log.txt").read_text()
    assert log.count("epoch: 1,") == 1
    assert log.count("epoch: 4,") == 1

    # the same folder with other clips is refused before anything trains
    other = tmp_path / "other" / "ESC-50"
    make_demo_esc50(str(other), clips_per_fold=3, seconds=1.0)
    args[1] = str(other)
    args[args.index("--number_of_epochs") + 1] = "5"
    result = train(args)
    assert result.returncode == 2
    assert "fold2/save holds 1 checkpoint of another run" in result.stderr
    assert "the train split's clips or labels" in result.stderr
    assert "Traceback" not in result.stderr
    log = (exp / "fold2" / "train_log.txt").read_text()
    assert log.count("epoch: 5,") == 0
    assert "Traceback" in (exp / "fold2" / "log.txt").read_text()


@pytest.mark.parametrize("option, message", [
    (["--save_folder", "x/save"],
     "--save_folder x/save with 5 folds would put every fold's save_folder"),
    (["--fold", "2"], "--fold: train.py sets the fold of each run"),
])  # fmt: skip
def test_options_that_would_mix_folds_are_refused(
    esc50_dir, tmp_path, monkeypatch, capsys, option, message
):
    from recipe_main import exit_status_of

    argv = [
        os.path.join(RECIPE, "hparams", "demo.yaml"),
        "--data_folder",
        esc50_dir,
        "--experiment_folder",
        tmp_path / "exp",
        *option,
    ]
    script = os.path.join(RECIPE, "train.py")
    assert exit_status_of(script, argv, monkeypatch) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "exp").exists()  # refused before any training


def test_a_head_sized_for_other_labels_is_refused_in_one_line(
    esc50_dir, tmp_path, monkeypatch, capsys
):
    from recipe_main import exit_status_of

    argv = [
        os.path.join(RECIPE, "hparams", "demo.yaml"),
        "--data_folder", esc50_dir, "--folds", "[1]",
        "--experiment_folder", tmp_path / "exp", "--n_classes", "50",
    ]  # fmt: skip
    script = os.path.join(RECIPE, "train.py")
    assert exit_status_of(script, argv, monkeypatch) == 2
    error = capsys.readouterr().err
    assert "n_classes is 50 but the data has 5 labels" in error
    assert "set --n_classes 5" in error and "Traceback" not in error
    assert not list((tmp_path / "exp").rglob("CKPT*"))


def test_a_run_in_this_process_leaves_no_log_set_up_behind(
    esc50_dir, tmp_path, monkeypatch, capsys
):
    """A refusal after the experiment folder is made (SpeechBrain's log
    set up there) leaves the process's logging as it found it: the next
    run in it, refused before it has a folder of its own, names no log of
    the first (deleted meanwhile). Before, the first run's file handler
    stayed on the root logger and the second said ``traceback in`` the
    deleted folder's ``log.txt``."""
    import logging
    import shutil

    from recipe_main import exit_status_of

    script = os.path.join(RECIPE, "train.py")
    argv = [
        os.path.join(RECIPE, "hparams", "demo.yaml"),
        "--data_folder", esc50_dir, "--folds", "[1]",
        "--experiment_folder", tmp_path / "exp",
    ]  # fmt: skip
    handlers = list(logging.getLogger().handlers)
    assert exit_status_of(script, [*argv, "--n_classes", "50"],
                          monkeypatch) == 2  # fmt: skip
    first = capsys.readouterr().err
    assert f"traceback in {tmp_path / 'exp' / 'fold1' / 'log.txt'}" in first
    assert logging.getLogger().handlers == handlers
    shutil.rmtree(tmp_path / "exp")
    assert exit_status_of(script, [*argv, "--fold", "2"], monkeypatch) == 2
    second = capsys.readouterr().err
    assert "--fold: train.py sets the fold of each run" in second
    assert str(tmp_path) not in second  # no log of the first run named


def test_an_option_the_yaml_has_not_is_refused_in_one_line(
    esc50_dir, tmp_path, monkeypatch, capsys
):
    from recipe_main import run_in_process

    result = run_in_process(
        os.path.join(RECIPE, "train.py"),
        [os.path.join(RECIPE, "hparams", "demo.yaml"), "--data_folder",
         esc50_dir, "--experiment_folder", tmp_path / "exp", "--lr_gama",
         "0.5"],
        monkeypatch, capsys,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--lr_gama: " in result.stderr
    assert "demo.yaml has no key lr_gama" in result.stderr
    assert "did you mean lr_gamma?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "exp").exists()


def test_the_seed_names_the_default_experiment_folder():
    from ast_lobes.training.options import read_plain_hparams

    yaml = os.path.join(RECIPE, "hparams", "ast.yaml")
    plain = read_plain_hparams(yaml, {"data_folder": "d", "seed": 7,
                                      "fold": 3})  # fmt: skip
    assert plain["output_folder"] == "results/ESC50/ast_p/7/fold3"
    assert plain["save_folder"] == "results/ESC50/ast_p/7/fold3/save"


def test_exported_model_reproduces_recipe_accuracy(esc50_dir, tmp_path):
    from speechbrain.inference.classifiers import EncoderClassifier

    exp = tmp_path / "exp"
    result = train(
        ["--data_folder", str(esc50_dir), "--experiment_folder", str(exp),
         "--resampled_folder", str(tmp_path / "cache"), "--folds", "[1]",
         "--number_of_epochs", "3"],
    )  # fmt: skip
    assert result.returncode == 0, error_lines(result)
    lines = (exp / "fold1" / "valid_metrics.jsonl").read_text().splitlines()
    recipe_accuracy = json.loads(lines[-1])["accuracy"]
    best_accuracy = max(json.loads(line)["accuracy"] for line in lines)

    exported = exp / "fold1" / "model" / "embedding_model.ckpt"
    stamp = exported.stat().st_mtime_ns
    args = ["--data_folder", str(esc50_dir), "--experiment_folder", str(exp),
            "--resampled_folder", str(tmp_path / "cache"), "--folds", "[1]",
            "--number_of_epochs", "3", "--test_only"]  # fmt: skip
    result = train(args)
    assert result.returncode == 0, error_lines(result)
    lines = (exp / "fold1" / "valid_metrics.jsonl").read_text().splitlines()
    assert len(lines) == 4  # 3 epochs, then the best checkpoint tested
    assert json.loads(lines[-1])["accuracy"] == pytest.approx(best_accuracy)
    assert exported.stat().st_mtime_ns == stamp  # nothing trained, exported
    result = train(args[:3] + [str(tmp_path / "untrained")] + args[4:])
    assert result.returncode != 0
    assert "--test_only: no checkpoint in" in result.stdout + result.stderr

    other_dir = tmp_path / "elsewhere"
    other_dir.mkdir()
    os.chdir(other_dir)
    model = EncoderClassifier.from_hparams(
        source=str(exp / "fold1" / "model"),
        hparams_file="hyperparams.yaml",
        savedir=str(tmp_path / "loaded"),
    )
    hits = 0
    with open(exp / "fold1" / "save" / "test.csv") as handle:
        rows = [line.split(",") for line in handle.read().splitlines()[1:]]
    for row in rows:
        label = model.classify_file(row[2])[3][0]
        hits += label == row[3]
    assert hits / len(rows) == pytest.approx(recipe_accuracy)

    # that model teaches a student through its distillation token, on
    # stored outputs for two augmentation draws
    student = tmp_path / "student"
    result = train(
        ["--data_folder", str(esc50_dir), "--experiment_folder", str(student),
         "--resampled_folder", str(tmp_path / "cache"), "--folds", "[1]",
         "--number_of_epochs", "2", "--teacher", str(exp / "fold1" / "model"),
         "--two_heads", "true", "--pooling", "cls_dist_pair",
         "--teacher_draws", "2", "--teacher_loss", "soft"],
    )  # fmt: skip
    assert result.returncode == 0, error_lines(result)
    log = (student / "fold1" / "log.txt").read_text()
    assert f"ran on {len(rows) * 4} training clips x 2 draws" in log
    exported = (student / "fold1" / "model" / "hyperparams.yaml").read_text()
    assert "ast_lobes.DistillationHead" in exported

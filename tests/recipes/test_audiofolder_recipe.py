"""The AudioFolder recipe end to end on generated data: a class-folder
layout, a multi-label table with grouped k-fold, separate tables, bad
input, reuse of the prepared data and resumed training."""

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import soundfile
import torch

from pretrained_interfaces.audio_tagger import AudioTagger
from pretrained_interfaces.events import detect_events

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "AudioFolder")
TONES = {"low": 300, "mid": 1200, "high": 4000}


def tone(path, freq, seed, seconds=1.0, rate=16000, channels=1):
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * freq * (1 + 0.03 * rng.normal()) * t)
    wave = wave + 0.02 * rng.normal(size=t.shape)
    if channels > 1:
        wave = np.stack([wave] * channels, axis=1)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, wave.astype(np.float32), rate)


# cpu.yaml's AST alone, without its default teacher stage
ALONE = ("--teacher_recipe", "null")


def recipe_args(tmp_path, *args, epochs=2, experiment="exp"):
    alone = () if "--teacher_recipe" in args else ALONE
    return [
        os.path.join(RECIPE, "hparams", "cpu.yaml"),
        "--experiment_folder", str(tmp_path / experiment),
        "--number_of_epochs", str(epochs), "--batch_size", "4", *alone,
        *args,
    ]  # fmt: skip


def run_recipe(tmp_path, *args, epochs=2, experiment="exp"):
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        *recipe_args(tmp_path, *args, epochs=epochs, experiment=experiment),
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, timeout=600
    )


def refused_run(tmp_path, monkeypatch, capsys, *args):
    """``run_recipe`` in this process, for a run refused before it
    trains (no interpreter start-up)."""
    from recipe_main import run_in_process

    monkeypatch.chdir(tmp_path)
    return run_in_process(os.path.join(RECIPE, "train.py"),
                          recipe_args(tmp_path, *args), monkeypatch,
                          capsys)  # fmt: skip


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def load_train_module():
    """The recipe's train.py as a module, for its functions."""
    spec = importlib.util.spec_from_file_location(
        "audiofolder_train", os.path.join(RECIPE, "train.py")
    )
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe


@pytest.fixture
def class_folders(tmp_path):
    root = tmp_path / "sounds"
    for label, freq in TONES.items():
        for index in range(8):
            sub = "takes/" if index % 3 == 0 else ""
            tone(root / label / f"{sub}{label}{index}.wav", freq, index)
    tone(root / "low" / "stereo.wav", 300, 99, rate=44100, channels=2)
    return root


def test_folder_layout_trains_exports_reuses_and_resumes(
    class_folders, tmp_path
):
    result = run_recipe(tmp_path, "--data_folder", str(class_folders))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy: " in result.stdout
    run = tmp_path / "exp" / "single"
    assert "epoch 1 of 2 done, " in (run / "log.txt").read_text()  # ETA
    summary = json.loads((run / "save" / "data_summary.json").read_text())
    assert summary["labels"] == ["high", "low", "mid"]
    assert not summary["multi_label"] and summary["target_length"] == 99
    assert sum(summary["clips"].values()) == 25
    report = (run / "save" / "data_report.txt").read_text()
    assert "16000 Hz x24, 44100 Hz x1" in report and "2 x1" in report
    train = {r["wav"] for r in read_rows(run / "save" / "train.csv")}
    test = {r["wav"] for r in read_rows(run / "save" / "test.csv")}
    assert not train & test and len(train) + len(test) < 25

    from speechbrain.inference.classifiers import EncoderClassifier

    from pretrained_interfaces import AudioTagger

    clip = str(class_folders / "high" / "high1.wav")
    tagger = AudioTagger.from_hparams(
        source=str(run / "model"), savedir=str(tmp_path / "t"),
        precision="fp32",
    )  # fmt: skip
    tags = tagger.tag_file(clip, top_k=None).tags
    assert sorted(label for label, _ in tags) == ["high", "low", "mid"]
    assert sum(score for _, score in tags) == pytest.approx(1.0, abs=1e-5)
    classifier = EncoderClassifier.from_hparams(
        source=str(run / "model"), savedir=str(tmp_path / "e")
    )
    probs = classifier.classify_file(clip)[0].softmax(-1).squeeze()
    scores = dict(tags)
    expected = [scores[n] for n in tagger.label_names]
    assert torch.allclose(probs, torch.tensor(expected), atol=1e-5)

    prepared = (run / "save" / "train.csv").stat().st_mtime_ns
    again = run_recipe(tmp_path, "--data_folder", str(class_folders), epochs=3)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (run / "save" / "train.csv").stat().st_mtime_ns == prepared
    log = (run / "train_log.txt").read_text().splitlines()
    epochs = [line.split(",")[0] for line in log if line.startswith("epoch")]
    assert epochs == ["epoch: 1", "epoch: 2", "epoch: 3"]  # 3 only resumed
    tested = re.search(r"test accuracy: ([\d.]+); ", again.stdout)[1]

    result = run_recipe(tmp_path, "--data_folder", str(class_folders),
                        "--test_only", epochs=3)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"test accuracy: {tested};" in result.stdout
    assert len((run / "train_log.txt").read_text().splitlines()) == len(log) + 1
    card = (run / "model" / "README.md").read_text()
    assert "| high |" in card and "3 classes: high, low, mid" in card
    assert (run / "confusion_test.png").read_bytes()[:4] == b"\x89PNG"
    per_class = read_rows(run / "per_class_test.csv")
    assert [r["label"] for r in per_class] == ["high", "low", "mid"]
    assert sum(int(r["support"]) for r in per_class) == summary["clips"]["test"]

    result = run_recipe(
        tmp_path, "--data_folder", str(class_folders),
        "--init_from", str(run / "model"), epochs=1, experiment="again",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "again" / "single" / "log.txt").read_text()
    assert "its encoder and head (same labels)" in log

    # distillation from that model: the distillation head is trained, the
    # teacher runs once, and the exported student is what the recipe tested
    args = [
        "--data_folder",
        str(class_folders),
        "--teacher",
        str(run / "model"),
        "--two_heads",
        "true",
        "--pooling",
        "mean_dist_pair",
        *("--teacher_online", "false", "--teacher_draws", "10"),
        *("--mixup_probability", "0"),
    ]
    result = run_recipe(tmp_path, *args, epochs=2, experiment="student")
    assert result.returncode == 0, result.stderr[-3000:]
    student = tmp_path / "student" / "single"
    log = (student / "log.txt").read_text()
    trained_on = summary["clips"]["train"]
    assert log.count(f"ran on {trained_on} training clips") == 1
    assert "teacher outputs reused" in log
    from hyperpyyaml import load_hyperpyyaml

    overrides = {"n_classes": 3, "target_length": 99, "two_heads": True,
                 "pooling": "cls_dist_pair", "data_folder": "x",
                 "experiment_folder": str(tmp_path / "yaml")}  # fmt: skip
    # (the checkpointer it builds makes its folder: not in the checkout)
    with open(os.path.join(RECIPE, "hparams", "cpu.yaml")) as handle:
        initial = load_hyperpyyaml(handle, overrides)["classifier"]
    trained = torch.load(student / "model" / "classifier.ckpt")
    for name, value in initial.state_dict().items():
        if name.endswith("linear.weight"):
            assert not torch.allclose(trained[name], value), name
    tagger = AudioTagger.from_hparams(
        source=str(student / "model"), savedir=str(tmp_path / "s"),
        precision="fp32",
    )  # fmt: skip
    assert type(tagger.mods.classifier).__name__ == "DistillationHead"
    rows = read_rows(student / "save" / "test.csv")
    hits = sum(
        tagger.tag_file(r["wav"], top_k=1).tags[0][0] == r["label"]
        for r in rows
    )
    tested = re.search(r"test accuracy: ([\d.]+); ", result.stdout)[1]
    assert hits / len(rows) == pytest.approx(float(tested), abs=1e-4)
    # each head on its own: the scores are that head's softmax
    wav = tagger.load_audio(rows[0]["wav"]).unsqueeze(0)
    with torch.no_grad():
        feats, lens = tagger.pipeline.features(wav)
        tokens = tagger.pipeline.embed(feats, lens)
        cls_logits, dist_logits = tagger.mods.classifier.pair(tokens)
    for head, logits in (("cls", cls_logits), ("dist", dist_logits)):
        scores = tagger.use_head(head).scores_batch(wav)
        expected = logits.squeeze(1).softmax(-1)
        assert torch.allclose(scores, expected, atol=1e-5), head
    assert not torch.allclose(cls_logits, dist_logits)


def checkpoint_of_epoch(save_folder, epoch):
    for meta in save_folder.glob("CKPT+*/CKPT.yaml"):
        if re.search(rf"^epoch: {epoch}$", meta.read_text(), re.MULTILINE):
            return meta.parent
    raise AssertionError(f"no checkpoint of epoch {epoch} in {save_folder}")


def test_weight_average_is_validated_resumed_tested_and_exported(
    class_folders, tmp_path
):
    args = ("--data_folder", str(class_folders), "--weight_ema_epochs",
            "2", "--seed", "3")  # fmt: skip
    run = tmp_path / "exp" / "single"
    trained = []  # each epoch's trained weights, one resumed run each
    for epochs in (1, 2, 3):
        result = run_recipe(tmp_path, *args, epochs=epochs)
        assert result.returncode == 0, result.stderr[-3000:]
        latest = checkpoint_of_epoch(run / "save", epochs)
        trained.append({
            name: torch.load(latest / f"{name}.ckpt")
            for name in ("encoder", "classifier")
        })  # fmt: skip
    assert "averaged over about 2 epochs" in (run / "log.txt").read_text()
    stored = torch.load(latest / "weight_average.ckpt")
    averaged = {}
    for name in ("encoder", "classifier"):
        averaged[name] = {
            key[len(f"average.module.{name}.") :]: value
            for key, value in stored.items()
            if key.startswith(f"average.module.{name}.")
        }  # fmt: skip
        assert averaged[name].keys() == trained[2][name].keys()
        for key, value in averaged[name].items():
            first, second, third = (epoch[name][key] for epoch in trained)
            if not value.is_floating_point():
                continue
            # halfway toward each epoch's weights, across two resumptions
            expected = 0.5 * (0.5 * first + 0.5 * second) + 0.5 * third
            assert torch.allclose(value, expected, atol=1e-6), (name, key)
    assert not torch.allclose(
        averaged["encoder"]["patch_embed.image_proj.weight"],
        trained[2]["encoder"]["patch_embed.image_proj.weight"],
    )

    # validation scored the average: the recorded loss of epoch 3 is the
    # cross-entropy of the averaged weights on the validation clips
    tagger = AudioTagger.from_hparams(
        source=str(run / "model"), savedir=str(tmp_path / "t"),
        precision="fp32",
    )  # fmt: skip
    rows = read_rows(run / "save" / "valid.csv")
    assert 0 < len(rows) <= 4  # one batch: the loss is the mean over clips

    def validation_loss(weights):
        tagger.pipeline.bare_encoder.load_state_dict(weights["encoder"])
        tagger.pipeline.head.load_state_dict(weights["classifier"])
        losses = []
        for row in rows:
            scores = tagger.scores_batch(tagger.load_audio(row["wav"])[None])
            target = tagger.label_names.index(row["label"])
            losses.append(-float(torch.log(scores[0, target])))
        return sum(losses) / len(losses)

    lines = (run / "valid_metrics.jsonl").read_text().splitlines()
    metrics = [json.loads(line) for line in lines]
    recorded = [m["loss"] for m in metrics if m.get("epoch") == 3][-1]
    assert validation_loss(averaged) == pytest.approx(recorded, rel=1e-4)
    assert validation_loss(trained[2]) != pytest.approx(recorded, rel=1e-3)

    # the tested checkpoint's average is what the model folder holds
    exported = torch.load(run / "model" / "embedding_model.ckpt")
    tested = re.search(r"test accuracy: [\d.]+; ", result.stdout)
    assert tested, result.stdout[-2000:]
    averages = [
        torch.load(folder / "weight_average.ckpt")
        for folder in (run / "save").glob("CKPT+*")
    ]  # fmt: skip
    assert any(
        all(torch.equal(value, average[f"average.module.encoder.{key}"])
            for key, value in exported.items())
        for average in averages
    )  # fmt: skip
    card = (run / "model" / "README.md").read_text()
    assert "weight_ema_epochs" in card


def test_multi_label_table_with_grouped_folds(tmp_path):
    rows = []
    for speaker in range(6):
        for index, (labels, freqs) in enumerate([
            ("low", [300]), ("high", [4000]), ("low;high", [300, 4000]),
        ]):  # fmt: skip
            path = tmp_path / "clips" / f"s{speaker}_{index}.wav"
            tone(path, freqs[0], speaker * 10 + index)
            if len(freqs) > 1:
                audio, rate = soundfile.read(path)
                t = np.arange(len(audio)) / rate
                audio = audio + 0.3 * np.sin(2 * np.pi * freqs[1] * t)
                soundfile.write(path, audio.astype(np.float32), rate)
            rows.append([f"clips/{path.name}", labels, f"speaker{speaker}"])
    table = tmp_path / "labels.tsv"
    table.write_text(
        "file\ttags\tspeaker\n" + "\n".join("\t".join(r) for r in rows) + "\n"
    )
    result = run_recipe(
        tmp_path, "--table", str(table), "--path_column", "file",
        "--label_column", "tags", "--group_column", "speaker",
        "--n_folds", "2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2-fold cross-validation (mAP)" in result.stdout
    summary = json.loads(
        (tmp_path / "exp" / "cross_validation.json").read_text()
    )
    assert set(summary["last_epoch"]["per_fold"]) == {"1", "2"}
    for fold in ("fold1", "fold2"):
        save = tmp_path / "exp" / fold / "save"
        data = json.loads((save / "data_summary.json").read_text())
        assert data["multi_label"] and data["n_classes"] == 2
        speakers = {
            split: {os.path.basename(r["wav"]).split("_")[0]
                    for r in read_rows(save / f"{split}.csv")}
            for split in ("train", "test")
        }  # fmt: skip
        assert not speakers["train"] & speakers["test"]
        metrics = (tmp_path / "exp" / fold / "valid_metrics.jsonl").read_text()
        assert '"mAP"' in metrics

    # per-class thresholds calibrated on validation, used by the tagger
    model = tmp_path / "exp" / "fold1" / "model"
    tagger = AudioTagger.from_hparams(
        source=str(model), savedir=str(tmp_path / "t"), precision="fp32"
    )
    assert tagger.thresholds is not None and len(tagger.thresholds) == 2
    for path in sorted((tmp_path / "clips").iterdir())[:6]:
        result = tagger.tag_file(str(path), top_k=None)
        kept = dict(result.tags)
        for index, name in enumerate(tagger.label_names):
            above = result.scores[index] >= tagger.thresholds[index]
            assert (name in kept) == above
        everything = tagger.tag_file(str(path), top_k=None, threshold=0.0)
        assert len(everything.tags) == 2


def test_bad_input_is_refused_with_its_name(
    class_folders, tmp_path, monkeypatch, capsys
):
    (class_folders / "mid" / "notes.txt").write_text("not audio")
    result = refused_run(tmp_path, monkeypatch, capsys, "--data_folder",
                         str(class_folders))  # fmt: skip
    assert result.returncode == 2  # one short message, no traceback
    assert "1 files that are not audio" in result.stderr
    assert "Traceback" not in result.stderr
    assert "notes.txt" in result.stderr and "skip_other_files" in result.stderr
    result = run_recipe(
        tmp_path, "--data_folder", str(class_folders),
        "--skip_other_files", "true", epochs=1,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    report = tmp_path / "exp" / "single" / "save" / "data_report.txt"
    assert "notes.txt: files that are not audio" in report.read_text()

    def table(name, rows):
        path = tmp_path / name
        path.write_text("path,label\n" + "\n".join(rows) + "\n")
        return str(path)

    wav = {label: str(class_folders / label / f"{label}1.wav")
           for label in TONES}  # fmt: skip
    tables = [
        "--train_table", table("train.csv", [f"{wav['low']},low"]),
        "--valid_table", table("valid.csv", [f"{wav['mid']},low"]),
        "--test_table", table("test.csv", [f"{wav['high']},high"]),
    ]  # fmt: skip
    result = refused_run(tmp_path, monkeypatch, capsys, *tables)
    assert result.returncode == 2
    assert "classes only in valid or test, never trained on: high" in (
        result.stderr
    )
    result = refused_run(tmp_path, monkeypatch, capsys, "--table",
                         tables[1], "--data_folder",
                         str(class_folders))  # fmt: skip
    assert result.returncode != 0
    assert "give one of --data_folder" in result.stderr
    result = refused_run(tmp_path, monkeypatch, capsys, "--data_folder",
                         str(class_folders), "--skip_other_files", "true",
                         "--stem_kind", "time", "--patch_size", "[16,16]",
                         "--fstride", "10", "--tstride", "10")  # fmt: skip
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "stem_kind 'time' reads every mel bin of a frame: set " in (
        result.stderr
    )


def test_convnet_teacher_writes_logits_a_student_learns_from(
    class_folders, tmp_path
):
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "cnn_teacher.yaml"),
        "--data_folder", str(class_folders),
        "--experiment_folder", str(tmp_path / "teacher"),
        "--number_of_epochs", "1", "--batch_size", "4",
        "--teacher_draws", "2",
        # fbank noise and rolls in its draws, as its student below
        "--noise_scale", "0.1", "--noise_max_shift", "10",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    run = tmp_path / "teacher" / "single"
    assert (
        "not exported: a model folder holds an AST encoder"
        in (run / "log.txt").read_text()
    )
    train = read_rows(run / "save" / "train.csv")
    with np.load(run / "teacher_logits.npz") as stored:
        assert sorted(stored["ids"]) == sorted(r["ID"] for r in train)
        logits = stored["logits"]  # [clips, draws, classes]
    assert logits.shape == (len(train), 2, 3)
    assert not np.allclose(logits[:, 0], logits[:, 1])  # two draws
    student = [
        "--data_folder", str(class_folders),
        "--teacher", str(run / "teacher_logits.npz"),
        "--pooling", "mean_dist_pair", "--two_heads", "true",
        "--teacher_loss", "soft", "--teacher_online", "false",
        "--mixup_probability", "0",
        "--noise_scale", "0.1", "--noise_max_shift", "10",
    ]  # fmt: skip
    result = run_recipe(tmp_path, *student, "--teacher_draws", "2", epochs=1,
                        experiment="student")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    log = (tmp_path / "student" / "single" / "log.txt").read_text()
    assert "teacher outputs read from" in log and "ran on" not in log
    result = run_recipe(tmp_path, *student, "--teacher_draws", "3", epochs=1,
                        experiment="other")  # fmt: skip
    assert result.returncode != 0
    assert (
        "teacher_logits.npz: its teacher outputs were made with other draws: "
        "draws 2 (this run: 3)" in result.stdout + result.stderr
    )


def test_frame_level_head_gives_events(class_folders, tmp_path, capsys):
    result = run_recipe(tmp_path, "--data_folder", str(class_folders),
                        "--frame_level", "attention", "--pooling",
                        "time_steps", "--multi_label", "true",
                        epochs=2)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    model = tmp_path / "exp" / "single" / "model"
    assert (
        "ast_lobes.FrameLevelHead" in (model / "hyperparams.yaml").read_text()
    )
    tagger = AudioTagger.from_hparams(
        source=str(model), savedir=str(tmp_path / "t"), precision="fp32"
    )
    assert tagger.multi_label and tagger.thresholds is not None
    long = tmp_path / "long.wav"
    firsts = [sorted((class_folders / label).rglob("*.wav"))[0]
              for label in ("low", "high", "mid", "low")]  # fmt: skip
    parts = [soundfile.read(path)[0] for path in firsts]
    soundfile.write(long, np.concatenate(parts).astype(np.float32), 16000)
    events = detect_events(tagger, str(long), threshold=0.5)
    assert events.resolution == "frames"
    # one time step per patch column: cpu.yaml's tstride 2 frames of 10 ms
    assert np.allclose(np.diff(events.times), 0.02, atol=1e-6)
    assert events.scores.shape == (len(events.times), 3)
    for event in events.events:
        assert event["label"] in ("high", "low", "mid")
        assert 0 <= event["onset"] < event["offset"] <= 4.05
    windows = detect_events(tagger, str(long), resolution="windows", hop=0.25)
    assert windows.resolution == "windows"
    assert np.allclose(np.diff(windows.times), 0.25, atol=1e-6)

    from pretrained_interfaces.tag_cli import main as ast_tag

    code = ast_tag([str(long), "--model", str(model), "--events", "--json",
                    "--timeline", str(tmp_path / "pictures"),
                    "--precision", "fp32"])  # fmt: skip
    assert code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["results"][0]["file"] == str(long)
    assert isinstance(printed["results"][0]["events"], list)
    picture = tmp_path / "pictures" / "long.png"
    assert picture.read_bytes()[:4] == b"\x89PNG"
    from tagger_models import tagger_over

    from ast_lobes import AudioClassificationHead, AudioSpectrogramTransformer

    plain = tagger_over(
        AudioSpectrogramTransformer(model_size=None, embed_dim=16, depth=1,
                                    num_heads=2, target_length=100),
        AudioClassificationHead(16, 2), ["a", "b"], 100, precision=None,
    )  # fmt: skip
    with pytest.raises(ValueError, match="needs a model with a frame-level"):
        detect_events(plain, str(long), resolution="frames")


def test_five_folds_with_output_folder_run_in_five_folders(
    class_folders, tmp_path
):
    # the command a SpeechBrain user types by habit: --output_folder
    def five_folds(data, *extra):
        command = [
            sys.executable, os.path.join(RECIPE, "train.py"),
            os.path.join(RECIPE, "hparams", "cpu.yaml"),
            "--data_folder", str(data), "--n_folds", "5",
            "--output_folder", str(tmp_path / "runs" / "cv"),
            "--number_of_epochs", "1", "--batch_size", "4", *ALONE,
            *extra,
        ]  # fmt: skip
        return subprocess.run(command, capture_output=True, text=True,
                              cwd=tmp_path, timeout=600)  # fmt: skip

    result = five_folds(class_folders)
    assert result.returncode == 0, result.stderr[-3000:]
    root = tmp_path / "runs" / "cv"
    tested, own = [], {}
    for fold in range(1, 6):
        run = root / f"fold{fold}"
        tested += [r["wav"] for r in read_rows(run / "save" / "test.csv")]
        lines = (run / "valid_metrics.jsonl").read_text().splitlines()
        own[str(fold)] = json.loads(lines[-1])["accuracy"]
    assert len(tested) == len(set(tested)) == 25  # five disjoint test sets
    summary = json.loads((root / "cross_validation.json").read_text())
    assert summary["last_epoch"]["per_fold"] == pytest.approx(own)
    assert f"(written to {root / 'cross_validation.json'})" in result.stdout
    assert not (tmp_path / "results").exists()

    # other clips into the same folder: refused, naming what differs,
    # until the user asks to start over there
    other = tmp_path / "other"
    for label, freq in TONES.items():
        for index in range(6):
            tone(other / label / f"{label}{index}.wav", freq, 50 + index)
    before = sorted((root / "fold1" / "save").glob("CKPT+*"))
    result = five_folds(other)
    assert result.returncode == 2
    assert "fold1/save holds 1 checkpoint of another run" in result.stderr
    assert "the train split's clips or labels" in result.stderr
    assert sorted((root / "fold1" / "save").glob("CKPT+*")) == before
    result = five_folds(other, "--start_over", "true")
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted((root / "fold1" / "save").glob("CKPT+*")) != before


@pytest.mark.parametrize("option, message", [
    (["--save_folder", "s"], "--save_folder s with 3 folds would put"),
    (["--fold", "2"], "--fold: train.py sets the fold of each run"),
    (["--output_folder", "o", "--experiment_folder", "e"],
     "--output_folder and --experiment_folder with 3 folds"),
    (["--teacher_recipe", "nowhere.yaml"],
     "--teacher_recipe nowhere.yaml: no such YAML"),
    (["--folds", "[2,4]"], "--folds [2, 4]: give folds from 1 to 3"),
    (["--folds", "[1.5]"], "--folds [1.5]: give folds from 1 to 3"),
    (["--teacher_ecapa_channels", "[64,64]"],
     "--teacher_ecapa_channels [64, 64]: give 5 channel counts"),
    (["--teacher_ecapa_channels", "[60,64,64,64,192]"],
     "multiples of 8 from 8 to 4096"),
])  # fmt: skip
def test_options_that_would_mix_folds_are_refused(
    class_folders, tmp_path, monkeypatch, capsys, option, message
):
    from recipe_main import exit_status_of

    monkeypatch.chdir(tmp_path)
    argv = [
        os.path.join(RECIPE, "hparams", "cpu.yaml"),
        "--data_folder",
        class_folders,
        "--n_folds",
        "3",
        *option,
    ]
    script = os.path.join(RECIPE, "train.py")
    assert exit_status_of(script, argv, monkeypatch) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not any(tmp_path.glob("**/fold1"))  # refused before training


@pytest.mark.parametrize("option, message", [
    (["--teacher_online", "false", "--teacher_draws", "10"],
     "teacher: its stored outputs are for the clips as they are"),

    (["--patch_size", "[16,16]", "--fstride", "10"],
     "stem_kind 'time_image' reads every mel bin of a frame"),
    (["--weight_ema_epochs", "0.5"], "weight_ema_epochs is 0.5: the "
     "weights are averaged over a number of epochs, at least 1"),
])  # fmt: skip
def test_a_student_that_cannot_be_is_refused_before_its_teacher_trains(
    class_folders, tmp_path, monkeypatch, capsys, option, message
):
    from recipe_main import exit_status_of

    monkeypatch.chdir(tmp_path)
    argv = [os.path.join(RECIPE, "hparams", "cpu.yaml"), "--data_folder",
            str(class_folders), "--output_folder", "run", *option]  # fmt: skip
    script = os.path.join(RECIPE, "train.py")
    assert exit_status_of(script, argv, monkeypatch) == 2
    error = capsys.readouterr().err
    assert message in error and "Traceback" not in error
    assert not (tmp_path / "run" / "teacher").exists()


def test_stored_outputs_for_an_online_teacher_are_refused_in_one_line(
    class_folders, tmp_path, monkeypatch, capsys
):
    result = refused_run(tmp_path, monkeypatch, capsys, "--data_folder",
                         str(class_folders), "--teacher", "t.npz")  # fmt: skip
    assert result.returncode == 2
    assert (
        "\nerror: t.npz: an online teacher (teacher_online: true) runs on "
        "every training batch, so it is a model, not stored outputs"
    ) in "\n" + result.stderr, result.stderr[-2000:]  # a line of its own
    assert "Traceback" not in result.stderr


def test_a_data_folder_that_is_not_there_is_named(tmp_path, monkeypatch,
                                                   capsys):  # fmt: skip
    from recipe_main import exit_status_of

    monkeypatch.chdir(tmp_path)
    argv = [os.path.join(RECIPE, "hparams", "cpu.yaml"), "--data_folder",
            "nowhere", "--output_folder", "run", "--seed", "3"]  # fmt: skip
    script = os.path.join(RECIPE, "train.py")
    assert exit_status_of(script, argv, monkeypatch) == 2
    error = capsys.readouterr().err
    assert "--data_folder nowhere: no such folder" in error
    assert "Traceback" not in error
    assert not (tmp_path / "run" / "teacher").exists()


def test_the_check_before_the_teacher_takes_the_task_from_the_data(tmp_path):
    recipe = load_train_module()
    rows = []
    for index, freqs in enumerate([[300], [4000], [300, 4000]] * 4):
        path = tmp_path / "clips" / f"{index}.wav"
        tone(path, freqs[0], index)
        rows.append(f"clips/{path.name},{';'.join(map(str, freqs))}")
    table = tmp_path / "labels.csv"
    table.write_text("path,label\n" + "\n".join(rows) + "\n")
    yaml = os.path.join(RECIPE, "hparams", "cpu.yaml")
    # the documented frame-level preset without --multi_label and --loss:
    # a table of several labels a clip sets them
    overrides = {
        "table": str(table),
        "output_folder": str(tmp_path / "run"),
        "frame_level": "attention",
        "pooling": "time_steps",
    }
    plain = recipe.read_plain_hparams(yaml, overrides)
    recipe.check_student_settings(yaml, overrides, plain)
    assert not (tmp_path / "run" / "teacher").exists()
    with pytest.raises(ValueError, match="frame_level .* takes a token per"):
        overrides["pooling"] = "mean"
        recipe.check_student_settings(yaml, overrides, plain)


def test_the_seed_names_the_default_folders_and_folds_choose_the_runs(
    class_folders, tmp_path
):
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "cpu.yaml"), "--data_folder",
        str(class_folders), "--seed", "7", "--n_folds", "3",
        "--folds", "[3,1]", "--number_of_epochs", "1", *ALONE,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    root = tmp_path / "results" / "AudioFolder" / "cpu" / "7"
    assert (root / "fold1" / "valid_metrics.jsonl").is_file()
    assert not (root / "fold2").exists()
    assert (root / "fold3" / "valid_metrics.jsonl").is_file()
    summary = json.loads((root / "cross_validation.json").read_text())
    assert sorted(summary["last_epoch"]["per_fold"]) == ["1", "3"]
    assert "3-fold cross-validation (accuracy, folds [1, 3])" in result.stdout


def test_teacher_then_student_in_one_command_within_its_time_budget(
    class_folders, tmp_path
):
    budget_minutes = 0.5
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "cpu.yaml"),
        "--data_folder", str(class_folders),
        "--output_folder", str(tmp_path / "run"), "--batch_size", "4",
        "--time_budget", str(budget_minutes), "--number_of_epochs", "500",
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)  # fmt: skip
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.splitlines()
    stages = [line for line in lines if line.startswith("stage ")]
    assert stages[0].startswith("stage 1 of 2: the teacher (cnn_teacher.yaml)")
    assert stages[1].startswith("stage 1 of 2 done in ")
    assert stages[2].startswith("stage 2 of 2: the student (cpu.yaml)")
    # The budget counts from the recipe's start (after Python's imports):
    # the whole command may take those and the export on top.
    assert seconds < 60 * budget_minutes + 45, seconds
    teacher_log = (tmp_path / "run" / "teacher" / "log.txt").read_text()
    student_log = (tmp_path / "run" / "log.txt").read_text()
    # the plan fits the minutes: at most 4 x the YAML's epochs (the
    # teacher's 30 may grow), and the student's 500 do not fit in half a minute
    for log, most in ((teacher_log, 4 * 30), (student_log, 500 - 1)):
        plan = re.search(r"time budget [0-9.]+ min: .* (\d+) epochs fit", log)
        assert plan, log[-2000:]
        assert 1 <= int(plan.group(1)) <= most
    assert "the teacher runs online on every training batch" in student_log
    clip = class_folders / "high" / "high1.wav"
    tagged = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ast-tag"), str(clip),
         "--model", str(tmp_path / "run" / "model"), "--top", "3"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tagged.returncode == 0, tagged.stderr[-3000:]
    assert {"high", "low", "mid"} <= set(re.findall(r"[a-z]+", tagged.stdout))


def test_a_student_of_an_online_teacher_learns_mixed_clips_in_one_command(
    class_folders, tmp_path
):
    result = run_recipe(
        tmp_path, "--data_folder", str(class_folders),
        "--teacher_recipe", "cnn_teacher.yaml", "--teacher_online", "true",
        "--teacher_draws", "0", "--mixup_probability", "0.5",
        "--teacher_ecapa_channels", "[16,16,16,16,48]",
        "--output_folder", str(tmp_path / "run"),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # the teacher of the channels the student's command gave
    (saved,) = (tmp_path / "run" / "teacher" / "save").glob("CKPT+*")
    state = torch.load(saved / "encoder.ckpt", weights_only=True)
    assert state["blocks.0.conv.conv.weight"].shape[0] == 16
    assert state["mfa.conv.conv.weight"].shape[0] == 48
    student_log = (tmp_path / "run" / "log.txt").read_text()
    assert "the teacher runs online on every training batch" in student_log
    assert "training stages: mixup on" in student_log
    assert "teacher outputs read from" not in student_log
    with np.load(tmp_path / "run" / "teacher" / "teacher_logits.npz") as data:
        assert data["logits"].shape[1] == 1  # the clean clips only
    tagged = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ast-tag"),
         str(class_folders / "low" / "low2.wav"),
         "--model", str(tmp_path / "run" / "model")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tagged.returncode == 0, tagged.stderr[-3000:]


def test_a_shard_folder_is_written_once_and_trained_from(
    class_folders, tmp_path
):
    shards = tmp_path / "shards"
    options = ("--data_folder", str(class_folders), "--train_shards",
               str(shards), "--clips_per_shard", "4")  # fmt: skip
    result = run_recipe(tmp_path, *options, epochs=1)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy: " in result.stdout
    run = tmp_path / "exp" / "single"
    train = read_rows(run / "save" / "train.csv")
    index = json.loads((shards / "shards.json").read_text())
    assert index["clips"] == len(train)
    assert [s["clips"] for s in index["shards"]][:-1] == [4] * (
        len(index["shards"]) - 1
    )
    written = {s["name"]: (shards / s["name"]).stat().st_mtime_ns
               for s in index["shards"]}  # fmt: skip
    again = run_recipe(tmp_path, *options, epochs=2)  # resumes at epoch 2
    assert again.returncode == 0, again.stderr[-3000:]
    assert written == {name: (shards / name).stat().st_mtime_ns
                       for name in written}  # fmt: skip
    log = (run / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in log if line.startswith("epoch")] == [
        "epoch: 1", "epoch: 2",
    ]  # fmt: skip
    assert (run / "model" / "hyperparams.yaml").is_file()


def test_split_seed_holds_the_split_while_the_seed_moves(
    class_folders, tmp_path
):
    recipe = load_train_module()
    yaml = os.path.join(RECIPE, "hparams", "cpu.yaml")

    def split(name, **seeds):
        overrides = {"data_folder": str(class_folders), "valid_share": 0.25,
                     "test_share": 0.25, "output_folder": str(tmp_path / name),
                     **seeds}  # fmt: skip
        options, _ = recipe.prepare_data(
            recipe.read_plain_hparams(yaml, overrides)
        )
        return {
            part: sorted(row["wav"] for row in read_rows(
                os.path.join(options["save_folder"], f"{part}.csv")))
            for part in ("valid", "test")
        }  # fmt: skip

    held = split("held", seed=1, split_seed=5)
    assert split("moved", seed=2, split_seed=5) == held
    assert split("plain", seed=5) == held  # null: the seed's split
    assert split("other", seed=1) != held
    with pytest.raises(recipe.RecipeOptionError, match="--split_seed 'abc'"):
        split("bad", split_seed="abc")


def test_two_processes_killed_at_a_random_step_resume_to_the_same_weights(
    class_folders, tmp_path
):
    """As the AudioSet recipe's test: every process of a two-process run
    killed at a random step, the same command ends with the weights of a
    run never stopped (which checkpoints at every step), bit for bit."""
    import random

    sys.path.insert(0, os.path.join(ROOT, "recipes", "AudioSet"))
    from kill_resume import (
        differing_tensors,
        kill_every_process,
        launcher,
        model_tensors,
        run_and_kill,
    )

    def command(name, interval):
        return [
            *launcher(2), os.path.join(RECIPE, "train.py"),
            os.path.join(RECIPE, "hparams", "cpu.yaml"),
            "--data_folder", str(class_folders),
            "--output_folder", str(tmp_path / name), *ALONE,
            "--number_of_epochs", "2", "--batch_size", "2",
            "--ckpt_interval_steps", interval,
            "--distributed_backend", "gloo", "--device", "cpu",
        ]  # fmt: skip

    def run_to_end(name, interval):
        process = subprocess.Popen(
            command(name, interval), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, cwd=tmp_path,
        )  # fmt: skip
        try:
            output, _ = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            kill_every_process(process)
            pytest.fail(f"{name}: no end in 600 s (hung?)")
        assert process.returncode == 0, output[-4000:]
        return model_tensors(str(tmp_path / name / "model"))

    seed = random.randrange(10**6)
    rng = random.Random(seed)
    whole = run_to_end("whole", "1")
    outcome = run_and_kill(
        command("killed", "2"), str(tmp_path / "killed" / "save"),
        rng.uniform(0, 0.1), rng.randint(1, 3), str(tmp_path / "killed.log"),
    )  # fmt: skip
    assert outcome == "killed", f"ended before its kill (seed {seed})"
    killed = run_to_end("killed", "2")
    log = (tmp_path / "killed" / "log.txt").read_text()
    assert len(re.findall(r"resumed at step \d+ of epoch \d", log)) == 1, seed
    assert differing_tensors(whole, killed) == [], seed


def test_a_file_replaced_at_its_path_makes_the_checkpoints_another_runs(
    class_folders, tmp_path, monkeypatch, capsys
):
    """One clip's file replaced by another sound of the same length (the
    manifests stay as they were): the next run does not go on from the
    checkpoint made from the old audio."""
    args = ("--data_folder", str(class_folders))
    result = run_recipe(tmp_path, *args, epochs=1)
    assert result.returncode == 0, result.stderr[-3000:]
    tone(class_folders / "low" / "low1.wav", TONES["high"], 1)
    result = refused_run(tmp_path, monkeypatch, capsys, *args)
    assert result.returncode == 2
    assert "checkpoint of another run" in result.stderr
    assert "split's audio files" in result.stderr
    assert "Traceback" not in result.stderr

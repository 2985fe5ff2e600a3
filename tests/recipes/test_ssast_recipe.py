"""The SSAST pretraining recipe end to end on generated audio: long files
and a file list cut into clips, bad audio named, losses logged, an
interrupted run resumed, and the pretrained encoder starting a
fine-tuning recipe with no missing or unexpected weights."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
PRETRAIN = os.path.join(ROOT, "recipes", "SSAST", "pretrain.py")
HPARAMS = os.path.join(ROOT, "recipes", "SSAST", "hparams", "cpu.yaml")


def write_noise(path, seconds, seed, rate=16000):
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    wave = 0.2 * np.sin(2 * np.pi * (300 + 200 * seed) * t)
    wave = wave + 0.05 * rng.normal(size=t.shape)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, wave.astype(np.float32), rate)


def pretrain_args(tmp_path, *args, epochs=1):
    return [
        HPARAMS, "--experiment_folder", str(tmp_path / "exp"),
        "--number_of_epochs", str(epochs), "--batch_size", "4",
        "--warmup_steps", "0", *args,
    ]  # fmt: skip


def pretrain(tmp_path, *args, epochs=1):
    return subprocess.run(
        [sys.executable, PRETRAIN, *pretrain_args(tmp_path, *args,
                                                  epochs=epochs)],
        capture_output=True, text=True, cwd=tmp_path, timeout=600,
    )  # fmt: skip


def refused(tmp_path, monkeypatch, capsys, *args):
    """A run of ``pretrain``'s arguments refused before it trains, in this
    process."""
    from recipe_main import run_in_process

    monkeypatch.chdir(tmp_path)
    return run_in_process(PRETRAIN, pretrain_args(tmp_path, *args),
                          monkeypatch, capsys)  # fmt: skip


@pytest.fixture
def unlabelled(tmp_path):
    folder = tmp_path / "field_recordings"
    for index, seconds in enumerate([3.3, 2.0, 1.2, 4.0]):
        write_noise(folder / f"site{index % 2}" / f"rec{index}.flac",
                    seconds, index)  # fmt: skip
    listed = tmp_path / "more.txt"
    write_noise(tmp_path / "extra" / "long.wav", 2.6, 9)
    listed.write_text("# one file\nextra/long.wav\n")
    return folder, listed


def test_pretrain_resume_and_fine_tune(unlabelled, tmp_path):
    folder, listed = unlabelled
    sources = f"[{folder}, {listed}]"
    result = pretrain(tmp_path, "--unlabelled", sources, epochs=1)
    assert result.returncode == 0, result.stderr[-3000:]
    exp = tmp_path / "exp"
    summary = json.loads((exp / "save" / "data_summary.json").read_text())
    # 3.3 s -> 1 + 1 + 1 + 0.3 (dropped); 2.0 -> 2; 1.2 -> 1 (0.2 dropped);
    # 4.0 -> 4; 2.6 -> 2 + 0.6: 13 clips, 5 files
    assert sum(summary["clips"].values()) == 13 and summary["files"] == 5
    log = (exp / "train_log.txt").read_text()
    for key in ("train discriminative", "train generative",
                "valid accuracy"):  # fmt: skip
        assert key in log
    assert (exp / "encoder" / "encoder.ckpt").is_file()

    result = pretrain(tmp_path, "--unlabelled", sources, epochs=2)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = (exp / "train_log.txt").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch: 1", "epoch: 2"]

    # a fine-tuning recipe starts from it (other strides and frames)
    classes = tmp_path / "classes"
    for label, seeds in (("a", range(0, 6)), ("b", range(6, 12))):
        for seed in seeds:
            write_noise(classes / label / f"{seed}.wav", 1.0, seed % 2 * 5)
    command = [
        sys.executable, os.path.join(ROOT, "recipes", "AudioFolder",
                                     "train.py"),
        os.path.join(ROOT, "recipes", "AudioFolder", "hparams", "cpu.yaml"),
        "--data_folder", str(classes), "--number_of_epochs", "1",
        "--batch_size", "4", "--experiment_folder", str(tmp_path / "tuned"),
        "--ssast_weights", str(exp / "encoder"), "--teacher_recipe", "null",
        # the patches SSAST's cpu.yaml pretrains, without a stem
        "--stem_channels", "0", "--patch_size", "[16,16]", "--fstride", "10",
        "--tstride", "10",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True,
                            cwd=tmp_path, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout

    # a fine-tuned size that does not fit is refused with the file named
    result = subprocess.run(command + ["--embed_dim", "32"],
                            capture_output=True, text=True, cwd=tmp_path,
                            timeout=600)  # fmt: skip
    assert result.returncode != 0
    assert "the pretrained encoder differs in embed_dim 64 (here 32)" in (
        result.stdout + result.stderr
    )


def test_bad_audio_and_missing_sources_are_named(
    unlabelled, tmp_path, monkeypatch, capsys
):
    folder, _ = unlabelled
    (folder / "broken.wav").write_bytes(b"RIFF0000WAVEjunk")
    result = refused(tmp_path, monkeypatch, capsys, "--unlabelled",
                     f"[{folder}]")  # fmt: skip
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "1 unreadable audio files" in output and "broken.wav" in output
    result = pretrain(tmp_path, "--unlabelled", f"[{folder}]",
                      "--skip_bad_files", "true")  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(
        (tmp_path / "exp" / "save" / "data_summary.json").read_text()
    )
    assert (
        len(summary["skipped"]) == 1 and "broken.wav" in summary["skipped"][0]
    )
    result = refused(tmp_path, monkeypatch, capsys, "--unlabelled",
                     f"[{tmp_path / 'nowhere'}]")  # fmt: skip
    assert result.returncode != 0
    assert "nowhere: no such folder or file list" in (
        result.stdout + result.stderr
    )

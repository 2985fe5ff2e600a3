"""The AudioFolder transfer preset (``cpu_transfer.yaml``) end to end on
generated tones, from a model folder exported in the test: stored
outputs reused by a second run, the export tagged by ``ast-tag`` with
the source's embeddings, tuned blocks on a multi-label table, and bad
input refused in one line."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import torch
from tagger_models import export_small_source

from ast_lobes import load_model_source

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
RECIPE = os.path.join(ROOT, "recipes", "AudioFolder")
AST_TAG = os.path.join(os.path.dirname(sys.executable), "ast-tag")
TONES = {"low": 300, "mid": 1200, "high": 4000}
# a small head grid and few epochs, in fp32 (compared with the source)
QUICK = ("--head_epochs", "8", "--head_weight_decays", "[0.01]",
         "--head_dropouts", "[0.0, 0.5]", "--encoder_precision", "fp32",
         "--target_length", "100")  # fmt: skip


def tone(path, freqs, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(16000) / 16000
    wave = sum(0.3 * np.sin(2 * np.pi * f * (1 + 0.03 * rng.normal()) * t)
               for f in freqs)  # fmt: skip
    wave = wave + 0.02 * rng.normal(size=t.shape)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    soundfile.write(path, wave.astype(np.float32), 16000)


@pytest.fixture
def source(tmp_path):
    """A model folder of a 2-block AST (cls_dist) exported here."""
    folder = tmp_path / "source"
    export_small_source(folder, 2, 100, ("x", "y"))
    return str(folder)


def run_transfer(tmp_path, *args):
    command = [
        sys.executable, os.path.join(RECIPE, "train.py"),
        os.path.join(RECIPE, "hparams", "cpu_transfer.yaml"), *args,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, cwd=tmp_path, timeout=600
    )


def test_frozen_transfer_reuses_its_store_and_exports_the_source(
    source, tmp_path
):
    for label, freq in TONES.items():
        for index in range(8):
            tone(tmp_path / "sounds" / label / f"{label}{index}.wav", [freq],
                 index)  # fmt: skip
    args = (
        "--data_folder",
        "sounds",
        "--pretrained",
        source,
        "--output_folder",
        "run",
        "--block_weights",
        "false",
        *QUICK,
    )
    first = run_transfer(tmp_path, *args)
    assert first.returncode == 0, first.stderr[-3000:]
    log = (tmp_path / "run" / "log.txt").read_text()
    assert re.search(
        r"encoder outputs of the train split: \d+ of \d+ clips, "
        r"[\d.]+ clips/s, about [\d.]+ min left",
        log,
    )
    chosen = json.loads((tmp_path / "run" / "heads.json").read_text())
    assert len(chosen["candidates"]) == 2
    store = tmp_path / "run" / "features" / "train.pooled.npy"
    written = store.stat().st_mtime_ns
    model = tmp_path / "run" / "model"
    exported = (model / "model.safetensors").read_bytes()
    tested = re.search(r"test accuracy: ([\d.]+); ", first.stdout)[1]

    again = run_transfer(tmp_path, *args, "--tune_blocks", "0")
    assert again.returncode == 0, again.stderr[-3000:]
    assert store.stat().st_mtime_ns == written  # reused, not recomputed
    log = (tmp_path / "run" / "log.txt").read_text()
    assert log.count("storing the encoder's outputs") == 1
    assert f"test accuracy: {tested};" in again.stdout
    assert (model / "model.safetensors").read_bytes() == exported

    clip = tmp_path / "sounds" / "high" / "high3.wav"
    tagged = subprocess.run(
        [AST_TAG, str(clip), "--model", str(model), "--top", "3"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tagged.returncode == 0, tagged.stderr[-3000:]
    assert {"high", "low", "mid"} <= set(re.findall(r"[a-z]+", tagged.stdout))
    # the export's embeddings (ast-tag) are the source's (its own tagger)
    from pretrained_interfaces import AudioTagger
    from pretrained_interfaces.embeddings import embed_file

    out = tmp_path / "ours.npz"
    embedded = subprocess.run(
        [AST_TAG, str(clip), "--model", str(model), "--precision", "fp32",
         "--embeddings", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert embedded.returncode == 0, embedded.stderr[-3000:]
    theirs = embed_file(AudioTagger.from_source(source, precision="fp32"),
                        str(clip))  # fmt: skip
    with np.load(out) as ours:
        np.testing.assert_allclose(ours["clip"][0], theirs.clip, atol=1e-5)
        np.testing.assert_allclose(ours["window"], theirs.window_embeddings,
                                   atol=1e-5)  # fmt: skip
    description = json.loads((model / "model.json").read_text())
    assert description["normalization"] == [-5.0, 3.5]
    assert "head_weight_decay" in (model / "README.md").read_text()


def test_tuned_blocks_on_a_multi_label_table(source, tmp_path):
    rows = []
    for group in range(6):
        for index, (labels, freqs) in enumerate([
            ("low", [300]), ("high", [4000]), ("low;high", [300, 4000]),
        ]):  # fmt: skip
            path = tmp_path / "clips" / f"g{group}_{index}.wav"
            tone(path, freqs, group * 10 + index)
            rows.append(f"clips/{path.name},{labels},g{group}")
    table = tmp_path / "tags.csv"
    table.write_text("path,label,group\n" + "\n".join(rows) + "\n")
    result = run_transfer(
        tmp_path, "--table", str(table), "--group_column", "group",
        "--pretrained", source, "--output_folder", "run", "--tune_blocks",
        "1", "--number_of_epochs", "2", "--mixup_probability", "0.5",
        "--valid_share", "0.34", "--test_share", "0.34", *QUICK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test mAP: " in result.stdout
    tokens = np.load(tmp_path / "run" / "features" / "train.tokens.npy")
    assert tokens.shape[1:] == (2 + 8 * 6, 32)  # entering block 2 of 2
    model = load_model_source(str(tmp_path / "run" / "model"))
    start = load_model_source(source)
    assert model.multi_label and len(model.thresholds) == 2
    assert model.pipeline.bare_encoder.pooling == "blocks_cls_dist"
    tuned, kept = model.pipeline.bare_encoder, start.pipeline.bare_encoder
    assert torch.equal(tuned.blocks[0].attn.qkv.weight,
                       kept.blocks[0].attn.qkv.weight)  # fmt: skip
    assert not torch.equal(tuned.blocks[1].attn.qkv.weight,
                           kept.blocks[1].attn.qkv.weight)  # fmt: skip
    tagged = subprocess.run(
        [AST_TAG, str(tmp_path / "clips" / "g0_2.wav"), "--model",
         str(tmp_path / "run" / "model")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert tagged.returncode == 0, tagged.stderr[-3000:]
    # SpeechBrain's own loader and the tagger give the model's scores
    from speechbrain.inference.classifiers import EncoderClassifier

    from pretrained_interfaces import AudioTagger

    wav = torch.from_numpy(
        soundfile.read(tmp_path / "clips" / "g0_2.wav")[0]
    ).float()[None]
    with torch.no_grad():
        expected = model.pipeline(wav)
    classifier = EncoderClassifier.from_hparams(
        source=str(tmp_path / "run" / "model"), savedir=str(tmp_path / "sb")
    )
    out = classifier.classify_batch(wav)[0].reshape(1, -1)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)
    tagger = AudioTagger.from_hparams(
        source=str(tmp_path / "run" / "model"),
        savedir=str(tmp_path / "tagger"), precision="fp32",
    )  # fmt: skip
    torch.testing.assert_close(tagger.scores_batch(wav),
                               torch.sigmoid(expected), atol=1e-5,
                               rtol=0)  # fmt: skip


@pytest.mark.parametrize("args, message", [
    ((), r"error: --pretrained: give the model to start from"),
    (("--pretrained", "nowhere"), r"error: nowhere: no such file or "
     r"directory, and not a published checkpoint name"),
    (("--pretrained", "SOURCE", "--norm_mean", "0"), r"error: --norm_mean: a "
     r"transfer keeps the encoder's size and front end"),
    (("--pretrained", "SOURCE", "--tune_blocks", "3"), r"error: --tune_blocks "
     r"3: give a number of blocks from 0 \(the head alone\) to 2"),
])  # fmt: skip
def test_bad_input_is_one_line(
    source, tmp_path, monkeypatch, capsys, args, message
):
    from recipe_main import run_in_process

    for label in ("low", "high"):
        for index in range(4):
            tone(tmp_path / "sounds" / label / f"{index}.wav",
                 [TONES[label]], index)  # fmt: skip
    args = [source if arg == "SOURCE" else arg for arg in args]
    monkeypatch.chdir(tmp_path)
    result = run_in_process(
        os.path.join(RECIPE, "train.py"),
        [os.path.join(RECIPE, "hparams", "cpu_transfer.yaml"), "--data_folder",
         "sounds", "--output_folder", "run", *args],
        monkeypatch, capsys,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    assert re.search(message, result.stderr), result.stderr[-3000:]
    assert len(result.stderr.strip().splitlines()) == 2  # and where it is

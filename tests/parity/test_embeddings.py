"""Embeddings from the tagger, the command line and the HEAR API: the
clip vector is what the classifier sees, time steps have the documented
shape and times, and the HEAR 2021 API passes the rules its validator
(hearvalidator) checks, on an exported model and a Hugging Face AST."""

import os

import numpy as np
import pytest
import soundfile
import torch
from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes import (
    AudioClassificationHead,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    FbankNormalization,
    KaldiFbank,
    export_classifier,
)
from pretrained_interfaces import hear
from pretrained_interfaces.audio_tagger import AudioTagger
from pretrained_interfaces.embeddings import embed_batch, embed_file
from pretrained_interfaces.tag_cli import main as ast_tag


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    torch.manual_seed(0)
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=100), FbankNormalization("esc50"),
        AudioSpectrogramTransformer(
            model_size=None, embed_dim=32, depth=1, num_heads=2,
            target_length=100, fstride=10, tstride=10, pooling="mean",
        ),
        AudioClassificationHead(32, 3),
    ).eval()  # fmt: skip
    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b", "c"])
    folder = tmp_path_factory.mktemp("model")
    export_classifier(str(folder), pipeline, labels)
    return folder


@pytest.fixture(scope="module")
def tagger(model_folder, tmp_path_factory):
    return AudioTagger.from_hparams(
        source=str(model_folder),
        savedir=str(tmp_path_factory.mktemp("loaded")),
        precision="fp32",
    )


def test_clip_embedding_is_what_the_classifier_sees(tagger):
    wavs = torch.randn(2, 16000, generator=torch.Generator().manual_seed(1))
    embeddings = embed_batch(tagger, wavs * 0.1)
    mods = tagger.mods
    with torch.no_grad():
        feats = mods.mean_var_norm(mods.compute_features(wavs * 0.1))
        pooled = mods.embedding_model(feats).squeeze(1)
        logits = mods.classifier(embeddings.unsqueeze(1)).squeeze(1)
    assert embeddings.shape == (2, 32)
    assert torch.allclose(embeddings, pooled, atol=1e-6)
    scores = tagger.scores_batch(wavs * 0.1)
    assert not tagger.multi_label
    assert torch.allclose(logits.softmax(-1), scores, atol=1e-6)


def test_time_steps_shape_times_and_values(tagger):
    wav = torch.randn(1, 8000, generator=torch.Generator().manual_seed(2))
    [(steps, times)] = embed_batch(tagger, wav, time_steps=True)
    # 0.5 s: 48 frames; patches of 16 frames at stride 10 end at frame
    # 16, 26, 36, 46 inside them: 4 steps, centred at 87.5 ms + k 100 ms
    assert steps.shape == (4, 32)
    assert np.allclose(times, 0.0875 + 0.1 * np.arange(4))
    mods = tagger.mods
    with torch.no_grad():
        feats = mods.mean_var_norm(mods.compute_features(wav))
        tokens = mods.embedding_model(feats, all_tokens=True)[0, 2:]
    grid = tokens.reshape(12, 9, 32)  # 12 frequency rows, 9 time columns
    assert np.allclose(steps, grid.mean(0)[:4].numpy(), atol=1e-6)


def test_long_file_windows_and_evenly_spaced_steps(tagger, tmp_path):
    path = tmp_path / "long.wav"
    rng = np.random.default_rng(3)
    soundfile.write(path, (0.1 * rng.normal(size=56000)).astype(np.float32),
                    16000)  # fmt: skip
    result = embed_file(tagger, str(path), time_steps=True)
    assert np.allclose(np.diff(result.step_times), 0.1, atol=1e-6)
    assert result.step_times[0] == pytest.approx(0.0875)
    assert 3.5 - 0.2 <= result.step_times[-1] <= 3.5
    assert np.allclose(result.clip, result.window_embeddings.mean(axis=0))
    plain = embed_file(tagger, str(path))
    first = torch.from_numpy(soundfile.read(path, dtype="float32")[0])
    window = round(tagger.window_seconds * 16000)
    expected = embed_batch(tagger, first[None, :window])[0].numpy()
    assert np.allclose(plain.window_embeddings[0], expected, atol=1e-6)
    # one encoder pass gives both: the same pooled vector with time steps
    assert np.allclose(result.window_embeddings[0], expected, atol=1e-5)
    assert [round(s, 3) for s, _ in plain.windows] == [0.0, 1.015, 2.03,
                                                       2.485]  # fmt: skip


def test_ast_tag_writes_embeddings(model_folder, tmp_path):
    clips = []
    for index, seconds in enumerate([1.0, 2.5]):
        clips.append(tmp_path / f"clip{index}.wav")
        soundfile.write(clips[-1], np.zeros(int(16000 * seconds)) + 0.01 *
                        index, 16000)  # fmt: skip
    (tmp_path / "bad.wav").write_bytes(b"junk")
    out = tmp_path / "emb.npz"
    code = ast_tag([str(tmp_path), "--model", str(model_folder),
                    "--embeddings", str(out), "--time-steps",
                    "--precision", "fp32"])  # fmt: skip
    assert code == 1  # the bad file, reported; the others written
    with np.load(out) as saved:
        assert [os.path.basename(f) for f in saved["files"]] == [
            "clip0.wav", "clip1.wav"]  # fmt: skip
        assert saved["clip"].shape == (2, 32)
        assert saved["window"].shape[0] == len(saved["window_start"])
        assert saved["step"].shape == (len(saved["step_time"]), 32)
        assert set(saved["step_file"].tolist()) == {0, 1}


def check_hear_rules(module, model_path):
    """The rules hearvalidator (hearbenchmark/hear-validator) checks."""
    model = module.load_model(model_path)
    assert isinstance(model, torch.nn.Module)
    model.to("cpu")
    assert model.sample_rate in (16000, 22050, 44100, 48000)
    assert isinstance(model.scene_embedding_size, int)
    assert isinstance(model.timestamp_embedding_size, int)
    for length in (1.07, 1.98, 4.0):
        audio = torch.rand(2, int(length * model.sample_rate)) * 2 - 1
        embeddings, timestamps = module.get_timestamp_embeddings(audio, model)
        assert embeddings.dtype == torch.float32
        embeddings, timestamps = embeddings.numpy(), timestamps.numpy()
        assert embeddings.ndim == 3 and timestamps.ndim == 2
        assert embeddings.shape[0] == 2
        assert embeddings.shape[:2] == timestamps.shape
        assert embeddings.shape[2] == model.timestamp_embedding_size
        assert timestamps.shape[1] > 1
        diff = np.diff(timestamps)
        average = diff.mean()
        assert np.max(np.abs(diff - average)) <= 1  # regular, within 1 ms
        assert timestamps.max() >= 1000 * length - 2 * average
        assert timestamps.max() <= 1000 * length
        assert timestamps.min() <= average  # the validator warns otherwise
    audio = torch.rand(4, int(2.74 * model.sample_rate)) * 2 - 1
    embeddings = module.get_scene_embeddings(audio, model)
    assert embeddings.dtype == torch.float32
    assert tuple(embeddings.shape) == (4, model.scene_embedding_size)


def test_hear_api_on_an_exported_model(model_folder):
    check_hear_rules(hear, str(model_folder))


def test_hear_api_on_a_hugging_face_ast(hf_speechcommands_dir):
    path, _ = hf_speechcommands_dir
    check_hear_rules(hear, str(path))
    model = hear.load_model(str(path))
    assert model.scene_embedding_size == 64


def test_ast_tag_head_choice_needs_a_distilled_model(model_folder, tmp_path,
                                                     capsys):  # fmt: skip
    clip = tmp_path / "clip.wav"
    soundfile.write(clip, np.zeros(16000, dtype=np.float32), 16000)
    code = ast_tag([str(clip), "--model", str(model_folder), "--head", "cls",
                    "--precision", "fp32"])  # fmt: skip
    assert code == 2
    assert "this model has one head" in capsys.readouterr().err

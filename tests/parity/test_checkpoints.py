"""Published-checkpoint loading, checked against Hugging Face's AST."""

import json
import shutil

import pytest
import torch
from checkpoint_formats import to_original_format
from safetensors.torch import load_file, save_file

from ast_lobes import CheckpointError
from ast_lobes.weights.published import load_ast_checkpoint


def hf_logits(model, fbank):
    with torch.no_grad():
        return model(input_values=fbank).logits


def our_logits(encoder, classifier, fbank):
    with torch.no_grad():
        return classifier(encoder(fbank)).squeeze(1)


def test_hf_audioset_logits_match(hf_audioset_dir):
    path, model = hf_audioset_dir
    encoder, classifier = load_ast_checkpoint(str(path))
    fbank = torch.randn(2, 1024, 128)
    ours = our_logits(encoder, classifier, fbank)
    assert ours.shape == (2, 527)
    torch.testing.assert_close(ours, hf_logits(model, fbank), atol=1e-4, rtol=0)


def test_hf_speechcommands_logits_and_labels(hf_speechcommands_dir):
    path, model = hf_speechcommands_dir
    encoder, classifier = load_ast_checkpoint(str(path))
    fbank = torch.randn(3, 128, 128)
    torch.testing.assert_close(
        our_logits(encoder, classifier, fbank),
        hf_logits(model, fbank),
        atol=1e-4,
        rtol=0,
    )
    assert classifier.labels[:2] == ["word0", "word1"]
    assert len(classifier.labels) == 35


def test_transformers5_key_names(hf_speechcommands_dir, tmp_path):
    path, model = hf_speechcommands_dir
    state = model.state_dict()
    assert any(".layers.0.attention.q_proj." in key for key in state)
    save_file(
        {k: v.contiguous() for k, v in state.items()},
        tmp_path / "model.safetensors",
    )
    shutil.copy(path / "config.json", tmp_path / "config.json")
    encoder, classifier = load_ast_checkpoint(str(tmp_path))
    fbank = torch.randn(2, 128, 128)
    torch.testing.assert_close(
        our_logits(encoder, classifier, fbank),
        hf_logits(model, fbank),
        atol=1e-4,
        rtol=0,
    )


def test_original_pth_format(hf_audioset_dir, tmp_path):
    path, model = hf_audioset_dir
    hf_state = load_file(path / "model.safetensors")
    original = tmp_path / "audioset_10_10_0.1234.pth"
    torch.save(to_original_format(hf_state), original)
    # heads cannot be read off the shapes; the DeiT rule dim // 64 gives 1
    encoder, classifier = load_ast_checkpoint(str(original), num_heads=4)
    assert encoder.grid == (12, 101)
    fbank = torch.randn(2, 1024, 128)
    torch.testing.assert_close(
        our_logits(encoder, classifier, fbank),
        hf_logits(model, fbank),
        atol=1e-4,
        rtol=0,
    )


def test_other_grid_adapts_position_embedding(hf_audioset_dir):
    path, model = hf_audioset_dir
    encoder, _ = load_ast_checkpoint(str(path), target_length=512, tstride=16)
    assert encoder.grid == (12, 32)  # (512 - 16) // 16 + 1
    hf_pos = model.state_dict()[
        "audio_spectrogram_transformer.embeddings.position_embeddings"
    ]
    grid = hf_pos[:, 2:].reshape(1, 12, 101, 96)
    expected = grid[:, :, 50 - 16 : 50 - 16 + 32].reshape(1, 12 * 32, 96)
    torch.testing.assert_close(encoder.pos_embed.data[:, 2:], expected)
    torch.testing.assert_close(encoder.pos_embed.data[:, :2], hf_pos[:, :2])
    assert encoder(torch.randn(1, 512, 128)).shape == (1, 1, 96)


def test_fewer_mel_bins_and_longer_input(hf_speechcommands_dir):
    path, _ = hf_speechcommands_dir
    encoder, classifier = load_ast_checkpoint(
        str(path), input_fdim=64, target_length=256
    )
    assert encoder.grid == (5, 25)
    assert classifier(encoder(torch.randn(1, 256, 64))).shape == (1, 1, 35)


def test_wrong_shapes_name_the_file(hf_audioset_dir, tmp_path):
    path, _ = hf_audioset_dir
    state = to_original_format(load_file(path / "model.safetensors"))
    state["module.v.blocks.0.mlp.fc1.weight"] = torch.zeros(100, 96)
    bad = tmp_path / "audioset_10_10_0.1.pth"
    torch.save(state, bad)
    with pytest.raises(CheckpointError, match="audioset_10_10_0.1.pth.*fc1"):
        load_ast_checkpoint(str(bad))


def test_overrides_that_do_not_fit_are_refused(hf_audioset_dir):
    path, _ = hf_audioset_dir
    with pytest.raises(CheckpointError, match="missing blocks.2"):
        load_ast_checkpoint(str(path), depth=3)


def test_unknown_sources(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_ast_checkpoint(str(tmp_path / "nothing_here"))
    junk = tmp_path / "junk.pth"
    junk.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pth: cannot be read"):
        load_ast_checkpoint(str(junk))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(CheckpointError, match="not 'audio-spectrogram"):
        load_ast_checkpoint(str(tmp_path))


def test_foreign_state_dict_is_refused(tmp_path):
    other = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, other)
    with pytest.raises(CheckpointError, match="unexpected key conv1.weight"):
        load_ast_checkpoint(str(other))

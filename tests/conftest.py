"""Shared fixtures: small models and files in the real published formats."""

import pytest
import torch

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def hf_audioset_dir(tmp_path_factory):
    """A random AudioSet-like HF AST (1024 frames, 527 labels), saved."""
    from transformers import ASTConfig, ASTForAudioClassification

    torch.manual_seed(0)
    config = ASTConfig(
        hidden_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=384,
        max_length=1024,
        num_mel_bins=128,
        num_labels=527,
        layer_norm_eps=1e-6,
        attn_implementation="sdpa",
    )
    model = ASTForAudioClassification(config).eval()
    path = tmp_path_factory.mktemp("hf_audioset")
    model.save_pretrained(path)
    return path, model


@pytest.fixture(scope="session")
def hf_speechcommands_dir(tmp_path_factory):
    """A random Speech-Commands-like HF AST (128 frames, 35 labels)."""
    from transformers import ASTConfig, ASTForAudioClassification

    torch.manual_seed(1)
    config = ASTConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_length=128,
        num_mel_bins=128,
        num_labels=35,
        id2label={i: f"word{i}" for i in range(35)},
        label2id={f"word{i}": i for i in range(35)},
        attn_implementation="sdpa",
    )
    model = ASTForAudioClassification(config).eval()
    path = tmp_path_factory.mktemp("hf_speechcommands")
    model.save_pretrained(path)
    return path, model

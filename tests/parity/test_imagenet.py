"""ImageNet DeiT to AST adaptation, checked by hand-computed expectations."""

import pytest
import timm
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from ast_lobes import (
    AudioSpectrogramTransformer,
    CheckpointError,
    imagenet_to_ast_state_dict,
    pretrained_encoder,
)


@pytest.fixture(scope="module")
def deit384():
    torch.manual_seed(0)
    model = timm.create_model(
        "deit_base_distilled_patch16_384", pretrained=False
    )
    return model.eval()


@pytest.fixture(scope="module")
def deit_file(deit384, tmp_path_factory):
    path = tmp_path_factory.mktemp("deit") / "deit_base_384.safetensors"
    save_file(
        {k: v.contiguous() for k, v in deit384.state_dict().items()}, path
    )
    return path


def deit_grid(model):
    """The DeiT-384 patch position embedding as [1, dim, 24, 24]."""
    return (
        model.pos_embed.detach()[:, 2:]
        .reshape(1, 24, 24, 768)
        .permute(0, 3, 1, 2)
    )


def test_patch_conv_is_channel_sum(deit384, deit_file):
    encoder = pretrained_encoder(imagenet_weights=str(deit_file))
    expected = deit384.patch_embed.proj.weight.detach().sum(dim=1, keepdim=True)
    torch.testing.assert_close(encoder.patch_embed.proj.weight.data, expected)
    torch.testing.assert_close(
        encoder.patch_embed.proj.bias.data, deit384.patch_embed.proj.bias.data
    )
    for name in ("blocks.11.attn.qkv.weight", "norm.bias", "dist_token"):
        torch.testing.assert_close(
            encoder.state_dict()[name], deit384.state_dict()[name]
        )


def test_patch_embedding_equals_three_channel_vit(deit384, deit_file):
    encoder = pretrained_encoder(
        imagenet_weights=str(deit_file), target_length=128
    )
    spec = torch.randn(2, 1, 128, 128)
    ours = encoder.patch_embed.proj(spec)
    theirs = F.conv2d(
        spec.repeat(1, 3, 1, 1),
        deit384.patch_embed.proj.weight,
        deit384.patch_embed.proj.bias,
        stride=10,
    )
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-4)


def test_position_embedding_interpolated_time_cut_frequency(deit384, deit_file):
    encoder = pretrained_encoder(imagenet_weights=str(deit_file))
    assert encoder.grid == (12, 101)
    grid = deit_grid(deit384)
    # time 24 -> 101 interpolated, then frequency rows 12-6 .. 12+6 kept
    stretched = F.interpolate(grid, size=(24, 101), mode="bilinear")
    expected = stretched[:, :, 6:18, :].flatten(2).transpose(1, 2)
    torch.testing.assert_close(encoder.pos_embed.data[:, 2:], expected)
    torch.testing.assert_close(
        encoder.pos_embed.data[:, :2], deit384.pos_embed.data[:, :2]
    )


def test_position_embedding_cut_both_axes(deit384, deit_file):
    encoder = pretrained_encoder(
        imagenet_weights=str(deit_file), target_length=128
    )
    assert encoder.grid == (12, 12)
    expected = deit_grid(deit384)[:, :, 6:18, 6:18].flatten(2).transpose(1, 2)
    torch.testing.assert_close(encoder.pos_embed.data[:, 2:], expected)


def test_nearest_and_reinit_modes(deit384, deit_file):
    nearest = pretrained_encoder(
        imagenet_weights=str(deit_file), position_resize_mode="nearest"
    )
    stretched = F.interpolate(
        deit_grid(deit384), size=(24, 101), mode="nearest"
    )
    expected = stretched[:, :, 6:18].flatten(2).transpose(1, 2)
    torch.testing.assert_close(nearest.pos_embed.data[:, 2:], expected)
    torch.manual_seed(5)
    reinit = pretrained_encoder(
        imagenet_weights=str(deit_file), position_resize_mode="reinit"
    )
    assert not torch.allclose(reinit.pos_embed.data[:, 2:12], expected[:, :10])
    assert reinit.pos_embed.data[:, 2:].std().item() == pytest.approx(
        0.02, rel=0.1
    )


def test_plain_vit_without_distillation_token():
    vit = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, depth=1
    ).state_dict()
    encoder = AudioSpectrogramTransformer("tiny224", depth=1, target_length=128)
    state = imagenet_to_ast_state_dict(vit, encoder.config)
    torch.testing.assert_close(state["dist_token"], vit["cls_token"])
    torch.testing.assert_close(state["pos_embed"][:, 1], vit["pos_embed"][:, 0])
    encoder.load_state_dict(state)


def test_wrong_patch_shape_and_model(deit_file, tmp_path):
    with pytest.raises(CheckpointError, match="patches are"):
        pretrained_encoder(
            imagenet_weights=str(deit_file),
            patch_size=(128, 2),
            fstride=128,
            tstride=1,
        )
    with pytest.raises(
        CheckpointError, match="deit_base_384.safetensors: .*missing blocks.12"
    ):
        pretrained_encoder(
            model_size=None,
            embed_dim=768,
            num_heads=12,
            depth=13,
            imagenet_weights=str(deit_file),
        )
    with pytest.raises(CheckpointError, match="neither a weight file"):
        pretrained_encoder(imagenet_weights="no_such_model_xyz")


def test_encoder_constructor_points_to_the_loader(deit_file):
    with pytest.raises(TypeError, match="pretrained_encoder"):
        AudioSpectrogramTransformer(imagenet_weights=str(deit_file))

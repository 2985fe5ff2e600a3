"""Behaviour of the encoder lobe: shapes, pooling, lengths, HF agreement."""

import os

import pytest
import torch
from batch_norms import randomise_batch_norms

from ast_lobes import AudioSpectrogramTransformer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def small(**kwargs):
    torch.manual_seed(0)
    args = dict(
        model_size=None, embed_dim=64, depth=2, num_heads=4, target_length=200
    )
    args.update(kwargs)
    return AudioSpectrogramTransformer(**args).eval()


def test_named_sizes():
    encoder = AudioSpectrogramTransformer("tiny224", depth=1, target_length=128)
    assert encoder.embed_dim == 192
    assert encoder.blocks[0].attn.num_heads == 3
    assert encoder.blocks[0].attn.fused_attn
    with pytest.raises(ValueError, match="Unknown model_size"):
        AudioSpectrogramTransformer("huge")


@pytest.mark.parametrize(
    "fields",
    [
        {"model_size": "tiny224", "depth": 1, "target_length": 128},
        {"model_size": None, "embed_dim": 32, "depth": 2, "num_heads": 2,
         "target_length": 100, "fstride": 16, "tstride": 10,
         "stem_channels": 4, "pooling": "mean"},
    ],
)  # fmt: skip
def test_the_config_builds_the_encoder_the_keywords_build(fields):
    from ast_lobes import AudioSpectrogramTransformerConfig

    torch.manual_seed(3)
    by_keywords = AudioSpectrogramTransformer(**fields).eval()
    config = AudioSpectrogramTransformerConfig.from_size(**fields)
    torch.manual_seed(3)
    by_config = AudioSpectrogramTransformer(config).eval()
    torch.manual_seed(3)
    by_from_config = AudioSpectrogramTransformer.from_config(config).eval()
    assert by_keywords.config == by_config.config == config
    fbank = torch.randn(2, fields["target_length"], 128)
    for built in (by_config, by_from_config):
        keys = {k: v.shape for k, v in built.state_dict().items()}
        assert keys == {k: v.shape for k, v in by_keywords.state_dict().items()}
        with torch.no_grad():
            assert torch.equal(built(fbank), by_keywords(fbank))


def test_keywords_change_a_given_config():
    from ast_lobes import AudioSpectrogramTransformerConfig

    config = AudioSpectrogramTransformerConfig.from_size(
        "tiny224", depth=1, target_length=128
    )
    encoder = AudioSpectrogramTransformer(config, pooling="cls")
    assert encoder.config == config.replace(pooling="cls")
    assert AudioSpectrogramTransformer().config.model_size == "base384"
    with pytest.raises(TypeError, match="give the size in the config"):
        AudioSpectrogramTransformer(config, model_size="base384")
    with pytest.raises(TypeError, match="Unknown .* settings: depht"):
        AudioSpectrogramTransformer(config, depht=2)
    with pytest.raises(TypeError, match="pretrained_encoder"):
        AudioSpectrogramTransformer("tiny224", imagenet_weights=True)


def test_pooling_modes_and_all_tokens():
    encoder = small()
    fbank = torch.randn(2, 200, 128)
    with torch.no_grad():
        tokens = small(output_all_tokens=True)(fbank)
        assert tokens.shape == (2, 2 + 12 * 19, 64)
        pooled = encoder(fbank)
        torch.testing.assert_close(
            pooled[:, 0], (tokens[:, 0] + tokens[:, 1]) / 2
        )
        cls = small(pooling="cls")(fbank)
        torch.testing.assert_close(cls[:, 0], tokens[:, 0])
        mean = small(pooling="mean")(fbank)
        torch.testing.assert_close(mean[:, 0], tokens[:, 2:].mean(1))


def test_rectangular_patches():
    encoder = small(patch_size=(128, 2), fstride=128, tstride=1)
    assert encoder.grid == (1, 199)
    assert encoder(torch.randn(1, 200, 128)).shape == (1, 1, 64)


def test_shorter_input_uses_leading_positions():
    encoder = small(output_all_tokens=True)
    short = torch.randn(1, 100, 128)
    with torch.no_grad():
        tokens, grid = encoder.embed(short)
    assert grid == (12, 9)
    pos = (
        encoder.pos_embed[:, 2:]
        .reshape(1, 12, 19, 64)[:, :, :9]
        .reshape(1, 108, 64)
    )
    patches = encoder.patch_embed.proj(short.transpose(1, 2).unsqueeze(1))
    expected = patches.flatten(2).transpose(1, 2) + pos
    torch.testing.assert_close(tokens[:, 2:], expected)


@pytest.mark.parametrize("stem", [
    dict(stem_channels=0),
    dict(stem_channels=8),
    dict(stem_channels=8, patch_size=(128, 2), fstride=128, tstride=2),
    dict(stem_channels=8, stem_kind="time", patch_size=(128, 2),
         fstride=128, tstride=2),
    dict(stem_channels=8, stem_kind="time", stem_layers=4,
         patch_size=(128, 2), fstride=128, tstride=2),
    dict(stem_channels=8, stem_norm="batch"),
    dict(stem_channels=8, stem_kind="time", stem_norm="batch",
         patch_size=(128, 2), fstride=128, tstride=2),
    dict(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
         stem_norm="batch", patch_size=(128, 2), fstride=128, tstride=2),
    dict(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
         image_stem_bands=8, patch_size=(128, 2), fstride=128, tstride=2),
    dict(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
         image_stem_bands=8, image_stem_stride=4, stem_norm="batch",
         patch_size=(128, 2), fstride=128, tstride=2),
])  # fmt: skip
def test_padded_batch_with_lengths_equals_clip_alone(stem):
    encoder = small(**stem)
    randomise_batch_norms(encoder)
    clip = torch.randn(1, 120, 128)
    padded = torch.cat([clip, torch.zeros(1, 80, 128)], dim=1)
    other = torch.randn(1, 200, 128)
    batch = torch.cat([padded, other])
    with torch.no_grad():
        alone = encoder(clip)
        together = encoder(batch, torch.tensor([0.6, 1.0]))
        other_alone = encoder(other)
    torch.testing.assert_close(together[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(
        together[1], other_alone[0], atol=1e-5, rtol=1e-5
    )


def test_longer_input_interpolates():
    encoder = small()
    with torch.no_grad():
        assert encoder(torch.randn(1, 400, 128)).shape == (1, 1, 64)


def test_input_smaller_than_a_patch():
    with pytest.raises(ValueError, match="smaller than one 16x16 patch"):
        small()(torch.randn(1, 10, 128))


def test_gradients_flow():
    encoder = small()
    encoder.train()
    encoder(torch.randn(2, 200, 128)).sum().backward()
    assert encoder.pos_embed.grad is not None
    assert encoder.patch_embed.proj.weight.grad.abs().sum() > 0


def test_the_input_frames_have_one_name_and_the_old_ones_still_work():
    import warnings

    from ast_lobes import AudioClassificationHead, KaldiFbank
    from pretrained_interfaces import AudioTagger

    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, target_length=96
    )
    with pytest.warns(DeprecationWarning, match="from_modules is now"):
        tagger = AudioTagger.from_modules(
            encoder, AudioClassificationHead(32, 2), ["a", "b"],
            target_length=96, precision="fp32",
        )  # fmt: skip
    assert encoder.config.target_length == 96 == tagger.target_length
    assert isinstance(tagger.pipeline.compute_features, KaldiFbank)
    assert tagger.pipeline.compute_features.target_length == 96
    with pytest.warns(DeprecationWarning, match="input_tdim is now"):
        old = AudioSpectrogramTransformer(
            model_size=None, embed_dim=32, depth=1, num_heads=2,
            input_tdim=96,
        )  # fmt: skip
    assert old.config == encoder.config
    with pytest.warns(DeprecationWarning, match="max_frames is now"):
        old_tagger = AudioTagger.from_modules(
            old, AudioClassificationHead(32, 2), ["a", "b"], max_frames=96,
            precision="fp32",
        )  # fmt: skip
    assert old_tagger.target_length == 96
    with pytest.raises(TypeError, match="give target_length only"):
        AudioSpectrogramTransformer(
            model_size=None, embed_dim=32, depth=1, num_heads=2,
            input_tdim=96, target_length=128,
        )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the new name warns of nothing
        AudioSpectrogramTransformer(
            model_size=None, embed_dim=32, depth=1, num_heads=2,
            target_length=96,
        )  # fmt: skip


def test_a_convolutional_stem_feeds_the_patch_projection():
    encoder = small(stem_channels=4, patch_size=(128, 2), fstride=128,
                    tstride=2)  # fmt: skip
    fbank = torch.randn(2, 50, 128)
    stem = encoder.patch_embed.stem
    image = fbank.transpose(1, 2).unsqueeze(1)  # [batch, 1, mel, time]
    image = torch.nn.functional.gelu(torch.nn.functional.conv2d(
        image, stem[0].weight, stem[0].bias, padding=1))  # fmt: skip
    image = torch.nn.functional.gelu(torch.nn.functional.conv2d(
        image, stem[2].weight, stem[2].bias, padding=1))  # fmt: skip
    proj = encoder.patch_embed.proj
    assert proj.weight.shape == (64, 4, 128, 2)
    patches = torch.nn.functional.conv2d(
        image, proj.weight, proj.bias, stride=(128, 2)
    )  # [batch, 64, 1, 25]: one token per 2 frames
    expected = patches.flatten(2).transpose(1, 2)
    expected = expected + encoder.patch_position_embedding(1, 25)
    with torch.no_grad():
        tokens, grid = encoder.embed(fbank)
    assert grid == (1, 25)
    torch.testing.assert_close(tokens[:, 2:], expected)


# kernel 5 (2 frames either side), then kernel 3 at dilation 2 (2 more),
# 3, 4: frame 50 reaches frames 46-54 with two layers, 39-61 with four,
# which the 2-frame patches 23-27 and 19-30 hold
@pytest.mark.parametrize("layers, tokens", [(2, range(23, 28)),
                                            (4, range(19, 31))])  # fmt: skip
def test_a_time_stem_sees_whole_frames_over_its_dilations(layers, tokens):
    encoder = small(stem_channels=8, stem_kind="time", patch_size=(128, 2),
                    fstride=128, tstride=2, stem_layers=layers)  # fmt: skip
    assert encoder.patch_embed.proj.weight.shape == (64, 8, 1, 2)
    fbank = torch.randn(1, 100, 128)
    changed = fbank.clone()
    changed[0, 50, 127] += 1.0  # one mel bin of frame 50
    with torch.no_grad():
        before, grid = encoder.embed(fbank)
        after, _ = encoder.embed(changed)
    assert grid == (1, 50)
    moved = (after - before)[0, 2:].abs().amax(-1) > 0
    assert moved.nonzero().flatten().tolist() == list(tokens)


def test_a_batch_normed_time_stem_is_ecapa_tdnn_s_order():
    import torch.nn.functional as F

    encoder = small(stem_channels=8, stem_kind="time", stem_norm="batch",
                    patch_size=(128, 2), fstride=128, tstride=2)  # fmt: skip
    randomise_batch_norms(encoder)
    stem = encoder.patch_embed.stem
    conv1, norm1, conv2, norm2 = stem[0], stem[2], stem[3], stem[5]
    fbank = torch.randn(2, 100, 128)

    def convolution_activation_norm(x, conv, norm, dilation):
        x = F.gelu(F.conv1d(x, conv.weight, conv.bias, padding=dilation * (
            conv.kernel_size[0] // 2), dilation=dilation))  # fmt: skip
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        return (x - norm.running_mean[:, None]) * scale[:, None] + norm.bias[
            :, None
        ]

    expected = convolution_activation_norm(fbank.transpose(1, 2), conv1,
                                           norm1, 1)  # fmt: skip
    expected = convolution_activation_norm(expected, conv2, norm2, 2)
    with torch.no_grad():
        image = encoder.stem_image(fbank)
    assert image.shape == (2, 8, 1, 100)
    torch.testing.assert_close(image[:, :, 0], expected)


@pytest.mark.parametrize("bands, stride", [(0, 1), (8, 1), (0, 4), (8, 4)])
def test_a_time_image_stem_sums_the_two_stems_projections(bands, stride):
    import torch.nn.functional as F

    encoder = small(stem_channels=8, stem_kind="time_image",
                    image_stem_channels=4, image_stem_bands=bands,
                    image_stem_stride=stride, patch_size=(128, 2),
                    fstride=128, tstride=2)  # fmt: skip
    fbank = torch.randn(2, 50, 128)
    time_stem = encoder.patch_embed.stem
    frames = fbank.transpose(1, 2)  # [batch, mel, time]
    frames = F.gelu(F.conv1d(frames, time_stem[0].weight, time_stem[0].bias,
                             padding=2))  # fmt: skip
    frames = F.gelu(F.conv1d(frames, time_stem[2].weight, time_stem[2].bias,
                             padding=2, dilation=2))  # fmt: skip
    proj = encoder.patch_embed.proj
    assert proj.weight.shape == (64, 8, 1, 2)
    from_time = F.conv2d(frames[:, :, None], proj.weight, proj.bias,
                         stride=(1, 2))  # fmt: skip
    image_stem = encoder.patch_embed.image_stem
    image = fbank.transpose(1, 2)[:, None]  # [batch, 1, mel, time]
    image = F.gelu(F.conv2d(image, image_stem[0].weight, image_stem[0].bias,
                            padding=1))  # fmt: skip
    # a first convolution stepping `stride` mel bins: the rows of every
    # bin's convolution centred on bins 0, stride, 2 x stride...
    image = image[:, :, ::stride]
    assert image.shape[2] == 128 // stride
    image = F.gelu(F.conv2d(image, image_stem[2].weight, image_stem[2].bias,
                            padding=1))  # fmt: skip
    rows = bands or 128 // stride
    # each band the mean of its neighbouring rows
    image = image.reshape(2, 4, rows, 128 // stride // rows, 50).mean(dim=3)
    image_proj = encoder.patch_embed.image_proj
    assert image_proj.weight.shape == (64, 4, rows, 2)
    from_image = F.conv2d(image, image_proj.weight, image_proj.bias,
                          stride=(rows, 2))  # fmt: skip
    expected = (from_time + from_image).flatten(2).transpose(1, 2)
    expected = expected + encoder.patch_position_embedding(1, 25)
    with torch.no_grad():
        tokens, grid = encoder.embed(fbank)
    assert grid == (1, 25)
    torch.testing.assert_close(tokens[:, 2:], expected)


def test_an_image_stem_trains_with_plain_convolutions_values_and_gradients():
    import torch.nn.functional as F

    encoder = small(stem_channels=8, stem_kind="time_image",
                    image_stem_channels=8, image_stem_bands=8,
                    patch_size=(128, 2), fstride=128, tstride=2)  # fmt: skip
    stem = encoder.patch_embed.image_stem
    fbank = torch.randn(2, 50, 128)
    image = encoder.stem_image(fbank, image_stem=True)
    assert image.is_contiguous()  # the layout the next layers expect
    image.square().sum().backward()
    got = [stem[0].weight.grad.clone(), stem[2].weight.grad.clone()]
    encoder.zero_grad()
    expected = fbank.transpose(1, 2)[:, None]
    for conv in (stem[0], stem[2]):
        expected = F.gelu(F.conv2d(expected, conv.weight, conv.bias,
                                   padding=1))  # fmt: skip
    torch.testing.assert_close(image, expected)
    expected.square().sum().backward()
    torch.testing.assert_close(got[0], stem[0].weight.grad)
    torch.testing.assert_close(got[1], stem[2].weight.grad)


def test_a_time_image_stem_needs_its_image_width_which_others_do_not_read():
    frames = dict(patch_size=(128, 2), fstride=128, tstride=2)
    with pytest.raises(ValueError, match="stem_kind 'time_image' needs "
                       "image_stem_channels"):  # fmt: skip
        small(stem_channels=8, stem_kind="time_image", **frames)
    with pytest.raises(ValueError, match="stem_kind 'time_image' reads every "
                       "mel bin of a frame"):  # fmt: skip
        small(stem_channels=8, stem_kind="time_image", image_stem_channels=4)
    with pytest.raises(ValueError, match="image_stem_bands 12 does not "
                       "divide the 128 mel rows of the image stem into "
                       "bands of equal width"):  # fmt: skip
        small(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
              image_stem_bands=12, **frames)  # fmt: skip
    with pytest.raises(ValueError, match="image_stem_bands 8 does not "
                       "divide the 4 mel rows"):  # fmt: skip
        small(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
              image_stem_bands=8, image_stem_stride=32, **frames)  # fmt: skip
    for stride in (3, 0, -4):
        with pytest.raises(ValueError, match=f"image_stem_stride {stride} "
                           "does not divide the 128 mel bins"):  # fmt: skip
            small(stem_channels=8, stem_kind="time_image",
                  image_stem_channels=4, image_stem_stride=stride,
                  **frames)  # fmt: skip
    with pytest.raises(ValueError, match="image_stem_stride must be a whole "
                       "number"):  # fmt: skip
        small(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
              image_stem_stride=2.5, **frames)  # fmt: skip
    # the other kinds, and no stem at all, have no image stem of their own
    for stem in (dict(stem_channels=8, stem_kind="time", **frames),
                 dict(stem_channels=8, stem_kind="image"),
                 dict(stem_channels=0, stem_kind="time_image")):  # fmt: skip
        encoder = small(image_stem_channels=4, image_stem_bands=8,
                        image_stem_stride=4, **stem)  # fmt: skip
        assert not hasattr(encoder.patch_embed, "image_stem")
        config = encoder.config
        assert (config.image_stem_channels, config.image_stem_bands,
                config.image_stem_stride) == (0, 0, 1)  # fmt: skip


def test_a_time_stem_needs_frame_patches_of_the_whole_mel_axis():
    with pytest.raises(ValueError, match=r"stem_kind 'time' reads every mel "
                       r"bin of a frame: set patch_size \[128, t\] and "
                       r"fstride 128 \(got patch_size \[16, 16\], fstride "
                       r"10\)"):  # fmt: skip
        small(stem_channels=8, stem_kind="time", fstride=10, tstride=10)
    with pytest.raises(ValueError, match="Unknown stem_kind 'frames'"):
        small(stem_channels=8, stem_kind="frames")
    with pytest.raises(ValueError, match="stem_layers must be at least 1"):
        small(stem_channels=8, stem_layers=0)
    with pytest.raises(ValueError, match="Unknown stem_norm 'layer'"):
        small(stem_channels=8, stem_norm="layer")


def test_a_stem_has_no_pretrained_weights():
    from ast_lobes import pretrained_encoder

    with pytest.raises(ValueError, match="stem_channels: a convolutional"):
        pretrained_encoder(imagenet_weights=True, model_size="tiny224",
                           stem_channels=8, target_length=100)  # fmt: skip


@pytest.mark.parametrize("stride", [[128, 2], 2.5, True, "10"])
def test_a_stride_that_is_not_a_whole_number_is_named(stride):
    from ast_lobes.model.config import ModelSettingError

    with pytest.raises(ModelSettingError, match="fstride must be a whole"):
        small(fstride=stride)


def load_ssast_yaml(tmp_path, overrides):
    from hyperpyyaml import load_hyperpyyaml

    path = os.path.join(ROOT, "recipes", "SSAST", "hparams", "cpu.yaml")
    with open(path, encoding="utf-8") as handle:
        return load_hyperpyyaml(handle, overrides)


def test_the_ssast_yaml_takes_frame_patches_as_documented(tmp_path):
    hparams = load_ssast_yaml(tmp_path, {
        "patch_size": [128, 2], "fstride": 128, "tstride": 2,
        "mask_mode": "frame", "mask_count": 20,
    })  # fmt: skip
    assert hparams["encoder"].grid == (1, 50)  # a 1-s clip's frame pairs
    out = hparams["model"](torch.randn(2, 100, 128))
    assert torch.isfinite(out["loss"])


def test_the_ssast_yaml_names_patches_that_would_overlap(tmp_path):
    from ast_lobes.model.config import ModelSettingError

    with pytest.raises(ModelSettingError, match="non-overlapping patches"):
        load_ssast_yaml(tmp_path, {"patch_size": [128, 2]})

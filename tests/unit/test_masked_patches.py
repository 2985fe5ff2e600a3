"""Masked patch modelling (SSAST): the masks, the losses against hand
computations, the patch order against the encoder's own patch embedding,
and pretrained weights loading into a fine-tuning encoder."""

import math

import numpy as np
import pytest
import torch

from ast_lobes import AudioSpectrogramTransformer, pretrained_encoder
from ast_lobes.model.masked_patches import (
    MaskedPatchModel,
    choose_masked,
    info_nce,
    masked_patch_losses,
    patch_targets,
)
from ast_lobes.weights.files import CheckpointError
from ast_lobes.weights.self_supervised import save_pretrained_encoder


def tiny_encoder(tdim=96, stride=16, patch_size=16, fdim=128):
    torch.manual_seed(0)
    return AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=2, num_heads=2, input_fdim=fdim,
        target_length=tdim, patch_size=patch_size, fstride=stride,
        tstride=stride,
    )  # fmt: skip


@pytest.mark.parametrize("cluster", [True, False])
def test_patch_masking_hides_exactly_the_stated_count(cluster):
    generator = torch.Generator().manual_seed(0)
    for count in (1, 7, 24, 47):
        chosen = choose_masked((8, 6), count, "patch", cluster, generator)
        assert len(chosen) == count == len(set(chosen.tolist()))
        assert 0 <= chosen.min() and chosen.max() < 48
    with pytest.raises(ValueError, match="48 masked patches of 48"):
        choose_masked((8, 6), 48)


def neighbours_per_patch(chosen, t_dim):
    chosen = set(chosen.tolist())
    return np.mean([
        sum(n in chosen for n in (i - 1, i + 1, i - t_dim, i + t_dim))
        for i in chosen
    ])  # fmt: skip


def test_clustered_masks_are_blocks_of_neighbours():
    generator = torch.Generator().manual_seed(1)
    clustered = [neighbours_per_patch(
        choose_masked((12, 50), 100, "patch", True, generator), 50
    ) for _ in range(20)]  # fmt: skip
    scattered = [neighbours_per_patch(
        choose_masked((12, 50), 100, "patch", False, generator), 50
    ) for _ in range(20)]  # fmt: skip
    assert np.mean(clustered) > 2.0  # inside 3x3 to 5x5 blocks
    assert np.mean(scattered) < 1.0  # about 4 x 100 / 600


def test_frame_masking_hides_whole_time_columns():
    chosen = choose_masked(
        (3, 10), 4, "frame", generator=torch.Generator().manual_seed(2)
    )
    rows, cols = chosen // 10, chosen % 10
    assert len(chosen) == 12 and len(set(cols.tolist())) == 4
    for column in set(cols.tolist()):
        assert sorted(rows[cols == column].tolist()) == [0, 1, 2]
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, target_length=96,
        patch_size=[128, 2], fstride=128, tstride=2,
    )  # fmt: skip
    model = MaskedPatchModel(encoder, mask_count=10, mask_mode="frame")
    index = model.choose(encoder.patch_grid(96, 128), 2)
    assert index.shape == (2, 10)  # 10 frame pairs of 48, one row each


def test_info_nce_against_hand_computation():
    rng = np.random.default_rng(0)
    pred = rng.normal(size=(2, 4, 6))
    target = rng.normal(size=(2, 4, 6))
    losses, hits = [], []
    for clip in range(2):
        for k in range(4):
            scores = [pred[clip, k] @ target[clip, j] for j in range(4)]
            top = max(scores)
            log_norm = top + math.log(sum(math.exp(s - top) for s in scores))
            losses.append(log_norm - scores[k])
            hits.append(int(np.argmax(scores) == k))
    loss, accuracy = info_nce(torch.tensor(pred), torch.tensor(target))
    assert loss.item() == pytest.approx(np.mean(losses), rel=1e-9)
    assert accuracy.item() == pytest.approx(np.mean(hits))


def test_generative_loss_is_zero_for_the_patches_themselves():
    patches = torch.randn(3, 5, 256)
    out = masked_patch_losses(torch.randn(3, 5, 256), patches, patches, 10)
    assert out["generative"].item() == 0.0
    assert out["loss"].item() == pytest.approx(out["discriminative"].item())
    noisy = masked_patch_losses(patches, patches + 0.5, patches, 10)
    assert noisy["generative"].item() == pytest.approx(0.25)


def test_targets_are_the_patches_the_encoder_embeds_in_its_order():
    encoder = tiny_encoder()
    feats = torch.randn(2, 96, 128)
    conv = encoder.patch_embed.proj
    with torch.no_grad():
        embedded = conv(feats.transpose(1, 2).unsqueeze(1)).flatten(2)
        embedded = embedded.transpose(1, 2)
        targets = patch_targets(feats, (16, 16), (16, 16))
        by_hand = targets @ conv.weight.flatten(1).T + conv.bias
    assert targets.shape == (2, 8 * 6, 256)
    assert torch.allclose(embedded, by_hand, atol=1e-5)
    # patch (f=1, t=2) is mel bins 16-31 of frames 32-47
    assert torch.equal(
        targets[0, 1 * 6 + 2], feats[0, 32:48, 16:32].T.flatten()
    )


def test_pretraining_step_changes_encoder_and_mask_embedding():
    model = MaskedPatchModel(tiny_encoder(), mask_count=24)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    out = model(torch.randn(4, 96, 128))
    out["loss"].backward()
    optimizer.step()
    after = model.state_dict()
    for name in ("mask_embed", "encoder.blocks.0.attn.qkv.weight",
                 "encoder.patch_embed.proj.weight"):  # fmt: skip
        assert not torch.equal(before[name], after[name]), name
    assert 0 <= out["accuracy"].item() <= 1


def test_pretrained_encoder_loads_for_other_strides_and_frames(tmp_path):
    pretrained = tiny_encoder(tdim=96, stride=16)
    folder = save_pretrained_encoder(str(tmp_path / "encoder"), pretrained)
    tuned = pretrained_encoder(
        ssast_weights=folder, model_size=None, embed_dim=32, depth=2,
        num_heads=2, target_length=200, fstride=10, tstride=10,
    )  # fmt: skip
    assert tuned.grid == (12, 19)
    for name, value in pretrained.state_dict().items():
        if name != "pos_embed":
            assert torch.equal(tuned.state_dict()[name], value), name
    assert torch.equal(tuned.pos_embed[:, :2], pretrained.pos_embed[:, :2])
    with pytest.raises(CheckpointError, match="differs in embed_dim 32"):
        pretrained_encoder(ssast_weights=folder, model_size=None,
                           embed_dim=64, depth=2, num_heads=2)  # fmt: skip
    with pytest.raises(CheckpointError, match="missing encoder.ckpt"):
        pretrained_encoder(ssast_weights=str(tmp_path), model_size=None,
                           embed_dim=32, depth=2, num_heads=2)  # fmt: skip


def test_frame_mode_pretraining_step_on_frame_patches():
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, target_length=96,
        patch_size=[128, 2], fstride=128, tstride=2,
    )  # fmt: skip
    model = MaskedPatchModel(encoder, mask_count=12, mask_mode="frame")
    out = model(torch.randn(3, 96, 128))
    assert torch.isfinite(out["loss"]) and out["loss"].item() > 0
    # 12 masked frame pairs: chance of picking one's own patch is 1/12
    assert 0 <= out["accuracy"].item() <= 1
    with pytest.raises(ValueError, match="non-overlapping patches"):
        MaskedPatchModel(tiny_encoder(stride=10), mask_count=4)


def test_an_encoder_with_a_stem_is_refused():
    torch.manual_seed(0)
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2,
        target_length=96, patch_size=16, fstride=16, tstride=16,
        stem_channels=4,
    )  # fmt: skip
    with pytest.raises(ValueError, match="without a convolutional stem"):
        MaskedPatchModel(encoder, mask_count=4)

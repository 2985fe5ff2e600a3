"""Token merging at inference: exact at rate 0 (its attention against
timm's blocks), exact when the merged tokens are identical (proportional
attention), approximate otherwise, refused where it cannot apply."""

import pytest
import torch

from ast_lobes import AudioSpectrogramTransformer, set_inference_precision
from ast_lobes.inference.token_merging import merged_transform


def encoder_of(pooling="cls_dist", depth=2):
    torch.manual_seed(0)
    return AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=depth, num_heads=2,
        target_length=128, fstride=16, tstride=16, pooling=pooling,
    ).eval()  # fmt: skip


def test_rate_zero_gives_the_blocks_outputs():
    encoder = encoder_of()
    tokens, _ = encoder.embed(torch.randn(2, 128, 128))
    with torch.no_grad():
        expected = encoder.transform(tokens)
        got, size = merged_transform(encoder, tokens, 0.0)
    assert torch.allclose(got, expected, atol=1e-5)
    assert torch.equal(size, torch.ones(2, tokens.shape[1]))
    fbank = torch.randn(2, 128, 128)
    with torch.no_grad():
        exact = encoder(fbank)
        converted = set_inference_precision(encoder, "fp32").set_merge_rate(0)
        assert torch.equal(converted(fbank), exact)


def repeated_patches(encoder):
    """Fbank whose every time patch is repeated at once, for ``encoder``
    with its position embeddings zeroed: identical token pairs, one of
    the first set and one of the second."""
    with torch.no_grad():
        encoder.pos_embed.zero_()
    half = torch.randn(1, 4, 16, 128)
    return torch.cat((half, half), dim=2).reshape(1, 128, 128)


def test_merging_identical_tokens_changes_nothing():
    encoder = encoder_of()
    fbank = repeated_patches(encoder)
    with torch.no_grad():
        exact = encoder(fbank)
        merged = set_inference_precision(encoder, "fp32").set_merge_rate(0.5)
        # block 1 merges 16 of the 32 identical pairs; block 2's attention
        # sees each merged token with weight 2 (log 2 on its logits)
        assert torch.allclose(merged(fbank), exact, atol=1e-5)
        other = torch.randn(1, 128, 128)
        assert (merged(other) - encoder(other)).abs().max() > 1e-3


def test_fewer_tokens_reach_the_last_block():
    encoder = encoder_of(depth=4)
    tokens, _ = encoder.embed(torch.randn(1, 128, 128))  # 2 + 64 tokens
    with torch.no_grad():
        out, size = merged_transform(encoder, tokens, 0.5)
    assert out.shape[1] == 2 + 64 - 4 * 8
    assert size.sum().item() == 66.0  # every patch counted once


@pytest.mark.parametrize("rate", [1.0, -0.1])
def test_rates_outside_zero_to_one_are_refused(rate):
    converted = set_inference_precision(encoder_of(), "fp32")
    with pytest.raises(ValueError, match="merge_rate"):
        converted.set_merge_rate(rate)


def test_frame_outputs_are_not_merged():
    converted = set_inference_precision(encoder_of("time_steps"), "fp32")
    with pytest.raises(ValueError, match="keeps every time step"):
        converted.set_merge_rate(0.3)


def test_mean_pooling_weights_each_merged_token_by_its_patches():
    # one block merges 16 of the 32 identical pairs: the patch mean must
    # count each merged token twice to equal the unmerged mean (an
    # unweighted mean of the 48 tokens left is 0.18 off here)
    encoder = encoder_of("mean", depth=1)
    fbank = repeated_patches(encoder)
    with torch.no_grad():
        exact = encoder(fbank)
        merged = set_inference_precision(encoder, "fp32").set_merge_rate(0.25)
        assert torch.allclose(merged(fbank), exact, atol=1e-5)

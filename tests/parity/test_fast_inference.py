"""Patchout, inference precision modes and ONNX export."""

import copy

import numpy as np
import pytest
import torch

from ast_lobes import (
    AudioClassificationHead,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    FbankNormalization,
    KaldiFbank,
    set_inference_precision,
)
from ast_lobes.inference.kernels import (
    Bf16ProductsAttention,
    bf16_attention,
    chunked_attention,
)
from ast_lobes.inference.modes import PRECISION_TOLERANCE


def small_encoder(**kwargs):
    torch.manual_seed(0)
    options = dict(model_size=None, embed_dim=64, depth=2, num_heads=4,
                   target_length=200, fstride=16, tstride=16)  # fmt: skip
    options.update(kwargs)
    return AudioSpectrogramTransformer(**options)


def test_patchout_drops_stated_tokens_in_training_only():
    # grid: 8 frequency rows x 12 time columns = 96 patches
    encoder = small_encoder(
        output_all_tokens=True, patchout_time=3, patchout_freq=2
    )
    fbank = torch.randn(2, 200, 128)
    encoder.train()
    assert encoder(fbank).shape == (2, 2 + 6 * 9, 64)
    encoder.eval()
    assert encoder(fbank).shape == (2, 2 + 96, 64)
    unstructured = small_encoder(output_all_tokens=True, patchout_patches=40)
    assert unstructured.train()(fbank).shape == (2, 2 + 56, 64)
    assert unstructured.eval()(fbank).shape == (2, 2 + 96, 64)
    padded = small_encoder(
        output_all_tokens=True, patchout_time=3, patchout_freq=2
    ).train()
    lengths = torch.tensor([1.0, 0.5])
    assert padded(fbank, lengths).shape == (2, 2 + 54, 64)


def test_structured_patchout_keeps_whole_rows_and_columns():
    encoder = small_encoder(
        depth=0, output_all_tokens=True, patchout_time=4, patchout_freq=3
    )
    fbank = torch.randn(1, 200, 128)
    full = encoder.eval()(fbank)[0, 2:]
    torch.manual_seed(5)
    kept = encoder.train()(fbank)[0, 2:]
    positions = [
        int(torch.where((full == token).all(dim=1))[0]) for token in kept
    ]
    rows = {p // 12 for p in positions}
    columns = {p % 12 for p in positions}
    assert len(rows) == 5 and len(columns) == 8
    assert sorted(positions) == sorted(r * 12 + c for r in rows
                                       for c in columns)  # fmt: skip


def test_chunked_attention_with_mask_equals_sdpa():
    q, k, v = torch.randn(3, 2, 4, 300, 16)
    mask = torch.ones(2, 1, 1, 300, dtype=torch.bool)
    mask[1, ..., 200:] = False
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=mask
    )
    got = chunked_attention(q, k, v, mask, chunk=64)
    assert torch.allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize("fused", [False, True])
def test_bf16_attention_products_equal_sdpa_with_an_additive_mask(fused):
    # the additive mask as token merging gives it (log size per key)
    q, k, v = torch.randn(3, 2, 4, 300, 16)
    bias = torch.rand(2, 1, 1, 300).log()
    expected = torch.nn.functional.scaled_dot_product_attention(
        q, k, v, attn_mask=bias
    )
    assert torch.allclose(chunked_attention(q, k, v, bias, chunk=64),
                          expected, atol=1e-5)  # fmt: skip
    got = bf16_attention(q, k, v, bias, fused=fused)
    assert got.dtype == torch.float32
    assert float((got - expected).abs().max()) < 0.05


@pytest.mark.parametrize(
    "precision",
    ["bf16", "bf16-autocast", "int8", "int8-dynamic", "int8-bf16", "ort-int8"],
)
def test_precision_modes_agree_with_fp32(precision):
    encoder = small_encoder().eval()
    head = AudioClassificationHead(64, 10).eval()
    fbank = torch.randn(4, 200, 128)
    lengths = torch.tensor([1.0, 1.0, 0.7, 0.4])
    with torch.no_grad():
        expected = head(encoder(fbank, lengths))
        converted = set_inference_precision(
            copy.deepcopy(encoder), precision, force=True
        )
        got = head(converted(fbank, lengths))
    assert got.dtype == torch.float32
    difference = float((got - expected).abs().max())
    assert difference < PRECISION_TOLERANCE[precision]
    assert difference > 0  # the mode really changed the arithmetic
    with pytest.raises(ValueError, match="already converted"):
        set_inference_precision(converted, "fp32")
    with pytest.raises(ValueError, match="Unknown precision"):
        set_inference_precision(small_encoder(), "fp8")


def test_int8_bf16_runs_int8_linears_and_bf16_attention_products(
    monkeypatch,
):
    from ast_lobes.inference import kernels
    from ast_lobes.inference.hardware import Hardware

    # a CPU with bf16 units and no AMX: the products in bf16 query blocks
    no_amx = Hardware("cpu", "AVX512", True)
    monkeypatch.setattr(kernels, "detect_hardware", lambda device: no_amx)
    seen = []
    original = torch.softmax

    def recording(tensor, *args, **kwargs):
        seen.append(tensor.dtype)
        return original(tensor, *args, **kwargs)

    encoder = small_encoder().eval()
    fbank = torch.randn(2, 200, 128)
    with torch.no_grad():
        expected = encoder(fbank)
        converted = set_inference_precision(
            copy.deepcopy(encoder), "int8-bf16", force=True
        )
        blocks = converted.module.blocks
        assert all(type(b.attn) is Bf16ProductsAttention for b in blocks)
        assert all(
            type(layer).__module__.startswith("torch.ao.nn.quantized")
            for b in blocks for layer in (b.attn.qkv, b.mlp.fc1)
        )  # fmt: skip
        monkeypatch.setattr(torch, "softmax", recording)
        got = converted(fbank)
        merged = converted.set_merge_rate(0.3)(fbank)
        converted.set_merge_rate(0.0)
    assert seen and set(seen) == {torch.bfloat16}  # blocked bf16 products
    assert (
        float((got - expected).abs().max()) < PRECISION_TOLERANCE["int8-bf16"]
    )
    with torch.no_grad():
        exact_merged = set_inference_precision(
            copy.deepcopy(encoder), "fp32"
        ).set_merge_rate(0.3)(fbank)
    assert (
        float((merged - exact_merged).abs().max())
        < PRECISION_TOLERANCE["int8-bf16"]
    )


@pytest.mark.filterwarnings("ignore")
def test_onnx_matches_pytorch_for_three_lengths(tmp_path):
    import onnxruntime

    from pretrained_interfaces.onnx_export import (
        export_classifier_onnx,
        export_front_end_onnx,
        quantize_onnx_int8,
    )

    encoder = small_encoder().eval()
    head = AudioClassificationHead(64, 7).eval()
    features, normalize = KaldiFbank(), FbankNormalization("audioset")
    pipeline = AudioClassificationPipeline(features, normalize, encoder, head)
    path = export_classifier_onnx(pipeline, str(tmp_path / "m.onnx"))
    session = onnxruntime.InferenceSession(path)
    for batch, frames in ((1, 200), (3, 137), (2, 40)):
        fbank = torch.randn(batch, frames, 128)
        with torch.no_grad():
            expected = head(encoder(fbank)).squeeze(1).numpy()
        got = session.run(None, {"fbank": fbank.numpy()})[0]
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-4
    # ONNX Runtime's dynamic int8: quantised, and within int8's tolerance
    int8 = quantize_onnx_int8(path, str(tmp_path / "m.int8.onnx"))
    quantized = onnxruntime.InferenceSession(int8)
    fbank = torch.randn(8, 200, 128)
    with torch.no_grad():
        expected = head(encoder(fbank)).squeeze(1).numpy()
    got = quantized.run(None, {"fbank": fbank.numpy()})[0]
    assert 0 < np.abs(got - expected).max() < PRECISION_TOLERANCE["int8"]
    front = export_front_end_onnx(pipeline, str(tmp_path / "f.onnx"), 32000)
    wave = torch.randn(32000)
    got = onnxruntime.InferenceSession(front).run(
        None, {"waveform": wave.numpy()}
    )[0]
    expected = normalize(features(wave)).numpy()
    assert np.abs(got - expected).max() < 1e-4

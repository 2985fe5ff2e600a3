"""Precision modes the hardware runs slowly are refused; ``auto`` picks
the fast one. The CPU's capability checks are mocked as an AVX2 CPU
without native bf16 (AMD Zen 3), and as an AVX-512 one with it."""

import pytest
import torch

from ast_lobes import AudioSpectrogramTransformer, set_inference_precision
from ast_lobes.model.hardware import SlowPrecisionError, detect_hardware


@pytest.fixture
def avx2_cpu(monkeypatch):
    monkeypatch.setattr(
        torch.backends.cpu, "get_cpu_capability", lambda: "AVX2"
    )
    monkeypatch.setattr(
        torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False
    )


@pytest.fixture
def bf16_cpu(monkeypatch):
    monkeypatch.setattr(
        torch.backends.cpu, "get_cpu_capability", lambda: "AVX512"
    )
    monkeypatch.setattr(
        torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True
    )


def encoder():
    return AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, input_tdim=100
    )


def test_detected_as_mocked(avx2_cpu):
    hardware = detect_hardware("cpu")
    assert hardware.capability == "AVX2" and not hardware.native_bf16


@pytest.mark.parametrize("mode", ["bf16", "bf16-autocast", "int8"])
def test_slow_modes_are_refused_without_native_bf16(avx2_cpu, mode):
    with pytest.raises(SlowPrecisionError, match=f"{mode} runs slower.*AVX2"):
        set_inference_precision(encoder(), mode)


def test_auto_picks_fp32_without_native_bf16(avx2_cpu):
    assert set_inference_precision(encoder(), "auto").inference_precision == (
        "fp32"
    )


def test_forced_mode_runs(avx2_cpu):
    converted = set_inference_precision(encoder(), "bf16", force=True)
    assert converted.inference_precision == "bf16"
    assert converted.cls_token.dtype == torch.bfloat16


def test_auto_picks_bf16_with_native_bf16(bf16_cpu):
    assert set_inference_precision(encoder(), "auto").inference_precision == (
        "bf16"
    )


def test_int8_needs_compile_to_be_fast(bf16_cpu):
    with pytest.raises(SlowPrecisionError, match="int8"):
        set_inference_precision(encoder(), "int8")


def test_ast_tag_refuses_slow_precision(avx2_cpu, tmp_path, capsys):
    from speechbrain.dataio.encoder import CategoricalEncoder

    from ast_lobes import (
        AudioClassificationHead,
        AudioClassificationPipeline,
        FbankNormalization,
        KaldiFbank,
        export_classifier,
    )
    from pretrained_interfaces.tag_cli import main

    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b"])
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=100), FbankNormalization("audioset"),
        encoder(), AudioClassificationHead(32, 2),
    )  # fmt: skip
    export_classifier(str(tmp_path / "model"), pipeline, labels)
    code = main(["x.wav", "--model", str(tmp_path / "model"),
                 "--precision", "bf16"])  # fmt: skip
    assert code == 2
    assert "bf16 runs slower than fp32" in capsys.readouterr().err


def test_recipe_with_slow_test_precision_fails_before_training(
    avx2_cpu, tiny_pipeline
):
    from ast_lobes import AudioClassificationBrain

    modules = {
        "compute_features": tiny_pipeline.compute_features,
        "normalize": tiny_pipeline.normalize,
        "encoder": tiny_pipeline.encoder,
        "classifier": tiny_pipeline.classifier,
    }
    with pytest.raises(SlowPrecisionError, match="bf16 runs slower"):
        AudioClassificationBrain(
            modules=modules,
            hparams={"loss": "ce", "test_precisions": ["bf16"]},
            run_opts={"device": "cpu"},
        )
    brain = AudioClassificationBrain(
        modules=modules,
        hparams={"loss": "ce", "test_precisions": ["auto"]},
        run_opts={"device": "cpu"},
    )
    assert brain.test_precisions == ["fp32"]

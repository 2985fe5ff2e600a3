"""Precision modes the hardware runs slowly are refused; ``auto`` picks
the fast one. The CPU's capability checks and the speed probe are mocked
as an AVX2 CPU without native bf16 (AMD Zen 3), an AVX-512 one with fast
bf16 (AMD Zen 4), an AVX-512 one reporting native bf16 that runs it
slower than fp32 (the Intel Xeon of issue 12's closing note), and one with
AMX, where bf16 keeps PyTorch's fused attention kernel."""

import logging
import math
import sys

import pytest
import torch

from ast_lobes import AudioSpectrogramTransformer, set_inference_precision
from ast_lobes.inference import kernels, onnx_runtime, probe
from ast_lobes.inference.decision import decide_precision
from ast_lobes.inference.hardware import SlowPrecisionError, detect_hardware


def mock_cpu(monkeypatch, capability, native_bf16, speeds, amx=False):
    monkeypatch.setattr(
        torch.backends.cpu, "get_cpu_capability", lambda: capability
    )
    monkeypatch.setattr(
        torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: native_bf16
    )
    monkeypatch.setattr(
        torch.cpu, "_is_amx_tile_supported", lambda: amx, raising=False
    )
    probed = []

    def fake_probe(modes, threads=None, shape=None):
        probed.append(modes)
        return {mode: speeds[mode] for mode in modes}

    monkeypatch.setattr(probe, "probe_speeds", fake_probe)
    return probed


@pytest.fixture
def avx2_cpu(monkeypatch):
    speeds = {"int8-dynamic": 1.5, "ort-int8": 1.3}
    return mock_cpu(monkeypatch, "AVX2", False, speeds)


@pytest.fixture
def bf16_cpu(monkeypatch):
    speeds = {"bf16": 2.9, "int8-dynamic": 1.9, "int8-bf16": 2.4,
              "ort-int8": 2.5}  # fmt: skip
    return mock_cpu(monkeypatch, "AVX512", True, speeds)


@pytest.fixture
def slow_bf16_cpu(monkeypatch):
    speeds = {"bf16": 0.55, "int8-dynamic": 1.85, "int8-bf16": 1.5,
              "ort-int8": 1.6}  # fmt: skip
    return mock_cpu(monkeypatch, "AVX512", True, speeds)


def encoder():
    return AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, target_length=100
    )


def test_detected_as_mocked(avx2_cpu):
    hardware = detect_hardware("cpu")
    assert hardware.capability == "AVX2" and not hardware.native_bf16


@pytest.mark.parametrize("mode", ["bf16", "bf16-autocast", "int8"])
def test_slow_modes_are_refused_without_native_bf16(avx2_cpu, mode):
    with pytest.raises(SlowPrecisionError, match=f"{mode} runs slower.*AVX2"):
        set_inference_precision(encoder(), mode)


@pytest.fixture
def plain_cpu(monkeypatch):
    return mock_cpu(monkeypatch, "DEFAULT", False, {})


def test_auto_picks_eager_int8_without_native_bf16(avx2_cpu):
    converted = set_inference_precision(encoder(), "auto")
    assert converted.precision == "int8-dynamic"
    qkv = converted.module.blocks[0].attn.qkv
    assert isinstance(qkv, torch.ao.nn.quantized.dynamic.Linear)
    assert qkv.weight().dtype == torch.qint8


def test_auto_picks_fp32_without_bf16_or_avx2(plain_cpu):
    assert set_inference_precision(encoder(), "auto").precision == ("fp32")
    with pytest.raises(SlowPrecisionError, match="needs an AVX2 CPU"):
        set_inference_precision(encoder(), "int8-dynamic")


def test_tagger_decides_its_precision_when_built(avx2_cpu):
    from tagger_models import tagger_over

    from ast_lobes import AudioClassificationHead

    def tagger(**kwargs):
        return tagger_over(
            encoder(), AudioClassificationHead(32, 2), ["a", "b"], 100,
            **kwargs,
        )  # fmt: skip

    auto = tagger()
    assert auto.precision == "int8-dynamic"
    assert auto.pipeline.encoder.precision == "int8-dynamic"
    fc1 = auto.pipeline.bare_encoder.blocks[0].mlp.fc1
    assert isinstance(fc1, torch.ao.nn.quantized.dynamic.Linear)
    chosen = tagger(precision="fp32")
    chosen.scores_batch(torch.randn(1, 16000))
    assert chosen.precision == "fp32"
    with pytest.raises(SlowPrecisionError, match="bf16 runs slower"):
        tagger(precision="bf16")


def test_forced_mode_runs(avx2_cpu):
    converted = set_inference_precision(encoder(), "bf16", force=True)
    assert converted.precision == "bf16"
    assert converted.module.cls_token.dtype == torch.bfloat16


def test_auto_picks_bf16_with_native_bf16(bf16_cpu):
    assert set_inference_precision(encoder(), "auto").precision == ("bf16")


@pytest.mark.parametrize("amx, blocks", [(False, True), (True, False)])
def test_bf16_attention_in_blocks_only_without_amx(monkeypatch, amx, blocks):
    mock_cpu(monkeypatch, "AVX512", True, {"bf16": 2.9}, amx=amx)
    model = encoder().eval()
    fbank = torch.randn(2, 100, 128)
    expected = model(fbank)
    converted = set_inference_precision(model, "bf16")
    attention = converted.module.blocks[0].attn
    assert isinstance(attention, kernels.ChunkedAttention) == blocks
    torch.testing.assert_close(converted(fbank), expected, atol=0.05, rtol=0.0)


def test_int8_bf16_where_bf16_units_pay_and_only_there(monkeypatch):
    # the probe's figures of an AMD EPYC Zen 4 (issue 51): int8 linear
    # layers with bf16 attention products beat both bf16 and int8-dynamic
    speeds = {"bf16": 1.9, "int8-dynamic": 2.1, "int8-bf16": 2.5,
              "ort-int8": 2.3}  # fmt: skip
    probed = mock_cpu(monkeypatch, "AVX512", True, speeds)
    chosen = set_inference_precision(encoder(), "auto").precision
    assert chosen == "int8-bf16"
    assert "int8-bf16" in probed[0]
    # without native bf16 it is neither probed nor run unless forced
    speeds = {"int8-dynamic": 1.5, "int8-bf16": 1.7, "ort-int8": 1.3}
    probed = mock_cpu(monkeypatch, "AVX2", False, speeds)
    chosen = set_inference_precision(encoder(), "auto").precision
    assert chosen == "int8-dynamic"
    assert "int8-bf16" not in probed[0]
    with pytest.raises(SlowPrecisionError, match="int8-bf16 runs slower"):
        set_inference_precision(encoder(), "int8-bf16")


def test_native_bf16_measured_slow_is_not_chosen(slow_bf16_cpu):
    converted = set_inference_precision(encoder(), "auto")
    assert converted.precision == "int8-dynamic"
    with pytest.raises(SlowPrecisionError, match="measured 0.55x of fp32"):
        set_inference_precision(encoder(), "bf16")
    with pytest.raises(SlowPrecisionError, match="bf16-autocast runs slower"):
        set_inference_precision(encoder(), "bf16-autocast")
    assert slow_bf16_cpu == [
        ("bf16", "int8-dynamic", "int8-bf16", "ort-int8"),
        ("bf16",),
        ("bf16",),
    ]
    forced = set_inference_precision(encoder(), "bf16", force=True)
    assert forced.precision == "bf16"


def test_auto_keeps_fp32_when_nothing_measures_faster(monkeypatch):
    speeds = {"bf16": 0.9, "int8-dynamic": 1.05, "int8-bf16": 1.0,
              "ort-int8": 1.0}  # fmt: skip
    mock_cpu(monkeypatch, "AVX512", True, speeds)
    assert set_inference_precision(encoder(), "auto").precision == ("fp32")


def test_real_probe_measures_every_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("AST_LOBES_CACHE", str(tmp_path))
    modes = ("bf16", "int8-dynamic", "ort-int8")
    speeds = probe.probe_speeds.__wrapped__(modes, 1, (64, 2, 50))
    assert set(speeds) == set(modes)
    # a ratio of two timings: positive and finite, its size is the CPU's
    # and the load's (a loaded machine gave ort-int8 258x a tiny block)
    assert all(0 < speed < math.inf for speed in speeds.values())
    assert len(list((tmp_path / "onnx").glob("*.int8.onnx"))) == 1


def test_probe_block_has_the_asked_shape():
    block, tokens = probe.probe_block("int8-dynamic", (64, 4, 30))
    assert tokens.shape == (1, 30, 64)
    assert block.attn.num_heads == 4
    assert block(tokens).shape == (1, 30, 64)


def test_probe_runs_at_the_models_token_count(monkeypatch):
    shapes = []

    def fake_probe(modes, threads=None, shape=None):
        shapes.append(shape)
        return dict.fromkeys(modes, 1.5)

    monkeypatch.setattr(probe, "probe_speeds", fake_probe)
    model = AudioSpectrogramTransformer(
        model_size=None, embed_dim=48, depth=1, num_heads=3,
        target_length=100, fstride=16, tstride=16,
    )  # fmt: skip
    set_inference_precision(model, "auto")
    # AST-Base's block at the model's 8 x 6 patches (128 mel bins and 100
    # frames in 16 x 16 patches, stride 16) and 2 class tokens
    assert shapes == [(768, 12, 8 * 6 + 2)]
    decide_precision("auto")
    assert shapes[-1] == (768, 12, 1214)  # AST-Base at 10 s, stride 10


@pytest.fixture
def said_once():
    onnx_runtime.report_missing_onnx.cache_clear()
    yield
    onnx_runtime.report_missing_onnx.cache_clear()


@pytest.mark.parametrize("missing", ["onnxscript", "onnxruntime"])
def test_auto_says_once_which_backend_is_missing_and_how_to_install_it(
    monkeypatch, caplog, capsys, tmp_path, said_once, missing
):
    from tagger_models import deep_tagger, export_tagger, noise_clips

    from pretrained_interfaces.tag_cli import main as ast_tag

    mock_cpu(monkeypatch, "AVX512", True, {"bf16": 0.5, "int8-dynamic": 2.0,
                                           "int8-bf16": 1.9})  # fmt: skip
    monkeypatch.setitem(sys.modules, missing, None)  # its import fails
    with caplog.at_level(logging.WARNING, "ast_lobes.inference"):
        chosen = set_inference_precision(encoder(), "auto").precision
        set_inference_precision(encoder(), "auto")
    assert chosen == "int8-dynamic"
    [record] = [r for r in caplog.records if "not a candidate" in r.message]
    version = {"onnxscript": ">=0.7.2,<0.8", "onnxruntime": ">=1.32.0,<2"}
    assert f'{missing} not installed; pip install "{missing}' in record.message
    assert version[missing] in record.message
    # an explicit mode says nothing of it; ast-tag shows it on stderr
    caplog.clear()
    set_inference_precision(encoder(), "int8-dynamic")
    assert "not a candidate" not in caplog.text
    onnx_runtime.report_missing_onnx.cache_clear()
    model = export_tagger(deep_tagger(), tmp_path / "m")
    clip = noise_clips(tmp_path / "clips", count=1)[0]
    assert ast_tag([clip, "--model", str(model)]) == 0
    err = capsys.readouterr().err
    assert "ast-tag: precision auto: ort-int8 (ONNX Runtime's int8" in err
    assert "pip install" in err


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
    assert brain.test_precisions == ["int8-dynamic"]


@pytest.mark.parametrize("option", ["precision", "eval_precision"])
def test_bf16_training_refused_where_slow_unless_forced(
    avx2_cpu, tiny_pipeline, option
):
    from ast_lobes import AudioClassificationBrain

    modules = {
        "compute_features": tiny_pipeline.compute_features,
        "normalize": tiny_pipeline.normalize,
        "encoder": tiny_pipeline.encoder,
        "classifier": tiny_pipeline.classifier,
    }
    run_opts = {"device": "cpu", option: "bf16"}
    with pytest.raises(SlowPrecisionError, match="bf16-autocast runs slower"):
        AudioClassificationBrain(
            modules=modules, hparams={"loss": "ce"}, run_opts=run_opts
        )
    forced = AudioClassificationBrain(
        modules=modules,
        hparams={"loss": "ce", "force_precision": True},
        run_opts=run_opts,
    )
    assert getattr(forced, option) == "bf16"


def test_bf16_training_accepted_where_fast(bf16_cpu, tiny_pipeline):
    from ast_lobes import AudioClassificationBrain

    brain = AudioClassificationBrain(
        modules={"encoder": tiny_pipeline.encoder},
        hparams={"loss": "ce"},
        run_opts={"device": "cpu", "precision": "bf16"},
    )
    assert brain.precision == "bf16"


def test_bf16_pretraining_refused_where_slow(avx2_cpu):
    from ast_lobes.training.pretraining import MaskedPatchBrain

    brain = MaskedPatchBrain(
        modules={"model": torch.nn.Linear(2, 2)},
        hparams={},
        run_opts={"device": "cpu", "precision": "bf16"},
    )
    with pytest.raises(SlowPrecisionError, match="bf16-autocast runs slower"):
        brain.on_fit_start()

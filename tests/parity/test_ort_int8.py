"""Precision ``ort-int8``: the encoder run by ONNX Runtime's dynamic int8,
against the PyTorch fp32 encoder (which masks padded patches where ONNX
Runtime runs each padded clip alone), its cache, its limits and its place
in ``auto``."""

import logging
import sys

import numpy as np
import pytest
import torch
from batch_norms import randomise_batch_norms
from tagger_models import deep_tagger, export_tagger, noise_clips, write_record

import ast_lobes.inference.onnx_runtime as onnx_runtime
from ast_lobes import AudioSpectrogramTransformer, set_inference_precision
from ast_lobes.inference import probe as probe_module
from ast_lobes.inference.modes import PRECISION_TOLERANCE
from ast_lobes.inference.onnx_runtime import OrtInt8Encoder
from pretrained_interfaces import AudioTagger
from pretrained_interfaces.tag_cli import main as ast_tag

pytest.importorskip("onnxruntime")


def small_encoder(seed=0, **kwargs):
    torch.manual_seed(seed)
    options = dict(model_size=None, embed_dim=64, depth=2, num_heads=4,
                   target_length=200, fstride=16, tstride=16)  # fmt: skip
    options.update(kwargs)
    return AudioSpectrogramTransformer(**options).eval()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("AST_LOBES_CACHE", str(folder))
    return folder / "onnx"


def test_padded_clips_score_as_alone_and_as_fp32_masks_them(cache):
    encoder = small_encoder()
    converted = OrtInt8Encoder(encoder)
    fbank = torch.randn(4, 200, 128)
    # 200, 200, 140 and 80 valid frames (patches of 16 frames, stride 16)
    lengths = torch.tensor([1.0, 1.0, 0.7, 0.4])
    with torch.no_grad():
        masked = encoder(fbank, lengths)
        got = converted(fbank, lengths)
        alone = converted(fbank[3:, :80])
        full = converted(fbank[:2])
        steps = converted(fbank, lengths, all_tokens=True)
    assert got.shape == masked.shape == (4, 1, 64)
    difference = float((got - masked).abs().max())
    assert 0 < difference < PRECISION_TOLERANCE["ort-int8"]
    torch.testing.assert_close(got[3:], alone, rtol=0, atol=1e-6)
    torch.testing.assert_close(got[:2], full, rtol=0, atol=1e-6)
    # every token: a padded clip's patches past its own frames are zero
    # (80 frames: 5 of the 12 time columns, in 8 frequency rows)
    grid = steps[3, 2:].reshape(8, 12, 64)
    assert bool((grid[:, 5:] == 0).all()) and bool((grid[:, :5] != 0).any())


@pytest.mark.parametrize("pooling", ["mean", "time_steps", "cls_dist_pair"])
def test_every_pooling_is_the_encoders_own(cache, pooling):
    encoder = small_encoder(pooling=pooling)
    fbank = torch.randn(2, 200, 128)
    with torch.no_grad():
        expected = encoder(fbank)
        got = OrtInt8Encoder(encoder)(fbank)
    assert got.shape == expected.shape
    assert float((got - expected).abs().max()) < PRECISION_TOLERANCE["ort-int8"]


@pytest.mark.parametrize("stem", [
    dict(stem_channels=8),
    dict(stem_channels=8, stem_kind="time", stem_layers=3),
    dict(stem_channels=8, stem_kind="time", stem_norm="batch"),
    dict(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
         image_stem_bands=8, stem_norm="batch"),
    dict(stem_channels=8, stem_kind="time_image", image_stem_channels=4,
         image_stem_bands=8, image_stem_stride=4, stem_norm="batch"),
])  # fmt: skip
def test_every_stem_is_the_encoders_own(cache, stem):
    encoder = small_encoder(patch_size=(128, 2), fstride=128, tstride=2,
                            pooling="mean", **stem)  # fmt: skip
    randomise_batch_norms(encoder)
    fbank = torch.randn(2, 200, 128)
    lengths = torch.tensor([1.0, 0.6])
    with torch.no_grad():
        expected = encoder(fbank, lengths)
        got = OrtInt8Encoder(encoder)(fbank, lengths)
    assert float((got - expected).abs().max()) < PRECISION_TOLERANCE["ort-int8"]


def test_export_is_cached_per_weights(cache, monkeypatch):
    first = OrtInt8Encoder(small_encoder())
    assert [p.name for p in cache.iterdir()] == [first.path.split("/")[-1]]

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_runtime, "export_encoder_onnx", no_export)
    again = OrtInt8Encoder(small_encoder())  # same seed, same weights
    assert again.path == first.path
    with pytest.raises(AssertionError, match="exported again"):
        OrtInt8Encoder(small_encoder(seed=1))  # other weights, other file
    assert len(list(cache.iterdir())) == 1  # nothing half-written is left


def test_int8_linears_and_one_fp32_attention_node_per_block(cache):
    onnx = pytest.importorskip("onnx")
    converted = OrtInt8Encoder(small_encoder())  # 2 blocks
    nodes = onnx.load(converted.path).graph.node
    ops = [node.op_type for node in nodes]
    # one fused fp32 attention per block (ONNX Runtime's MultiHeadAttention
    # over the projections): not ONNX's Attention, nor ONNX Runtime's
    # QAttention, whose weights are inputs
    assert ops.count("MultiHeadAttention") == 2 and "QAttention" not in ops
    assert "Attention" not in ops and "Softmax" not in ops
    # no head reshapes or transposes left around it
    producer = {out: node.op_type for node in nodes for out in node.output}
    for node in nodes:
        if node.op_type == "MultiHeadAttention":
            assert {producer[name] for name in node.input}.isdisjoint(
                {"Reshape", "Transpose"}
            )
        elif node.op_type in ("Reshape", "Transpose"):
            assert producer.get(node.input[0]) != "MultiHeadAttention"
    # the linear layers are int8: query, key, value (apart, no Split),
    # proj, fc1, fc2 of both blocks; the patch projection stays fp32
    assert ops.count("MatMulInteger") == 12 and "Split" not in ops
    assert "Conv" in ops and "ConvInteger" not in ops


def test_fused_attention_computes_what_pytorch_does(tmp_path):
    # fp32 graphs, nothing quantised: the fused node (4 heads, ONNX
    # Runtime's kernel) against PyTorch's attention, to float precision
    encoder = small_encoder()
    plain = onnx_runtime.export_encoder_onnx(
        onnx_runtime.AllTokens(encoder), encoder, str(tmp_path / "a.onnx")
    )
    fused = onnx_runtime.fuse_multi_head_attention(
        plain, str(tmp_path / "fused.onnx"), heads=4
    )
    fbank = torch.randn(2, 150, 128)
    with torch.no_grad():
        expected = encoder(fbank, all_tokens=True).numpy()
    session = onnx_runtime.new_session(fused)
    out = session.run(None, {"fbank": fbank.numpy()})[0]
    np.testing.assert_allclose(out, expected, atol=2e-5, rtol=1e-4)


def test_inputs_the_graph_does_not_take_run_in_pytorch_fp32(cache, caplog):
    encoder = small_encoder()
    converted = OrtInt8Encoder(encoder)
    assert converted.frames == (32, 200)  # two time patches up to the grid
    short = torch.randn(2, 20, 128)
    with torch.no_grad(), caplog.at_level(logging.WARNING):
        got = converted(short)
        expected = encoder(short)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert "inputs of 20 frames and 128 mel bins run in PyTorch" in caplog.text
    other_mels = torch.randn(1, 100, 64)
    with torch.no_grad():
        got = converted(other_mels)
        expected = encoder(other_mels)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_tagger_and_ast_tag_run_ort_int8_and_refuse_merging(
    cache, tmp_path, capsys
):
    model = export_tagger(deep_tagger(), tmp_path / "m")
    paths = noise_clips(tmp_path / "clips", count=3)
    exact = AudioTagger.from_source(str(model), precision="fp32")
    tagger = AudioTagger.from_source(str(model), precision="ort-int8")
    assert tagger.precision == "ort-int8"
    for path in paths:
        want = exact.tag_file(path, top_k=None).scores
        got = tagger.tag_file(path, top_k=None).scores
        assert np.abs(got - want).max() < 0.05  # sigmoid scores
    with pytest.raises(ValueError, match="cannot merge tokens"):
        tagger.merge_tokens(0.3)
    assert ast_tag([paths[0], "--model", str(model), "--precision",
                    "ort-int8", "--json"]) == 0  # fmt: skip
    code = ast_tag([paths[0], "--model", str(model), "--precision",
                    "ort-int8", "--merge-tokens", "0.3"])  # fmt: skip
    assert code == 2
    assert "cannot merge tokens" in capsys.readouterr().err


def test_agreement_measures_ort_int8_unmerged(cache, tmp_path):
    from pretrained_interfaces.agreement import measure_agreement

    paths = noise_clips(tmp_path / "clips", count=2)
    model = str(export_tagger(deep_tagger(), tmp_path / "m"))
    rows = measure_agreement(model, paths, ["ort-int8"], [0.3])
    assert [(r["precision"], r["rate"]) for r in rows] == [
        ("fp32", 0.0), ("fp32", 0.3), ("ort-int8", 0.0),
    ]  # fmt: skip


@pytest.fixture
def ort_fastest(monkeypatch):
    """A CPU whose probe puts ONNX Runtime's int8 first."""
    speeds = {"bf16": 1.2, "int8-dynamic": 1.5, "int8-bf16": 1.4,
              "ort-int8": 1.9}  # fmt: skip

    def probe(modes, threads=None, shape=None):
        return {mode: speeds[mode] for mode in modes}

    monkeypatch.setattr(probe_module, "probe_speeds", probe)


def test_auto_takes_ort_int8_where_fastest_unless_recorded_otherwise(
    cache, tmp_path, ort_fastest
):
    assert set_inference_precision(small_encoder()).precision == "ort-int8"
    model = export_tagger(deep_tagger(), tmp_path / "m")
    assert AudioTagger.from_source(str(model)).precision == "ort-int8"
    # merging asked for (ast-tag --merge-tokens): a mode that merges
    merged = AudioTagger.from_source(str(model), merge_rate=0.3)
    assert merged.precision == "int8-dynamic"
    assert merged.pipeline.encoder.merge_rate == 0.3
    # recorded under 99 %: refused
    write_record(model, {"ort-int8": {"0": 0.97}})
    assert AudioTagger.from_source(str(model)).precision == "int8-dynamic"
    # a merge rate recorded for int8-dynamic: auto keeps to modes that merge
    write_record(model, {"ort-int8": {"0": 1.0},
                         "int8-dynamic": {"0": 1.0, "0.3": 0.995}})  # fmt: skip
    tagger = AudioTagger.from_source(str(model))
    assert tagger.precision == "int8-dynamic"
    assert tagger.pipeline.encoder.merge_rate == 0.3


def test_missing_onnxruntime_is_named(monkeypatch):
    import ast_lobes.inference.hardware as hardware

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    cpu = hardware.Hardware("cpu", "AVX2", False)
    assert "ort-int8" not in hardware.fast_precisions(cpu)
    with pytest.raises(
        ImportError,
        match=r'needs onnxruntime, not installed: pip install "onnxruntime>=',
    ):
        set_inference_precision(small_encoder(), "ort-int8")


def test_an_unwritable_cache_is_named_and_auto_goes_on(
    tmp_path, monkeypatch, caplog, capsys
):
    blocked = tmp_path / "a_file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("AST_LOBES_CACHE", str(blocked))
    probe_module.probe_speeds.cache_clear()
    onnx_runtime.block_session.cache_clear()
    with pytest.raises(onnx_runtime.OnnxCacheError, match="a_file/onnx"):
        set_inference_precision(small_encoder(), "ort-int8", force=True)
    with caplog.at_level(logging.WARNING):
        chosen = set_inference_precision(small_encoder(), "auto")
    assert chosen.precision != "ort-int8"
    assert "ort-int8 not probed: precision ort-int8 keeps" in caplog.text
    model = export_tagger(deep_tagger(), tmp_path / "m")
    clip = noise_clips(tmp_path / "clips", count=1)[0]
    code = ast_tag([clip, "--model", str(model), "--precision", "ort-int8"])
    assert code == 2
    assert "which cannot be written" in capsys.readouterr().err
    probe_module.probe_speeds.cache_clear()


def test_the_export_leaves_the_root_logger_as_it_was(cache, monkeypatch):
    # ONNX Runtime's quantiser logs on the root logger, which then gets a
    # handler printing every library's records if it had none
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    OrtInt8Encoder(small_encoder(seed=2))
    assert root.handlers == []

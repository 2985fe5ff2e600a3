"""What the benchmarks share: the model sizes and modes, the CPU's line
(capability, the probe's figures and the mode ``auto`` picks, as
``ast_lobes.inference.decision.decide_precision`` decides it), the Hugging
Face reference model, the models each mode times, the top-1 agreement
with fp32 of trained models (``agreement``), and ``run_worker``, which
runs a measurement of ``workers.py`` in a process of its own.

Authors
 * AST-SpeechBrain contributors 2026
"""

import contextlib
import copy
import csv
import functools
import glob
import io
import json
import os
import platform
import subprocess
import sys
import tempfile

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from ast_lobes import set_inference_precision  # noqa: E402
from ast_lobes.inference.decision import decide_precision  # noqa: E402
from ast_lobes.inference.hardware import (  # noqa: E402
    SlowPrecisionError,
    detect_hardware,
)
from ast_lobes.inference.onnx_runtime import (  # noqa: E402
    new_session,
    quantize_onnx_int8,
)
from ast_lobes.inference.probe import measured_speeds  # noqa: E402

SIZES = {  # hidden, layers, heads
    "tiny": (192, 12, 3),
    "base": (768, 12, 12),
}
MODES = ("hf-fp32", "fp32", "bf16", "bf16-autocast", "int8", "int8-dynamic",
         "int8-bf16", "ort-int8", "auto", "onnx-fp32", "onnx-int8",
         "hf-ort-int8")  # fmt: skip
# Variants measured and not made modes (docs/fast_inference.md says why):
# int8 weights per output channel in PyTorch and ONNX Runtime; ONNX
# Runtime's transformer optimiser (onnxruntime.transformers.optimizer)
# before the quantisation; and, for comparison, ort-int8 without its
# fused MultiHeadAttention nodes (ONNX's own Attention node kept).
LEVERS = ("int8-dynamic-pc", "ort-int8-pc", "ort-int8-opt",
          "ort-int8-unfused")  # fmt: skip


@functools.cache
def slow_modes():
    """Modes this CPU runs slower than fp32: those ``set_inference_precision``
    refuses here (int8 counted compiled)."""
    slow = []
    skipped = (*EXPORT_MODES, "auto", "hf-ort-int8", *LEVERS)
    for mode in [m for m in MODES[1:] if m not in skipped]:
        try:
            decide_precision(mode, "cpu", compile=mode == "int8")
        except SlowPrecisionError:
            slow.append(mode)
    return slow


@functools.cache
def auto_precision(merging=False, device="cpu"):
    """The mode ``auto`` picks on ``device`` (this CPU unless a CUDA
    device is named) for AST-Base at 10 s (among the modes that merge
    tokens, with ``merging``), and the probe's figures."""
    mode = decide_precision("auto", device, merging=merging)
    speeds = measured_speeds("auto", detect_hardware(device), False)
    return mode, speeds


def cpu_class():
    """The CPU as the tables name it: its model name, its family where it
    says the class (AMD's Zen generations), the cores this process may
    use and the vector units the modes depend on, read from
    ``/proc/cpuinfo`` (elsewhere ``platform.processor()`` alone)."""
    info = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    except OSError:
        pass
    name = info.get("model name") or platform.processor() or "unknown CPU"
    flags = set(info.get("flags", "").split())
    family = info.get("cpu family")
    if info.get("vendor_id") == "AuthenticAMD" and family:
        zen = {"23": "Zen or Zen 2", "26": "Zen 5",
               "25": "Zen 4" if "avx512f" in flags else "Zen 3"}  # fmt: skip
        name += f" (AMD family {family}: {zen.get(family, 'not known')})"
    units = ["AVX-512" if "avx512f" in flags else
             "AVX2" if "avx2" in flags else "no AVX2"]  # fmt: skip
    if "avx512_bf16" in flags:
        units.append("AVX512-BF16")
    if flags & {"avx512_vnni", "avx_vnni"}:
        units.append("VNNI")
    units.append("AMX" if "amx_tile" in flags else "no AMX")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else os.cpu_count()  # fmt: skip
    return f"{name}, {cores} cores, {', '.join(units)}"


def header():
    """The first lines of every table: the CPU class (``cpu_class``),
    torch, threads, the CPU's capability as PyTorch reads it, native
    bf16, the probe and the mode ``auto`` picks."""
    auto, speeds = auto_precision()
    probe = ", ".join(f"{m} {v:.2f}x" for m, v in (speeds or {}).items())
    return (
        f"CPU: {cpu_class()}\n"
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"{detect_hardware('cpu').describe()}; probe vs fp32: "
        f"{probe or '-'}; precision auto: {auto}; slower than fp32 here: "
        f"{', '.join(slow_modes()) or 'none'}"
    )


def build_reference(size, frames, path):
    """Saves a random HF AST of ``size`` with ``save_pretrained``."""
    from transformers import (
        ASTConfig,
        ASTFeatureExtractor,
        ASTForAudioClassification,
    )

    hidden, layers, heads = SIZES[size]
    torch.manual_seed(0)
    config = ASTConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * hidden,
        max_length=frames,
        num_labels=527,
        layer_norm_eps=1e-6,
    )
    ASTForAudioClassification(config).save_pretrained(path)
    ASTFeatureExtractor(max_length=frames).save_pretrained(path)


def student_stride(mode):
    """The patch stride of a ``student-s<N>`` mode, else None."""
    return int(mode[len("student-s") :]) if mode.startswith("student") else None


def load_student(stride, frames):
    """An AST-Tiny (DeiT-Tiny size: 192 wide, 12 blocks, 3 heads) with
    patch stride ``stride``, random weights, in precision auto: the size
    of a distilled student."""
    from ast_lobes import AudioClassificationHead, AudioSpectrogramTransformer

    hidden, layers, heads = SIZES["tiny"]
    torch.manual_seed(0)
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=hidden, depth=layers, num_heads=heads,
        target_length=frames, fstride=stride, tstride=stride,
    )  # fmt: skip
    classifier = AudioClassificationHead(hidden, 527).eval()
    converted = set_inference_precision(encoder, "auto")
    return lambda x: classifier(converted(x)).squeeze(1)


def split_merge(mode):
    """``(precision, merge rate)`` of a mode such as
    ``int8-dynamic+merge0.3`` (token merging on top of a precision)."""
    precision, _, rate = mode.partition("+merge")
    return precision, float(rate or 0.0)


def convert(encoder, mode):
    """``encoder`` converted for ``mode`` (a precision, perhaps with
    ``+merge<rate>``), forced even where this CPU runs it slowly (``auto``
    decided by its probe, as a tagger decides it)."""
    precision, rate = split_merge(mode)
    converted = set_inference_precision(
        encoder, precision, compile=precision == "int8",
        force=precision != "auto", merging=bool(rate),
    )  # fmt: skip
    return converted.set_merge_rate(rate)


# The whole classifier exported by pretrained_interfaces.onnx_export and run
# by ONNX Runtime, as a user of the ONNX export runs it (the precision
# ort-int8 is the same runtime behind the pipeline).
EXPORT_MODES = ("onnx-fp32", "onnx-int8")


def checkpoint_pipeline(path, frames):
    """The AST checkpoint of ``path`` as a pipeline (its ``classify``)."""
    from ast_lobes import (
        AudioClassificationPipeline,
        FbankNormalization,
        KaldiFbank,
    )
    from ast_lobes.weights.published import load_ast_checkpoint

    encoder, classifier = load_ast_checkpoint(path)
    return AudioClassificationPipeline(
        KaldiFbank(target_length=frames), FbankNormalization("audioset"),
        encoder.eval(), classifier.eval(),
    )  # fmt: skip


def onnx_file(mode, folder, make_pipeline):
    """``make_pipeline()`` exported to ONNX in ``folder`` (``onnx-fp32``)
    and quantised by ONNX Runtime's dynamic int8 (``onnx-int8``: weights
    int8 per tensor, activations per batch, as ``int8-dynamic``), each
    written once."""
    from pretrained_interfaces.onnx_export import export_classifier_onnx

    fp32 = os.path.join(folder, "model.onnx")
    if not os.path.isfile(fp32):
        export_classifier_onnx(make_pipeline(), fp32)
    if mode == "onnx-fp32":
        return fp32
    int8 = os.path.join(folder, "model.int8.onnx")
    if not os.path.isfile(int8):
        quantize_onnx_int8(fp32, int8)
    return int8


def load_onnx(mode, folder, make_pipeline):
    """ONNX Runtime (CPU, as many threads as torch, idle threads not
    spinning) running ``mode``: the whole classifier exported as one
    graph, as a user of the ONNX export runs it."""
    session = new_session(onnx_file(mode, folder, make_pipeline))

    def forward(fbank):
        logits = session.run(None, {"fbank": fbank.numpy()})[0]
        return torch.from_numpy(logits)

    return forward


def hf_onnx_int8_file(path, frames):
    """Hugging Face's AST of ``path`` exported as Optimum exports it (the
    TorchScript exporter, opset 17, ``frames`` fixed) and quantised by ONNX
    Runtime's dynamic int8 with its defaults: ONNX Runtime int8 of the
    Hugging Face port (in ``path``, written once)."""
    import warnings

    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import ASTForAudioClassification

    fp32 = os.path.join(path, "hf.onnx")
    int8 = os.path.join(path, "hf.int8.onnx")
    if os.path.isfile(int8):
        return int8
    model = ASTForAudioClassification.from_pretrained(
        path, attn_implementation="eager"
    ).eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (torch.randn(1, frames, 128),), fp32, dynamo=False,
            opset_version=17, input_names=["input_values"],
            output_names=["logits"],
            dynamic_axes={"input_values": {0: "batch"}},
        )  # fmt: skip
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    return int8


def load(mode, path, frames):
    """A function fbank -> logits for ``mode``."""
    if mode in EXPORT_MODES:
        return load_onnx(mode, path, lambda: checkpoint_pipeline(path, frames))
    if student_stride(mode):
        return load_student(student_stride(mode), frames)
    if mode == "hf-ort-int8":
        session = new_session(hf_onnx_int8_file(path, frames))
        return lambda x: torch.from_numpy(
            session.run(None, {"input_values": x.numpy()})[0]
        )
    if mode == "hf-fp32":
        from transformers import ASTForAudioClassification

        model = ASTForAudioClassification.from_pretrained(
            path, attn_implementation="sdpa"
        ).eval()
        return lambda x: model(input_values=x).logits
    from ast_lobes.weights.published import load_ast_checkpoint

    encoder, classifier = load_ast_checkpoint(path)
    return forward_of(mode, encoder, classifier, path)


def per_channel_int8(encoder):
    """``encoder`` with its blocks' linear layers in ``torch.ao`` dynamic
    int8 with weights per output channel (``int8-dynamic`` is per
    tensor), as an ``InferenceEncoder``."""
    from torch import nn

    from ast_lobes.inference.precision import InferenceEncoder

    encoder.eval()
    torch.backends.quantized.engine = "x86"
    torch.ao.quantization.quantize_dynamic(
        encoder.blocks,
        {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
        dtype=torch.qint8, inplace=True,
    )  # fmt: skip
    return InferenceEncoder(encoder, "int8-dynamic")


def ort_lever_file(mode, encoder, folder):
    """The int8 ONNX file of ``encoder`` for an ONNX Runtime lever of
    ``LEVERS`` in ``folder`` (the encoder's every-token graph exported
    as ``ort-int8`` exports it, written once)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ast_lobes.inference.onnx_runtime import (
        AllTokens,
        export_encoder_onnx,
        fuse_multi_head_attention,
        quiet,
    )

    fp32 = os.path.join(folder, "encoder.onnx")
    if not os.path.isfile(fp32):
        export_encoder_onnx(AllTokens(encoder), encoder, fp32)
    out = os.path.join(folder, f"{mode}.onnx")
    if os.path.isfile(out):
        return out
    scratch = os.path.join(folder, f"{mode}.scratch.onnx")
    heads, width = encoder.blocks[0].attn.num_heads, encoder.embed_dim
    if mode == "ort-int8-pc":
        with quiet(["root"]):
            quantize_dynamic(
                fp32, scratch, weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"], per_channel=True,
            )  # fmt: skip
        fuse_multi_head_attention(scratch, out, heads)
    elif mode == "ort-int8-opt":
        from onnxruntime.transformers.optimizer import optimize_model

        with quiet(["root"]), contextlib.redirect_stdout(io.StringIO()):
            optimized = optimize_model(  # it prints its shape inference
                fp32, model_type="vit", num_heads=heads, hidden_size=width
            )
        optimized.save_model_to_file(scratch)
        quantize_onnx_int8(scratch, scratch + ".int8")
        fuse_multi_head_attention(scratch + ".int8", out, heads)
    else:  # ort-int8-unfused: ONNX's own Attention node kept
        quantize_onnx_int8(fp32, out)
    return out


def forward_of(mode, encoder, classifier, folder):
    """fbank -> logits of this project's ``encoder`` and ``classifier``
    in ``mode`` (a precision, perhaps ``+merge<rate>``, ``auto``, or one
    of ``LEVERS``, whose files go to ``folder``)."""
    if mode == "int8-dynamic-pc":
        converted = per_channel_int8(encoder)
        return lambda x: classifier(converted(x)).squeeze(1)
    if mode in LEVERS:
        session = new_session(ort_lever_file(mode, encoder, folder))

        def forward(x):
            out = session.run(None, {"fbank": x.float().numpy()})[0]
            grid = encoder.patch_grid(x.shape[1], x.shape[2])
            pooled = encoder.pool_tokens(torch.from_numpy(out), grid, None)
            return classifier(pooled).squeeze(1)

        return forward
    converted = convert(encoder, mode)
    return lambda x: classifier(converted(x)).squeeze(1)


def run_folders(experiment):
    """The run folders of an experiment: those holding an exported
    ``model`` and the test split ``save/test.csv`` (the folder itself, or
    its folds)."""
    found = []
    for test in sorted(glob.glob(os.path.join(experiment, "**", "test.csv"),
                                 recursive=True)):  # fmt: skip
        run = os.path.dirname(os.path.dirname(test))
        if os.path.isdir(os.path.join(run, "model")):
            found.append(run)
    return found


def clips_of(run):
    """The audio files of a run's test split (its ``wav`` or ``path``
    column)."""
    with open(os.path.join(run, "save", "test.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    column = "wav" if rows and "wav" in rows[0] else "path"
    return [row[column] for row in rows]


def agreement(experiment, modes):
    """Top-1 agreement with fp32 of the trained models of ``experiment``
    (every folder of ``run_folders``) on their test clips, each clip
    classified alone.

    Modes are skipped where this CPU runs them slower than fp32
    (``slow_modes``), and so are fp32 itself (the reference) and Hugging
    Face's modes (``hf-*``); ``auto`` is decided by its probe, as a
    tagger decides it.

    Returns
    -------
    dict
        ``{mode: (agreeing clips, clips, largest absolute logit
        difference from fp32)}``, in the order of ``modes``; empty where
        the experiment has no test clips.
    """
    from ast_lobes import load_model_source, read_audio

    skipped = ("fp32", *slow_modes())
    modes = [m for m in modes if not m.startswith("hf-") and m not in skipped]
    hits = dict.fromkeys(modes, 0)
    largest = dict.fromkeys(modes, 0.0)
    total = 0
    for run in run_folders(experiment):
        pipeline = load_model_source(os.path.join(run, "model")).pipeline
        encoder, head = pipeline.bare_encoder, pipeline.head
        feats = [pipeline.features(read_audio(wav))[0]
                 for wav in clips_of(run)]  # fmt: skip
        with torch.inference_mode(), tempfile.TemporaryDirectory() as tmp:
            exact = [head(encoder(f)).squeeze(1) for f in feats]
            for mode in modes:
                if mode in EXPORT_MODES:
                    forward = load_onnx(mode, tmp, lambda p=pipeline: p)
                else:
                    forward = forward_of(
                        mode, copy.deepcopy(encoder), head, tmp
                    )
                for fbank, reference in zip(feats, exact, strict=True):
                    logits = forward(fbank)
                    same = logits.argmax(-1) == reference.argmax(-1)
                    hits[mode] += int(same.sum())
                    difference = float((logits - reference).abs().max())
                    largest[mode] = max(largest[mode], difference)
        total += sum(len(f) for f in feats)
    if not total:
        return {}
    return {m: (hits[m], total, largest[m]) for m in modes}


def fbank_batch(batch, frames):
    torch.manual_seed(1)
    return torch.randn(batch, frames, 128)


def run_worker(*args):
    """Runs ``workers.py ARGS`` in a process of its own; its last line of
    output, parsed as JSON."""
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                          "workers.py")  # fmt: skip
    command = [sys.executable, worker, *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"{args}: {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])

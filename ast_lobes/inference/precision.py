"""Inference precision modes for the AST encoder: fp32, bf16 and int8.

``set_inference_precision(encoder, mode)`` converts an encoder in place and
returns it wrapped in an ``InferenceEncoder``, which runs it in that mode
from float32 inputs (the model itself holds no precision state):

* ``fp32``: unchanged.
* ``bf16``: weights cast to bfloat16 (inputs are cast on the way in and the
  output returned in float32). On a CPU without AMX, attention runs query
  block by query block with bfloat16 matrix products, which uses the CPU's
  bf16 units where PyTorch's fused CPU attention kernel does not (measured
  2.3x faster per layer at 1214 tokens on an AVX-512 bf16 CPU); with AMX
  (and on a GPU) the fused kernel is the faster one and is kept.
* ``bf16-autocast``: fp32 weights under ``torch.autocast`` (bfloat16);
  slower than ``bf16`` on the CPU since every weight is cast on every
  call, kept for comparison.
* ``int8``: dynamic int8 quantisation of the transformer's linear layers
  with torchao (``Int8DynamicActivationInt8WeightConfig``); attention runs
  in fp32. torchao's int8 kernels only pay off under ``torch.compile`` on
  a CPU with native bf16: pass ``compile=True`` (the first call of each
  input shape then compiles). On an AVX2-only CPU it is 25x slower than
  fp32.
* ``int8-dynamic``: the same quantisation with PyTorch's eager int8
  kernels (``torch.ao`` dynamic quantisation, x86/fbgemm engine), which
  run well on AVX2 and AVX-512 CPUs alike without compiling (measured on
  AST-Base: 1.97x Hugging Face's fp32 on AVX-512, 1.57x with PyTorch held
  to AVX2 kernels). CPU only. ``torch.ao`` marks this API deprecated in
  favour of torchao, which has no fast eager int8 CPU kernel yet.
* ``ort-int8``: ONNX Runtime's dynamic int8 of the whole encoder, exported
  once per model and cached (``ast_lobes.inference.onnx_runtime``); the
  fastest mode measured on AMD EPYC Zen 5 at batch 1. CPU only, no token
  merging; needs ``pip install "ast-lobes[onnx]"``.

``auto`` decides by a speed probe: one AST-Base transformer block at the
model's token count in each candidate mode (at 1,214 tokens the
attention's share decides between bf16 and int8, which a probe at 600
tokens misjudged on an AMD EPYC Zen 5).

Authors
 * AST-SpeechBrain contributors 2026
"""

import functools
import logging
import time
import warnings

import torch
from timm.layers.attention import Attention
from timm.models.vision_transformer import Block
from torch import nn

from ast_lobes.inference.hardware import (
    choose_precision,
    detect_hardware,
    fast_precisions,
)
from ast_lobes.inference.modes import PRECISIONS
from ast_lobes.inference.onnx_runtime import (
    OnnxCacheError,
    OrtInt8Encoder,
    block_runner,
    require_onnxruntime,
)
from ast_lobes.inference.token_merging import check_mergeable, merged_transform

logger = logging.getLogger(__name__)

# Largest logit difference to fp32 accepted on a fixed small model (logits
# of order 1; measured there: 7e-3 bf16, 6e-3 bf16-autocast, 2e-2 int8).
PRECISION_TOLERANCE = {
    "fp32": 0.0,
    "bf16": 0.1,
    "bf16-autocast": 0.1,
    "int8": 0.2,
    "int8-dynamic": 0.2,
    "ort-int8": 0.2,
}


def chunked_attention(q, k, v, attn_mask=None, chunk=256):
    """Softmax attention computed ``chunk`` queries at a time.

    Arguments
    ---------
    q, k, v : torch.Tensor
        ``[batch, heads, tokens, head_dim]``.
    attn_mask : torch.Tensor or None
        Boolean, broadcastable to ``[batch, heads, tokens, tokens]``; True
        where a key may be attended to.
    chunk : int
        Queries per block; blocks are taken one clip at a time, so the
        score matrix held at once is ``heads x chunk x tokens``.

    Returns
    -------
    torch.Tensor
        Like ``q``.

    Example
    -------
    >>> q, k, v = torch.randn(3, 1, 2, 300, 16)
    >>> expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    >>> torch.allclose(chunked_attention(q, k, v, chunk=64), expected,
    ...                atol=1e-5)
    True
    """
    scale = q.shape[-1] ** -0.5
    keys = k.transpose(-2, -1)
    bias = None
    if attn_mask is not None:
        shape = torch.broadcast_shapes(attn_mask.shape[:-2], q.shape[:-2])
        bias = torch.zeros(attn_mask.shape, dtype=q.dtype, device=q.device)
        bias = bias.masked_fill(~attn_mask, float("-inf"))
        bias = bias.expand(*shape, *attn_mask.shape[-2:])
    out = torch.empty_like(q)
    for clip in range(q.shape[0]):  # one clip at a time keeps blocks small
        for start in range(0, q.shape[-2], chunk):
            rows = slice(start, start + chunk)
            scores = (q[clip, ..., rows, :] * scale) @ keys[clip]
            if bias is not None:
                scores = scores + bias[clip]
            out[clip, ..., rows, :] = torch.softmax(scores, dim=-1) @ v[clip]
    return out


class ChunkedAttention(Attention):
    """timm's ``Attention`` with ``chunked_attention`` for inference."""

    def forward(self, x, attn_mask=None, is_causal=False):
        """Same as timm's, with the attention product computed in blocks."""
        if self.training or is_causal or getattr(self, "gate", None):
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        batch, n_tokens, _ = x.shape
        qkv = self.qkv(x).reshape(
            batch, n_tokens, 3, self.num_heads, self.head_dim
        )
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        x = chunked_attention(q, k, v, attn_mask)
        x = x.transpose(1, 2).reshape(batch, n_tokens, -1)
        return self.proj(self.norm(x))


def use_bf16_attention_kernel(blocks, device_type):
    """Switches the bf16 ``blocks`` on a CPU without AMX to
    ``ChunkedAttention``; elsewhere PyTorch's fused kernel is the fast one
    (``Hardware.fused_bf16_attention``)."""
    if device_type != "cpu" or detect_hardware("cpu").fused_bf16_attention():
        return
    for block in blocks:
        block.attn.__class__ = ChunkedAttention


def is_transformer_linear(module, name):
    """torchao filter: the linear layers inside the transformer blocks."""
    return isinstance(module, nn.Linear) and name.startswith("blocks.")


def quantize_linear_layers(module):
    """Replaces the linear layers of ``module`` in place by ``torch.ao``
    dynamic int8 ones (weights int8 per tensor, activations quantised on
    the fly) on the x86 engine."""
    if next(module.parameters()).device.type != "cpu":
        raise ValueError("precision int8-dynamic runs on the CPU only")
    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():  # its deprecation notice, see above
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(
            module, {nn.Linear}, dtype=torch.qint8, inplace=True
        )


# The probe's block when the model is not known: AST-Base (768 wide, 12
# heads) on a 10-s clip at stride 10 (1,212 patches and 2 class tokens).
PROBE_SHAPE = (768, 12, 1214)


def probe_shape(encoder):
    """``(width, heads, tokens)`` of the probe for ``encoder``: AST-Base's
    block at the encoder's token count, which sets the attention's share
    of the time (smaller blocks are too short to time apart from the
    calls' overheads: a 32-wide block measured int8 below fp32)."""
    width, heads, _ = PROBE_SHAPE
    return width, heads, encoder.num_patches + 2


def probe_block(precision, shape=PROBE_SHAPE):
    """``(block, input)``: a seeded transformer block of ``shape``
    (``width, heads, tokens``) and its tokens, converted for
    ``precision`` (``fp32``, ``bf16`` or ``int8-dynamic``)."""
    dim, heads, n_tokens = shape
    with torch.random.fork_rng(devices=[]):  # leaves the caller's seed
        torch.manual_seed(0)
        block = Block(dim, heads, qkv_bias=True).eval()
        tokens = torch.randn(1, n_tokens, dim)
    if precision == "bf16":
        block.to(torch.bfloat16)
        use_bf16_attention_kernel([block], "cpu")
        tokens = tokens.to(torch.bfloat16)
    elif precision == "int8-dynamic":
        quantize_linear_layers(block)
    return block, tokens


def probe_runner(precision, shape=PROBE_SHAPE):
    """``run()``: one call of the probe's block in ``precision``."""
    if precision == "ort-int8":
        return block_runner(*shape)
    block, tokens = probe_block(precision, shape)
    return lambda: block(tokens)


@functools.cache
def probe_speeds(modes, threads=None, shape=PROBE_SHAPE):
    """Speed of each of ``modes`` relative to fp32 on this CPU, measured
    on one transformer block of ``shape`` (about a second for AST-Base,
    once per process and shape; ``ort-int8``'s block is exported once and
    cached on disk).

    Arguments
    ---------
    modes : tuple of str
        Among ``bf16``, ``int8-dynamic``, ``ort-int8``.
    threads : int or None
        ``torch.get_num_threads()``, part of the cache key.
    shape : tuple
        ``(width, heads, tokens)`` of the model's blocks
        (``probe_shape``).

    Returns
    -------
    dict
        ``{mode: fp32 seconds / mode seconds}``.
    """
    runs = {}
    for mode in ("fp32", *modes):
        try:
            runs[mode] = probe_runner(mode, shape)
        except OnnxCacheError as error:  # the mode is then not a candidate
            logger.warning("%s not probed: %s", mode, error)
    seconds = dict.fromkeys(runs, float("inf"))
    with torch.inference_mode():
        for run in runs.values():
            run()  # warm-up
        for _ in range(3):
            for mode, run in runs.items():
                start = time.perf_counter()
                run()
                elapsed = time.perf_counter() - start
                seconds[mode] = min(seconds[mode], elapsed)
    return {mode: seconds["fp32"] / seconds[mode] for mode in runs
            if mode != "fp32"}  # fmt: skip


# The probed mode that stands for each mode: bf16-autocast runs the same
# bf16 matrix products as bf16 and is never faster, so bf16's figure is
# its upper bound.
PROBED_AS = {"bf16": "bf16", "bf16-autocast": "bf16",
             "int8-dynamic": "int8-dynamic",
             "ort-int8": "ort-int8"}  # fmt: skip


def measured_speeds(precision, hardware, compile, shape=PROBE_SHAPE):
    """Probe speeds deciding ``precision`` on a CPU (None elsewhere, or
    when no probed mode is in question) for blocks of ``shape``."""
    if hardware.device != "cpu":
        return None
    candidates = fast_precisions(hardware, compile)
    if precision != "auto":  # a mode ruled out by capability is not probed
        candidates = [precision] if precision in candidates else []
    candidates = [m for m in candidates if m in PROBED_AS]
    probed = tuple(dict.fromkeys(PROBED_AS[m] for m in candidates))
    if not probed:
        return None
    speeds = probe_speeds(probed, torch.get_num_threads(), shape)
    return {mode: speeds[PROBED_AS[mode]] for mode in candidates
            if PROBED_AS[mode] in speeds}  # fmt: skip


def decide_precision(precision="auto", device="cpu", compile=False,
                     force=False, agreement=None, merging=False,
                     shape=PROBE_SHAPE):  # fmt: skip
    """The one decision of a precision mode: ``(mode, speeds)``, the mode
    ``set_inference_precision`` runs on ``device`` (``auto`` resolved by
    the capabilities and the speed probe; a slow explicit mode refused,
    ``SlowPrecisionError``, unless ``force``) and the probe's figures it
    was decided on (``{mode: speed vs fp32}``, None when none was needed).
    ``agreement``: the model's recorded top-1 agreement with fp32 per mode
    and ``merging``: tokens will be merged (``choose_precision``);
    ``shape``: the model's blocks, for the probe (``probe_shape``).

    Example
    -------
    >>> decide_precision("fp32")
    ('fp32', None)
    """
    if precision != "auto" and precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}; expected auto or one of "
            f"{PRECISIONS}"
        )
    if precision == "ort-int8":
        require_onnxruntime()
    hardware = detect_hardware(device)
    speeds = None
    if not force:
        speeds = measured_speeds(precision, hardware, compile, shape)
    chosen = choose_precision(
        precision, hardware, compile, force, speeds, agreement, merging
    )
    return chosen, speeds


def resolve_precision(precision="auto", device="cpu", compile=False,
                      force=False, agreement=None, merging=False,
                      shape=PROBE_SHAPE):  # fmt: skip
    """The mode of ``decide_precision``, without the probe's figures.

    Example
    -------
    >>> resolve_precision("fp32")
    'fp32'
    """
    return decide_precision(
        precision, device, compile, force, agreement, merging, shape
    )[0]


class InferenceEncoder(nn.Module):
    """An encoder converted for inference in one precision mode: it takes
    and returns float32 (the dtype of its input) whatever the weights'
    dtype, and runs ``bf16-autocast`` under ``torch.autocast``.

    The encoder itself is ``module`` (as under a DDP wrapper, so that
    ``AudioClassificationPipeline.bare_encoder`` finds its attributes);
    the mode is ``precision``. Built by ``set_inference_precision``.
    """

    merge_rate = 0.0

    def __init__(self, encoder, precision):
        super().__init__()
        self.module = encoder
        self.precision = precision

    def set_merge_rate(self, merge_rate):
        """Merges that share of the patch tokens away by the last block
        (``ast_lobes.inference.token_merging``; 0: none). Clips padded to the
        window (``lengths`` below 1) run unmerged."""
        check_mergeable(self.module, merge_rate)
        self.merge_rate = float(merge_rate)
        return self

    def forward(self, x, lengths=None, all_tokens=False):
        """The encoder's output in ``x``'s dtype (see
        ``AudioSpectrogramTransformer.forward``)."""
        if self.precision == "bf16-autocast":
            with torch.autocast(x.device.type, dtype=torch.bfloat16):
                return self.encode(x, lengths, all_tokens).to(x.dtype)
        weight_dtype = self.module.patch_embed.proj.weight.dtype
        out = self.encode(x.to(weight_dtype), lengths, all_tokens)
        return out.to(x.dtype)

    def encode(self, x, lengths, all_tokens):
        """The encoder, with its tokens merged when ``merge_rate`` is set
        and every clip fills the input."""
        padded = lengths is not None and bool((lengths < 1).any())
        if not self.merge_rate or all_tokens or padded:
            return self.module(x, lengths, all_tokens)
        tokens, grid = self.module.embed(x)
        tokens, size = merged_transform(self.module, tokens, self.merge_rate)
        return self.module.pool_tokens(tokens, grid, keep=size)


def set_inference_precision(
    encoder,
    precision="auto",
    compile=False,
    force=False,
    agreement=None,
    merging=False,
):
    """Converts ``encoder`` in place for inference in ``precision`` and
    wraps it so that it takes and returns float32.

    Arguments
    ---------
    encoder : ast_lobes.AudioSpectrogramTransformer
        The encoder (put in eval mode; its weights are converted).
    precision : str
        ``auto`` (the fastest mode the encoder's device runs well, logged;
        see ``ast_lobes.inference.hardware``) or one of ``PRECISIONS``. A mode
        the hardware runs slower than fp32 is refused
        (``SlowPrecisionError``) unless ``force``.
    compile : bool
        Wrap the blocks with ``torch.compile`` (recommended for int8).
    force : bool
        Run an explicit mode even where the hardware runs it slowly.
    agreement : dict or None
        The model's recorded top-1 agreement with fp32 per mode: ``auto``
        refuses a mode below ``MIN_AGREEMENT`` (``choose_precision``).
    merging : bool
        Tokens will be merged: ``auto`` keeps to the modes that merge.

    Returns
    -------
    InferenceEncoder or OrtInt8Encoder
        The converted encoder, with the mode run as ``precision``.

    Example
    -------
    >>> from ast_lobes import AudioSpectrogramTransformer
    >>> encoder = AudioSpectrogramTransformer(
    ...     model_size=None, embed_dim=32, depth=1, num_heads=2,
    ...     target_length=100)
    >>> fbank = torch.randn(2, 100, 128)
    >>> expected = encoder.eval()(fbank)
    >>> converted = set_inference_precision(encoder, "bf16", force=True)
    >>> out = converted(fbank)
    >>> converted.precision, out.dtype
    ('bf16', torch.float32)
    >>> bool((out - expected).abs().max() < 0.05)
    True
    """
    if isinstance(encoder, (InferenceEncoder, OrtInt8Encoder)):
        raise ValueError(
            f"The encoder is already converted to {encoder.precision}; "
            "convert a fresh fp32 copy"
        )
    device = next(encoder.parameters()).device
    precision = resolve_precision(
        precision, str(device), compile, force, agreement, merging,
        probe_shape(encoder),
    )  # fmt: skip
    encoder.eval()
    if precision == "ort-int8":
        if compile:
            raise ValueError("precision ort-int8 is not compiled by torch")
        return OrtInt8Encoder(encoder)
    if precision == "bf16":
        encoder.to(torch.bfloat16)
        use_bf16_attention_kernel(encoder.blocks, device.type)
    elif precision == "int8":
        from torchao.quantization import (
            Int8DynamicActivationInt8WeightConfig,
            quantize_,
        )

        quantize_(
            encoder,
            Int8DynamicActivationInt8WeightConfig(),
            filter_fn=is_transformer_linear,
        )
    elif precision == "int8-dynamic":
        quantize_linear_layers(encoder.blocks)
    if compile:
        for index, block in enumerate(encoder.blocks):
            encoder.blocks[index] = torch.compile(block, dynamic=True)
    return InferenceEncoder(encoder, precision).eval()

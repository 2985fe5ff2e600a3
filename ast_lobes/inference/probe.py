"""The speed probe: one AST-Base transformer block at the model's token
count timed in each candidate mode against fp32 on this CPU (at 1,214
tokens the attention's share decides between bf16 and int8, which a probe
at 600 tokens misjudged on an AMD EPYC Zen 5). ``measured_speeds`` gives
the figures ``decide_precision`` weighs.

Authors
 * AST-SpeechBrain contributors 2026
"""

import functools
import logging
import time

import torch
from timm.models.vision_transformer import Block

from ast_lobes.inference.hardware import fast_precisions
from ast_lobes.inference.kernels import (
    quantize_linear_layers,
    use_bf16_attention_kernel,
    use_bf16_attention_products,
)
from ast_lobes.inference.onnx_runtime import OnnxCacheError, block_runner

logger = logging.getLogger(__name__)


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
    ``precision`` (``fp32``, ``bf16``, ``int8-dynamic`` or
    ``int8-bf16``)."""
    dim, heads, n_tokens = shape
    with torch.random.fork_rng(devices=[]):  # leaves the caller's seed
        torch.manual_seed(0)
        block = Block(dim, heads, qkv_bias=True).eval()
        tokens = torch.randn(1, n_tokens, dim)
    if precision == "bf16":
        block.to(torch.bfloat16)
        use_bf16_attention_kernel([block], "cpu")
        tokens = tokens.to(torch.bfloat16)
    elif precision in ("int8-dynamic", "int8-bf16"):
        quantize_linear_layers(block)
        if precision == "int8-bf16":
            use_bf16_attention_products([block], "cpu")
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
        Among ``bf16``, ``int8-dynamic``, ``int8-bf16``, ``ort-int8``.
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
        except (OnnxCacheError, ImportError) as error:  # not a candidate
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
             "int8-dynamic": "int8-dynamic", "int8-bf16": "int8-bf16",
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

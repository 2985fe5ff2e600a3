"""The one decision of an inference precision mode: ``decide_precision``
turns ``auto`` into the fastest mode this hardware runs well and refuses
an explicit mode it runs slowly, unless forced. The device's capabilities
rule modes out (``ast_lobes.inference.hardware``), the speed probe
decides among the rest on a CPU (``ast_lobes.inference.probe``), and a
model's agreement record rules out the modes that change its top tag too
often (``ast_lobes.inference.agreement``).

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging

from ast_lobes.inference.hardware import (
    FAST_INT8_CPUS,
    SlowPrecisionError,
    detect_hardware,
    fast_precisions,
)
from ast_lobes.inference.modes import PRECISIONS, UNMERGEABLE
from ast_lobes.inference.onnx_runtime import (
    report_missing_onnx,
    require_onnxruntime,
)
from ast_lobes.inference.probe import PROBE_SHAPE, measured_speeds

logger = logging.getLogger(__name__)


# A probe must beat fp32 by this much to be chosen, and an explicit mode
# measured below ``1 / MARGIN`` of fp32 is refused.
MARGIN = 1.1
# ``auto`` never runs a mode (or merge rate) whose top-1 agreement with
# fp32, recorded for the model, is below this.
MIN_AGREEMENT = 0.99


# A mode without a record of its own is judged by the records of the
# modes whose arithmetic it shares, the lowest of them (bf16 products
# under autocast; int8-bf16's int8 linear layers and bf16 attention).
SAME_ARITHMETIC = {"bf16-autocast": ("bf16",),
                   "int8-bf16": ("int8-dynamic", "bf16")}  # fmt: skip


def recorded_share(mode, agreement):
    """The top-1 agreement recorded for ``mode`` in ``agreement``
    (``{mode: share}``), else the lowest of its ``SAME_ARITHMETIC``
    modes', else None.

    Example
    -------
    >>> recorded_share("int8-bf16", {"int8-dynamic": 0.98, "bf16": 1.0})
    0.98
    >>> recorded_share("int8-bf16", {"bf16": 1.0, "int8-bf16": 0.995})
    0.995
    """
    if mode in agreement:
        return agreement[mode]
    shares = [agreement[m] for m in SAME_ARITHMETIC.get(mode, ())
              if m in agreement]  # fmt: skip
    return min(shares, default=None)


def agreeing_modes(modes, agreement):
    """``(kept, refused)``: the modes of ``modes`` whose recorded top-1
    agreement with fp32 (``{mode: share}``, ``recorded_share``; a mode
    with none is kept) is at least ``MIN_AGREEMENT``, and ``{mode:
    share}`` of the others.

    Example
    -------
    >>> agreeing_modes(["bf16", "int8-dynamic", "fp32"],
    ...                {"int8-dynamic": 0.97, "bf16": 0.995})
    (['bf16', 'fp32'], {'int8-dynamic': 0.97})
    >>> agreeing_modes(["bf16", "bf16-autocast", "fp32"], {"bf16": 0.9})
    (['fp32'], {'bf16': 0.9, 'bf16-autocast': 0.9})
    """
    agreement = agreement or {}
    recorded = {mode: recorded_share(mode, agreement) for mode in modes
                if mode != "fp32"}  # fmt: skip
    refused = {
        mode: share for mode, share in recorded.items()
        if share is not None and share < MIN_AGREEMENT
    }  # fmt: skip
    return [mode for mode in modes if mode not in refused], refused


def decide_precision(precision="auto", device="cpu", compile=False,
                     force=False, agreement=None, merging=False,
                     shape=PROBE_SHAPE, hardware=None,
                     speeds=None):  # fmt: skip
    """The precision mode ``set_inference_precision`` runs on ``device``:
    ``auto`` resolved, a slow explicit mode refused.

    Capabilities rule out the modes known to be slow (``fast_precisions``);
    ``speeds``, measured on this machine by the probe, decide among the
    rest, since a CPU that reports native bf16 may still run bf16 matrix
    products slower than fp32 (seen on an Intel Xeon with AVX512-BF16 and
    no AMX: bf16 0.6x fp32).

    Arguments
    ---------
    precision : str
        ``auto`` or one of ``ast_lobes.PRECISIONS``.
    device : str
        ``cpu`` or a CUDA device, whose hardware is detected
        (``detect_hardware``).
    compile : bool
        Whether the encoder will be compiled (int8 is fast only then).
    force : bool
        Run an explicit mode even where it is slow (nothing is probed).
    agreement : dict or None
        Top-1 agreement with fp32 recorded for the model (``{mode:
        share}``, ``ast_lobes.inference.agreement``): ``auto`` refuses
        a mode below ``MIN_AGREEMENT``, whatever its speed.
    merging : bool
        Tokens will be merged (a merge rate is recorded for the model),
        or every block's output is read (a ``blocks_*`` pooling, stored
        block outputs): ``auto`` keeps to the modes that run PyTorch's
        blocks (not ``ort-int8``).
    shape : tuple
        ``(width, heads, tokens)`` of the probe's block (``probe_shape``
        of the encoder; default AST-Base at 10 s).
    hardware : Hardware or None
        Decide for this hardware instead of ``device``'s; nothing is
        probed then (the probe times this machine), only ``speeds``
        weighed.
    speeds : dict or None
        Speed of modes relative to fp32 (``{mode: fp32 seconds / mode
        seconds}``); default: measured on a CPU by the probe
        (``measured_speeds``). Without any, ``auto`` takes the first mode
        of ``fast_precisions``.

    Returns
    -------
    str
        The mode.

    Example
    -------
    >>> from ast_lobes.inference.hardware import Hardware
    >>> decide_precision("fp32")
    'fp32'
    >>> avx2 = Hardware("cpu", "AVX2", False)
    >>> decide_precision("auto", hardware=avx2)
    'int8-dynamic'
    >>> decide_precision("auto", hardware=Hardware("cpu", "DEFAULT", False))
    'fp32'
    >>> xeon = Hardware("cpu", "AVX512", True)
    >>> decide_precision("auto", hardware=xeon,
    ...                  speeds={"bf16": 0.6, "int8-dynamic": 1.7})
    'int8-dynamic'
    >>> decide_precision("auto", hardware=avx2,
    ...                  agreement={"int8-dynamic": 0.95, "ort-int8": 0.98})
    'fp32'
    >>> decide_precision("auto", hardware=avx2,
    ...                  speeds={"int8-dynamic": 1.4, "ort-int8": 1.6})
    'ort-int8'
    >>> decide_precision("auto", hardware=avx2, merging=True,
    ...                  speeds={"int8-dynamic": 1.4, "ort-int8": 1.6})
    'int8-dynamic'
    >>> decide_precision("bf16", hardware=avx2)
    Traceback (most recent call last):
    ...
    ast_lobes.inference.hardware.SlowPrecisionError: precision bf16 runs \
slower than fp32 on this CPU AVX2 without native bf16 ...
    >>> decide_precision("bf16", hardware=avx2, force=True)
    'bf16'
    """
    if precision != "auto" and precision not in PRECISIONS:
        raise ValueError(
            f"Unknown precision {precision!r}; expected auto or one of "
            f"{PRECISIONS}"
        )
    if precision == "ort-int8":
        require_onnxruntime()
    if hardware is None:
        hardware = detect_hardware(device)
        if speeds is None and not force:
            speeds = measured_speeds(precision, hardware, compile, shape)
    fast = fast_precisions(hardware, compile)
    if precision == "auto":
        if hardware.device == "cpu" and hardware.capability in FAST_INT8_CPUS:
            report_missing_onnx()  # ort-int8 left out: said once
        if merging:
            fast = [mode for mode in fast if mode not in UNMERGEABLE]
        fast, refused = agreeing_modes(fast, agreement)
        chosen, why = fast[0], "the fastest mode"
        if speeds:
            measured = {m: v for m, v in speeds.items() if m in fast}
            best = max(measured, key=measured.get, default="fp32")
            chosen = best if measured.get(best, 0) >= MARGIN else "fp32"
            why = (
                "measured "
                + ", ".join(
                    f"{mode} {speed:.2f}x" for mode, speed in measured.items()
                )
                + " of fp32"
            )
        if refused:
            listed = ", ".join(
                f"{mode} {100 * share:.1f} %" for mode, share in refused.items()
            )
            why += (
                f"; refused for this model's recorded top-1 agreement "
                f"{listed} (under {100 * MIN_AGREEMENT:g} %)"
            )
        if merging:
            why += "; among the modes that run PyTorch's blocks"
        logger.info(
            "precision auto: %s (%s) on this %s",
            chosen,
            why,
            hardware.describe(),
        )
        return chosen
    if force or precision == "fp32":
        return precision
    if precision not in fast:
        raise SlowPrecisionError(
            f"precision {precision} runs slower than fp32 on this "
            f"{hardware.describe()} (about 25x for bf16 and int8 without "
            f"bf16 units, and int8 without torch.compile; int8-dynamic "
            f"needs an AVX2 CPU); use "
            f"{fast[0]} (or auto), or force it"
        )
    if speeds and speeds.get(precision, MARGIN) < 1 / MARGIN:
        raise SlowPrecisionError(
            f"precision {precision} runs slower than fp32 on this "
            f"{hardware.describe()}: measured {speeds[precision]:.2f}x of "
            f"fp32; use auto, or force it"
        )
    return precision

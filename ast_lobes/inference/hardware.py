"""Which inference precisions the hardware runs faster than fp32.

bf16 and torchao's int8 pay off only on hardware with units for them: on a
CPU without native bf16 (AVX2-only, such as AMD Zen 3) both run about 25
times slower than fp32 (measured on AST-Base, issue 12), while PyTorch's
eager int8 kernels (``int8-dynamic``) are faster than fp32 on AVX2 and
AVX-512 CPUs. So ``auto`` is bf16 on a CPU (or GPU) with native bf16,
int8-dynamic on another AVX2/AVX-512 CPU, else fp32. ``choose_precision``
turns ``auto`` into the fastest mode this hardware runs well and refuses an
explicit mode it runs slowly, unless forced.

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging
from dataclasses import dataclass

import torch

from ast_lobes.inference.modes import UNMERGEABLE
from ast_lobes.inference.onnx_runtime import onnxruntime_installed

logger = logging.getLogger(__name__)


# CPU capabilities with PyTorch's fbgemm int8 kernels (AVX2 and up).
FAST_INT8_CPUS = ("AVX2", "AVX512")


class SlowPrecisionError(ValueError):
    """A precision mode this hardware runs slower than fp32."""


@dataclass(frozen=True)
class Hardware:
    """What decides the fast precisions of a device.

    Arguments
    ---------
    device : str
        ``cpu`` or ``cuda``.
    capability : str
        CPU vector capability (``AVX512``, ``AVX2``...) or the GPU name.
    native_bf16 : bool
        bf16 matrix units (AVX512-BF16/AMX on a CPU; Ampere or newer GPU).
    amx : bool
        Intel AMX tiles (a CPU from Sapphire Rapids on), which PyTorch's
        fused CPU attention kernel uses for bf16.
    """

    device: str
    capability: str
    native_bf16: bool
    amx: bool = False

    def describe(self):
        """One phrase, e.g. ``CPU AVX2 without native bf16``.

        Example
        -------
        >>> Hardware("cpu", "AVX512", True, amx=True).describe()
        'CPU AVX512 with native bf16 (AMX)'
        """
        bf16 = "with" if self.native_bf16 else "without"
        kind = "CPU" if self.device == "cpu" else "GPU"
        amx = " (AMX)" if self.amx else ""
        return f"{kind} {self.capability} {bf16} native bf16{amx}"

    def fused_bf16_attention(self):
        """Whether PyTorch's fused attention kernel is the fast one in bf16.

        On a GPU, and on a CPU with AMX, it is (measured at 1,214 tokens on
        a CPU with AMX: 6.5 ms per layer against 12.3 ms in query blocks);
        on a CPU without AMX it runs at fp32 speed and attention in blocks
        of bf16 matrix products is 2.3x faster.

        Example
        -------
        >>> Hardware("cpu", "AVX512", True).fused_bf16_attention()
        False
        """
        return self.device != "cpu" or self.amx


def detect_hardware(device="cpu"):
    """The ``Hardware`` of ``device`` (``cpu`` or a CUDA device)."""
    device = str(device)
    if device.startswith("cuda"):
        index = torch.device(device).index or 0
        major, _ = torch.cuda.get_device_capability(index)
        name = torch.cuda.get_device_name(index)
        return Hardware("cuda", name, major >= 8)
    native = bool(
        torch.backends.mkldnn.is_available()
        and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    )
    # AMX counts only where oneDNN may use bf16 (ONEDNN_MAX_CPU_ISA can bar it)
    amx = native and bool(
        getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    )
    return Hardware("cpu", torch.backends.cpu.get_cpu_capability(), native, amx)


def fast_precisions(hardware, compile=False):
    """Modes that run at least as fast as fp32 on ``hardware``, fastest
    first (``fp32`` always last).

    ``ort-int8`` (ONNX Runtime's int8) counts where ONNX Runtime is
    installed.

    Example
    -------
    >>> fast_precisions(Hardware("cpu", "AVX2", False))
    ['int8-dynamic', 'ort-int8', 'fp32']
    >>> fast_precisions(Hardware("cpu", "AVX512", True), compile=True)
    ['bf16', 'int8', 'int8-dynamic', 'ort-int8', 'bf16-autocast', 'fp32']
    >>> fast_precisions(Hardware("cpu", "DEFAULT", False))
    ['fp32']
    """
    cpu = hardware.device == "cpu"
    modes = []
    if hardware.native_bf16:
        modes.append("bf16")
        if compile and cpu:
            modes.append("int8")  # torchao's int8 needs torch.compile
    if cpu and hardware.capability in FAST_INT8_CPUS:
        modes.append("int8-dynamic")
        if onnxruntime_installed():
            modes.append("ort-int8")
    if hardware.native_bf16:
        modes.append("bf16-autocast")
    return modes + ["fp32"]


# A probe must beat fp32 by this much to be chosen, and an explicit mode
# measured below ``1 / MARGIN`` of fp32 is refused.
MARGIN = 1.1
# ``auto`` never runs a mode (or merge rate) whose top-1 agreement with
# fp32, recorded for the model, is below this.
MIN_AGREEMENT = 0.99


# A mode without a record of its own is judged by the record of the mode
# whose arithmetic it shares (bf16 products under autocast).
SAME_ARITHMETIC = {"bf16-autocast": "bf16"}


def agreeing_modes(modes, agreement):
    """``(kept, refused)``: the modes of ``modes`` whose recorded top-1
    agreement with fp32 (``{mode: share}``; a mode not in it, nor its
    ``SAME_ARITHMETIC`` mode, is kept) is at least ``MIN_AGREEMENT``, and
    ``{mode: share}`` of the others.

    Example
    -------
    >>> agreeing_modes(["bf16", "int8-dynamic", "fp32"],
    ...                {"int8-dynamic": 0.97, "bf16": 0.995})
    (['bf16', 'fp32'], {'int8-dynamic': 0.97})
    >>> agreeing_modes(["bf16", "bf16-autocast", "fp32"], {"bf16": 0.9})
    (['fp32'], {'bf16': 0.9, 'bf16-autocast': 0.9})
    """
    agreement = agreement or {}
    recorded = {
        mode: agreement.get(mode, agreement.get(SAME_ARITHMETIC.get(mode)))
        for mode in modes if mode != "fp32"
    }  # fmt: skip
    refused = {
        mode: share for mode, share in recorded.items()
        if share is not None and share < MIN_AGREEMENT
    }  # fmt: skip
    return [mode for mode in modes if mode not in refused], refused


def choose_precision(
    precision="auto",
    hardware=None,
    compile=False,
    force=False,
    speeds=None,
    agreement=None,
    merging=False,
):
    """The precision to run: ``auto`` resolved, a slow choice refused.

    Capabilities rule out the modes known to be slow (``fast_precisions``);
    ``speeds``, measured on this machine, decide among the rest, since a
    CPU that reports native bf16 may still run bf16 matrix products slower
    than fp32 (seen on an Intel Xeon with AVX512-BF16 and no AMX: bf16
    0.6x fp32).

    Arguments
    ---------
    precision : str
        ``auto`` or one of ``ast_lobes.PRECISIONS``.
    hardware : Hardware or None
        Default: ``detect_hardware("cpu")``.
    compile : bool
        Whether the encoder will be compiled (int8 is fast only then).
    force : bool
        Run an explicit mode even where it is slow.
    speeds : dict or None
        Speed of modes relative to fp32 on this hardware (see
        ``ast_lobes.inference.precision.probe_speeds``); without it, ``auto``
        takes the first mode of ``fast_precisions``.
    agreement : dict or None
        Top-1 agreement with fp32 recorded for the model (``{mode:
        share}``, ``pretrained_interfaces.agreement``): ``auto`` refuses
        a mode below ``MIN_AGREEMENT``, whatever its speed.
    merging : bool
        Tokens will be merged (a merge rate is recorded for the model):
        ``auto`` keeps to the modes that merge (not ``ort-int8``).

    Returns
    -------
    str
        The mode.

    Example
    -------
    >>> avx2 = Hardware("cpu", "AVX2", False)
    >>> choose_precision("auto", avx2)
    'int8-dynamic'
    >>> choose_precision("auto", Hardware("cpu", "DEFAULT", False))
    'fp32'
    >>> xeon = Hardware("cpu", "AVX512", True)
    >>> choose_precision("auto", xeon, speeds={"bf16": 0.6,
    ...                                        "int8-dynamic": 1.7})
    'int8-dynamic'
    >>> choose_precision("auto", avx2, agreement={"int8-dynamic": 0.95,
    ...                                          "ort-int8": 0.98})
    'fp32'
    >>> choose_precision("auto", avx2, speeds={"int8-dynamic": 1.4,
    ...                                        "ort-int8": 1.6})
    'ort-int8'
    >>> choose_precision("auto", avx2, speeds={"int8-dynamic": 1.4,
    ...                                        "ort-int8": 1.6}, merging=True)
    'int8-dynamic'
    >>> choose_precision("bf16", avx2)
    Traceback (most recent call last):
    ...
    ast_lobes.inference.hardware.SlowPrecisionError: precision bf16 runs \
slower than fp32 on this CPU AVX2 without native bf16 ...
    >>> choose_precision("bf16", avx2, force=True)
    'bf16'
    """
    hardware = hardware or detect_hardware("cpu")
    fast = fast_precisions(hardware, compile)
    if precision == "auto":
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
            why += "; among the modes that merge tokens"
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

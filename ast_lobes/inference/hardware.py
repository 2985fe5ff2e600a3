"""Which inference precisions the hardware runs faster than fp32.

bf16 and torchao's int8 pay off only on hardware with units for them: on a
CPU without native bf16 (AVX2-only, such as AMD Zen 3) both run about 25
times slower than fp32 (measured on AST-Base, issue 12), while PyTorch's
eager int8 kernels (``int8-dynamic``) are faster than fp32 on AVX2 and
AVX-512 CPUs. ``fast_precisions`` lists the modes a device's capabilities
allow; ``ast_lobes.inference.decision.decide_precision`` decides among
them.

Authors
 * AST-SpeechBrain contributors 2026
"""

from dataclasses import dataclass

import torch

from ast_lobes.inference.onnx_runtime import onnxruntime_installed

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

    ``int8-bf16`` (int8 linear layers, bf16 attention products) counts
    where the CPU has native bf16; ``ort-int8`` (ONNX Runtime's int8)
    where ONNX Runtime is installed.

    Example
    -------
    >>> fast_precisions(Hardware("cpu", "AVX2", False))
    ['int8-dynamic', 'ort-int8', 'fp32']
    >>> fast_precisions(Hardware("cpu", "AVX512", True), compile=True)
    ['bf16', 'int8', 'int8-dynamic', 'int8-bf16', 'ort-int8', \
'bf16-autocast', 'fp32']
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
        if hardware.native_bf16:
            modes.append("int8-bf16")  # its attention products in bf16
        if onnxruntime_installed():
            modes.append("ort-int8")
    if hardware.native_bf16:
        modes.append("bf16-autocast")
    return modes + ["fp32"]

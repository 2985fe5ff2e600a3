"""Inference precision modes for the AST encoder: fp32, bf16 and int8.

``set_inference_precision(encoder, mode)`` converts an encoder in place and
returns it wrapped in an ``InferenceEncoder``, which runs it in that mode
from float32 inputs (the model itself holds no precision state):

* ``fp32``: unchanged.
* ``bf16``: weights cast to bfloat16 (inputs are cast on the way in and the
  output returned in float32). On a CPU without AMX, attention runs query
  block by query block with bfloat16 matrix products
  (``ast_lobes.inference.kernels``).
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
* ``int8-bf16``: ``int8-dynamic``'s int8 linear layers with the
  attention's two matrix products in bfloat16 (in query blocks on a CPU
  without AMX, PyTorch's fused kernel with AMX), where ``int8-dynamic``
  leaves them in fp32: offered on CPUs with native bf16 (AVX512-BF16 or
  AMX), where bf16 products run faster than fp32 ones. CPU only.
* ``ort-int8``: ONNX Runtime's dynamic int8 of the whole encoder, exported
  once per model and cached (``ast_lobes.inference.onnx_runtime``); the
  fastest mode measured on AMD EPYC Zen 5 at batch 1. CPU only, no token
  merging; needs ONNX Runtime, ONNX and onnxscript (in the default
  install).

``auto`` (and the refusal of a mode this hardware runs slowly) is
``ast_lobes.inference.decision.decide_precision``, which weighs the
device's capabilities and the speed probe (``ast_lobes.inference.probe``).

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch
from torch import nn

from ast_lobes.inference.decision import decide_precision
from ast_lobes.inference.kernels import (
    is_transformer_linear,
    quantize_linear_layers,
    use_bf16_attention_kernel,
    use_bf16_attention_products,
)
from ast_lobes.inference.onnx_runtime import OrtInt8Encoder
from ast_lobes.inference.probe import probe_shape
from ast_lobes.inference.token_merging import check_mergeable, merged_transform
from ast_lobes.model.config import BLOCK_POOLINGS


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
        see ``ast_lobes.inference.decision``) or one of ``PRECISIONS``. A mode
        the hardware runs slower than fp32 is refused
        (``SlowPrecisionError``) unless ``force``.
    compile : bool
        Wrap the blocks with ``torch.compile`` (recommended for int8).
    force : bool
        Run an explicit mode even where the hardware runs it slowly.
    agreement : dict or None
        The model's recorded top-1 agreement with fp32 per mode: ``auto``
        refuses a mode below ``MIN_AGREEMENT`` (``decide_precision``).
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
    # a pooling of every block needs PyTorch's blocks, as merging does
    in_blocks = merging or encoder.pooling in BLOCK_POOLINGS
    precision = decide_precision(
        precision, str(device), compile, force, agreement, in_blocks,
        probe_shape(encoder),
    )  # fmt: skip
    encoder.eval()
    if precision == "ort-int8":
        if encoder.pooling in BLOCK_POOLINGS:
            raise ValueError(
                f"precision ort-int8 runs the encoder as one graph; pooling "
                f"{encoder.pooling!r} reads every block: use another mode"
            )
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
    elif precision in ("int8-dynamic", "int8-bf16"):
        quantize_linear_layers(encoder.blocks)
        if precision == "int8-bf16":
            use_bf16_attention_products(encoder.blocks, device.type)
    if compile:
        for index, block in enumerate(encoder.blocks):
            encoder.blocks[index] = torch.compile(block, dynamic=True)
    return InferenceEncoder(encoder, precision).eval()

"""The pieces a precision mode puts into the transformer blocks: bf16
attention in query blocks on a CPU without AMX, int8 linear layers
(``torch.ao``'s eager dynamic quantisation, torchao's filter), and the
attention products in bf16 beside int8 linear layers (``int8-bf16``).

On a CPU without AMX, attention in bf16 runs query block by query block
with bfloat16 matrix products, which uses the CPU's bf16 units where
PyTorch's fused CPU attention kernel does not (measured 2.3x faster per
layer at 1214 tokens on an AVX-512 bf16 CPU); with AMX (and on a GPU) the
fused kernel is the faster one and is kept.

Authors
 * AST-SpeechBrain contributors 2026
"""

import warnings
from functools import partial

import torch
import torch.nn.functional as F
from timm.layers.attention import Attention
from torch import nn

from ast_lobes.inference.hardware import detect_hardware


def chunked_attention(q, k, v, attn_mask=None, chunk=256):
    """Softmax attention computed ``chunk`` queries at a time.

    Arguments
    ---------
    q, k, v : torch.Tensor
        ``[batch, heads, tokens, head_dim]``.
    attn_mask : torch.Tensor or None
        Broadcastable to ``[batch, heads, tokens, tokens]``: boolean, True
        where a key may be attended to, or added to the scores (as
        ``scaled_dot_product_attention`` takes it).
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
        if attn_mask.dtype == torch.bool:
            bias = torch.zeros(attn_mask.shape, dtype=q.dtype,
                               device=q.device)  # fmt: skip
            bias = bias.masked_fill(~attn_mask, float("-inf"))
        else:
            bias = attn_mask.to(q.dtype)
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


def attention_with(attention, x, attend, attn_mask):
    """timm ``Attention``'s inference forward with ``attend(q, k, v,
    attn_mask)`` for its softmax attention."""
    batch, n_tokens, _ = x.shape
    qkv = attention.qkv(x).reshape(
        batch, n_tokens, 3, attention.num_heads, attention.head_dim
    )
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attention.q_norm(q), attention.k_norm(k)
    x = attend(q, k, v, attn_mask)
    x = x.transpose(1, 2).reshape(batch, n_tokens, -1)
    return attention.proj(attention.norm(x))


class ChunkedAttention(Attention):
    """timm's ``Attention`` with ``chunked_attention`` for inference."""

    def forward(self, x, attn_mask=None, is_causal=False):
        """Same as timm's, with the attention product computed in blocks."""
        if self.training or is_causal or getattr(self, "gate", None):
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        return attention_with(self, x, chunked_attention, attn_mask)


def bf16_attention(q, k, v, attn_mask=None, fused=False):
    """Softmax attention of float ``q, k, v`` with its two matrix products
    in bfloat16: ``chunked_attention``, or PyTorch's fused kernel where
    it is the fast one (``fused``: a CPU with AMX); returned in ``q``'s
    dtype.

    Example
    -------
    >>> q, k, v = torch.randn(3, 1, 2, 300, 16)
    >>> expected = torch.nn.functional.scaled_dot_product_attention(q, k, v)
    >>> out = bf16_attention(q, k, v)
    >>> out.dtype, bool((out - expected).abs().max() < 0.05)
    (torch.float32, True)
    """
    dtype = q.dtype
    q, k, v = (t.to(torch.bfloat16) for t in (q, k, v))
    if attn_mask is not None and attn_mask.dtype != torch.bool:
        attn_mask = attn_mask.to(torch.bfloat16)
    if fused:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    else:
        out = chunked_attention(q, k, v, attn_mask)
    return out.to(dtype)


class Bf16ProductsAttention(Attention):
    """timm's ``Attention`` for inference with float32 linear layers (int8
    ones included) and the attention's two products in bfloat16
    (``bf16_attention``; ``fused`` where PyTorch's kernel is the fast
    one)."""

    fused = False

    def forward(self, x, attn_mask=None, is_causal=False):
        """Same as timm's, with the attention products in bf16."""
        if self.training or is_causal or getattr(self, "gate", None):
            return super().forward(x, attn_mask=attn_mask, is_causal=is_causal)
        return attention_with(
            self, x, partial(bf16_attention, fused=self.fused), attn_mask
        )


def use_bf16_attention_products(blocks, device_type):
    """Switches the attention of ``blocks`` (float32 or int8 linear
    layers) to ``Bf16ProductsAttention``, fused where PyTorch's kernel is
    the fast one (``Hardware.fused_bf16_attention``)."""
    fused = detect_hardware(device_type).fused_bf16_attention()
    for block in blocks:
        block.attn.__class__ = Bf16ProductsAttention
        block.attn.fused = fused


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

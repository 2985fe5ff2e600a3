"""Token merging at inference (ToMe; Bolya et al., ICLR 2023): fewer
tokens in each block, so every later block costs less.

In each block, after attention, the patch tokens are split in two
alternating sets; each token of the first set is paired with its most
similar token of the second (cosine similarity of their attention keys,
averaged over heads), and the ``r`` best-matched pairs are merged into
one token, their size-weighted mean. A token's size (how many patches it
stands for) weights it in the next blocks' attention (``log size`` added to
its logits: proportional attention) and in mean pooling, so that merging
two identical tokens changes nothing. The cls and distillation tokens are
never merged.

``merge_rate`` is the share of the patch tokens merged away by the last
block, taken in equal steps per block (``r = merge_rate * patches /
depth``, at most half the patches left in a block). At rate 0 nothing is
merged and the blocks run as they are.

Authors
 * AST-SpeechBrain contributors 2026
"""

import torch
import torch.nn.functional as F

from ast_lobes.inference.kernels import (
    Bf16ProductsAttention,
    ChunkedAttention,
    bf16_attention,
    chunked_attention,
)

PROTECTED = 2  # cls and distillation tokens


def tokens_per_block(merge_rate, patches, depth):
    """Tokens each block merges away for ``merge_rate`` (0 to 1).

    Example
    -------
    >>> tokens_per_block(0.5, 1212, 12)
    50
    >>> tokens_per_block(0.0, 1212, 12)
    0
    """
    if not 0.0 <= merge_rate < 1.0:
        raise ValueError(f"merge_rate must be in [0, 1), got {merge_rate}")
    return int(merge_rate * patches / depth)


def attention_with_keys(attn, x, size):
    """timm ``Attention`` over ``x`` with proportional attention
    (``log size`` on the logits), returning the output and the keys
    averaged over heads ``[batch, tokens, head_dim]``; the attention
    products as the precision mode put them (in bf16 query blocks where
    it made them so, ``ast_lobes.inference.kernels``)."""
    batch, n_tokens, _ = x.shape
    qkv = attn.qkv(x).reshape(batch, n_tokens, 3, attn.num_heads, -1)
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
    q, k = attn.q_norm(q), attn.k_norm(k)
    bias = size.log().to(q.dtype)[:, None, None, :]
    if isinstance(attn, Bf16ProductsAttention):
        out = bf16_attention(q, k, v, bias, attn.fused)
    elif isinstance(attn, ChunkedAttention):
        out = chunked_attention(q, k, v, bias)
    else:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    out = out.transpose(1, 2).reshape(batch, n_tokens, -1)
    return attn.proj(attn.norm(out)), k.mean(dim=1)


def merge_pairs(x, keys, size, r):
    """Merges the ``r`` most similar (first set, second set) pairs of patch
    tokens of ``x`` ``[batch, tokens, dim]``.

    Returns
    -------
    tuple
        ``(x, size)`` with ``r`` fewer tokens: the protected tokens, the
        first set's unmerged tokens, then the second set's.

    Example
    -------
    >>> x = torch.tensor([[[9.0, 9.0], [8.0, 8.0], [1.0, 0.0], [1.0, 0.1],
    ...                    [0.0, 1.0], [-1.0, 0.0]]])
    >>> size = torch.ones(1, 6)
    >>> merged, sizes = merge_pairs(x, x, size, 1)  # the two near [1, 0]
    >>> (merged[0] * 100).round().tolist()  # in hundredths
    [[900.0, 900.0], [800.0, 800.0], [0.0, 100.0], [100.0, 5.0], [-100.0, 0.0]]
    >>> sizes[0].tolist()
    [1.0, 1.0, 1.0, 2.0, 1.0]
    """
    if r <= 0:
        return x, size
    special, patches = x[:, :PROTECTED], x[:, PROTECTED:]
    special_size, patch_size = size[:, :PROTECTED], size[:, PROTECTED:]
    metric = F.normalize(keys[:, PROTECTED:].float(), dim=-1)
    scores = metric[:, ::2] @ metric[:, 1::2].transpose(1, 2)
    r = min(r, scores.shape[1])
    best, partner = scores.max(dim=-1)
    order = best.argsort(dim=-1, descending=True)
    kept, merged = order[:, r:], order[:, :r]
    dim = x.shape[-1]
    weighted = patches * patch_size.unsqueeze(-1)
    first, second = weighted[:, ::2], weighted[:, 1::2]
    first_size, second_size = patch_size[:, ::2], patch_size[:, 1::2]
    targets = partner.gather(1, merged)
    second = second.scatter_add(
        1, targets.unsqueeze(-1).expand(-1, -1, dim),
        first.gather(1, merged.unsqueeze(-1).expand(-1, -1, dim)),
    )  # fmt: skip
    second_size = second_size.scatter_add(
        1, targets, first_size.gather(1, merged)
    )
    kept_first = first.gather(1, kept.unsqueeze(-1).expand(-1, -1, dim))
    kept_size = first_size.gather(1, kept)
    sizes = torch.cat((kept_size, second_size), dim=1)
    tokens = torch.cat((kept_first, second), dim=1) / sizes.unsqueeze(-1)
    return (
        torch.cat((special, tokens.to(x.dtype)), dim=1),
        torch.cat((special_size, sizes), dim=1),
    )


def merging_block(block, x, size, r):
    """One timm ``Block`` at inference with merging after its attention."""
    attended, keys = attention_with_keys(block.attn, block.norm1(x), size)
    x = x + block.ls1(attended)
    x, size = merge_pairs(x, keys, size, r)
    x = x + block.ls2(block.mlp(block.norm2(x)))
    return x, size


def merged_transform(encoder, tokens, merge_rate):
    """``encoder.transform`` with token merging: ``(tokens, size)`` after
    the final norm, ``size`` the patches each output token stands for."""
    size = torch.ones(tokens.shape[:2], device=tokens.device)
    r = tokens_per_block(merge_rate, tokens.shape[1] - PROTECTED,
                         len(encoder.blocks))  # fmt: skip
    for block in encoder.blocks:
        left = tokens.shape[1] - PROTECTED
        tokens, size = merging_block(block, tokens, size, min(r, left // 2))
    return encoder.norm(tokens), size


MERGEABLE_POOLINGS = ("cls", "cls_dist", "cls_dist_pair", "mean",
                      "mean_dist_pair")  # fmt: skip


def check_mergeable(encoder, merge_rate):
    """Refuses merging where token positions or every block's tokens
    matter (``time_steps`` and ``blocks_*`` poolings), in compiled
    blocks (merging runs them eagerly) and rates outside [0, 1)."""
    tokens_per_block(merge_rate, 2, 1)
    if not merge_rate:
        return
    if encoder.pooling not in MERGEABLE_POOLINGS:
        raise ValueError(
            f"token merging needs the last block's pooled output; pooling "
            f"{encoder.pooling!r} keeps every time step or block"
        )
    if any(hasattr(block, "_orig_mod") for block in encoder.blocks):
        raise ValueError(
            "token merging runs the blocks eagerly: convert without compile"
        )

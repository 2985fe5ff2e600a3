"""Writes Hugging Face AST weights in the original AST ``.pth`` layout."""

import torch


def to_original_format(hf_state):
    """Renames HF (transformers-4 names) weights into module.v.* by hand."""
    prefix = "audio_spectrogram_transformer."
    out = {
        "module.v.cls_token": hf_state[prefix + "embeddings.cls_token"],
        "module.v.dist_token": hf_state[
            prefix + "embeddings.distillation_token"
        ],
        "module.v.pos_embed": hf_state[
            prefix + "embeddings.position_embeddings"
        ],
        "module.v.norm.weight": hf_state[prefix + "layernorm.weight"],
        "module.v.norm.bias": hf_state[prefix + "layernorm.bias"],
        "module.mlp_head.0.weight": hf_state["classifier.layernorm.weight"],
        "module.mlp_head.0.bias": hf_state["classifier.layernorm.bias"],
        "module.mlp_head.1.weight": hf_state["classifier.dense.weight"],
        "module.mlp_head.1.bias": hf_state["classifier.dense.bias"],
        "module.v.head.weight": torch.zeros(1000, 96),
        "module.v.head_dist.bias": torch.zeros(1000),
    }
    for kind in ("weight", "bias"):
        out[f"module.v.patch_embed.proj.{kind}"] = hf_state[
            prefix + f"embeddings.patch_embeddings.projection.{kind}"
        ]
    n_layers = 1 + max(
        int(k.split(".")[3]) for k in hf_state if ".encoder.layer." in k
    )
    for n in range(n_layers):
        src = f"{prefix}encoder.layer.{n}."
        dst = f"module.v.blocks.{n}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.qkv.{kind}"] = torch.cat(
                [
                    hf_state[src + f"attention.attention.{part}.{kind}"]
                    for part in ("query", "key", "value")
                ]
            )
            pairs = {
                "attn.proj": "attention.output.dense",
                "norm1": "layernorm_before",
                "norm2": "layernorm_after",
                "mlp.fc1": "intermediate.dense",
                "mlp.fc2": "output.dense",
            }
            for ours, theirs in pairs.items():
                out[dst + f"{ours}.{kind}"] = hf_state[src + f"{theirs}.{kind}"]
    return out

"""Export to Hugging Face: any model this project loads, written as a
Hugging Face AST folder that ``ASTForAudioClassification.from_pretrained``
and ``pipeline("audio-classification")`` load, with the same scores.

The folder holds ``config.json`` (the architecture, ``id2label``, single-
or multi-label ``problem_type``), ``model.safetensors`` and
``preprocessor_config.json`` (the feature extractor with the model's
frames, mel bins and normalisation). Hugging Face's AST pools the cls and
distillation tokens and has one LayerNorm + Linear head over square
patches and a 10-ms fbank: a model outside that (other pooling, a
distillation or frame-level head, rectangular patches) is refused with
what Hugging Face's AST lacks. Needs ``transformers``.

Usage::

    python -m pretrained_interfaces.hf_export MODEL OUT_FOLDER

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os
import re
import sys

from ast_lobes.model.pipeline import AudioClassificationPipeline
from ast_lobes.weights.conversion import HF_HEAD_RENAMES, HF_PREFIX, HF_RENAMES
from ast_lobes.weights.files import CheckpointError
from ast_lobes.weights.sources import load_model_source

QKV = re.compile(r"(blocks\.\d+\.attn)\.([qkv])\.(weight|bias)")


class HuggingFaceExportError(ValueError):
    """A model Hugging Face's AST cannot express."""


def what_hf_lacks(pipeline):
    """Why Hugging Face's AST cannot express ``pipeline``: a list of
    phrases, empty when it can."""
    if not isinstance(pipeline, AudioClassificationPipeline):
        return ["an AST encoder (this is another toolkit's classifier)"]
    config = pipeline.bare_encoder.config
    lacks = []
    if config.pooling != "cls_dist":
        lacks.append(f"{config.pooling} pooling (it averages the cls and "
                     "distillation tokens: cls_dist)")  # fmt: skip
    if pipeline.head_kind != "clip":
        kind = {"pair": "a distillation head (two heads)",
                "frames": "a frame-level head"}[pipeline.head_kind]  # fmt: skip
        lacks.append(f"{kind} (it has one LayerNorm + Linear head)")
    if config.patch_size[0] != config.patch_size[1]:
        lacks.append(f"{config.patch_size[0]}x{config.patch_size[1]} "
                     "patches (square ones only)")  # fmt: skip
    if config.stem_channels:
        lacks.append("convolutional stem (its patches are read from the "
                     "fbank itself)")  # fmt: skip
    hidden = config.mlp_ratio * config.embed_dim
    if hidden != int(hidden):
        lacks.append(f"an MLP of {hidden} units (a whole number)")
    if pipeline.normalize.per_clip_mean:
        lacks.append("per-clip mean normalisation (its feature extractor "
                     "removes one global mean)")  # fmt: skip
    features = pipeline.compute_features
    if features.frame_shift != 10.0:
        lacks.append(f"a {features.frame_shift}-ms frame shift (10 ms)")
    if not features.target_length:
        lacks.append("a fixed number of frames (target_length)")
    return lacks


def hf_config(pipeline, label_names, multi_label):
    """The ``ASTConfig`` of ``pipeline``."""
    from transformers import ASTConfig

    config = pipeline.bare_encoder.config
    return ASTConfig(
        hidden_size=config.embed_dim,
        num_hidden_layers=config.depth,
        num_attention_heads=config.num_heads,
        intermediate_size=int(config.mlp_ratio * config.embed_dim),
        patch_size=config.patch_size[0],
        frequency_stride=config.fstride,
        time_stride=config.tstride,
        max_length=pipeline.target_length,
        num_mel_bins=config.input_fdim,
        layer_norm_eps=config.layer_norm_eps,
        qkv_bias=True,
        id2label=dict(enumerate(label_names)),
        label2id={name: index for index, name in enumerate(label_names)},
        problem_type=(
            "multi_label_classification" if multi_label
            else "single_label_classification"
        ),
    )  # fmt: skip


def ast_to_hf_state(encoder_state, head_state, hf_keys):
    """This project's encoder and head tensors under the key names of a
    Hugging Face AST (``hf_keys``, from the model it goes into), the fused
    ``qkv`` split into query, key and value.

    Example
    -------
    >>> import torch
    >>> state = ast_to_hf_state(
    ...     {"blocks.0.attn.qkv.bias": torch.arange(6.0)}, {},
    ...     ["audio_spectrogram_transformer.encoder.layer.0.attention."
    ...      "attention.key.bias"])
    >>> list(state.values())[0].tolist()
    [2.0, 3.0]
    """
    state = {}
    for key in hf_keys:
        head = next((p for p in HF_HEAD_RENAMES if key.startswith(p)), None)
        if head is not None:
            state[key] = head_state[HF_HEAD_RENAMES[head] + key[len(head) :]]
            continue
        name = key[len(HF_PREFIX) :]
        for pattern, replacement in HF_RENAMES:
            name = re.sub(pattern, replacement, name)
        match = QKV.fullmatch(name)
        if match:
            prefix, part, kind = match.groups()
            fused = encoder_state[f"{prefix}.qkv.{kind}"]
            state[key] = fused.chunk(3, dim=0)["qkv".index(part)]
        else:
            state[key] = encoder_state[name]
    return state


def export_to_huggingface(source, folder):
    """Writes the model of ``source`` (anything ``load_model_source``
    reads: an exported folder, a published AST...) as a Hugging Face AST
    folder.

    Returns
    -------
    str
        ``folder``.

    Raises
    ------
    HuggingFaceExportError
        Naming what Hugging Face's AST lacks for this model.
    """
    model = load_model_source(source)
    lacks = what_hf_lacks(model.pipeline)
    if lacks:
        raise HuggingFaceExportError(
            f"{source}: Hugging Face's AST cannot express this model: it "
            f"has no {'; no '.join(lacks)}"
        )
    try:
        from transformers import ASTFeatureExtractor, ASTForAudioClassification
    except ImportError as error:
        raise HuggingFaceExportError(
            "the export needs transformers: pip install transformers"
        ) from error
    pipeline = model.pipeline
    hf_model = ASTForAudioClassification(
        hf_config(pipeline, model.label_names, model.multi_label)
    ).eval()
    state = ast_to_hf_state(
        pipeline.bare_encoder.state_dict(), pipeline.head.state_dict(),
        list(hf_model.state_dict()),
    )  # fmt: skip
    missing, unexpected = hf_model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(
            f"{source}: tensors without a place in Hugging Face's AST: "
            f"{(missing + unexpected)[:5]}"
        )
    os.makedirs(folder, exist_ok=True)
    hf_model.save_pretrained(folder)
    ASTFeatureExtractor(
        feature_size=1,
        sampling_rate=pipeline.sample_rate,
        num_mel_bins=pipeline.compute_features.n_mels,
        max_length=pipeline.target_length,
        mean=float(pipeline.normalize.mean),
        std=float(pipeline.normalize.std),
        do_normalize=True,
        return_attention_mask=False,
    ).save_pretrained(folder)
    return folder


def main(argv=None):
    """``python -m pretrained_interfaces.hf_export MODEL OUT_FOLDER``;
    exits with 2 when the model cannot be exported."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="exported folder, published AST ...")
    parser.add_argument("folder", help="the Hugging Face folder to write")
    args = parser.parse_args(argv)
    try:
        export_to_huggingface(args.model, args.folder)
    except (CheckpointError, HuggingFaceExportError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"Hugging Face AST folder written to {args.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

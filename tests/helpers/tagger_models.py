"""Small encoders, pipelines and taggers, exported model folders, noise
clips and agreement records that the tests share."""

import hashlib
import json

import numpy as np
import soundfile
import torch

from ast_lobes import (
    AudioClassificationHead,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    FbankNormalization,
    KaldiFbank,
    export_classifier,
)
from pretrained_interfaces import AudioTagger


def small_encoder(depth=1, frames=100, tstride=16, **options):
    """A random 32-dim AST of ``depth`` blocks of 2 heads on ``frames``
    frames (frequency stride 16); ``options``: its other arguments
    (``pooling``)."""
    return AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=depth, num_heads=2,
        target_length=frames, fstride=16, tstride=tstride, **options,
    )  # fmt: skip


def small_pipeline(depth, head, frames=98, **options):
    """A ``small_encoder`` (seed 0) and the head ``head(32)`` behind the
    Kaldi fbank of ``frames`` frames normalised by (-5.0, 3.5), in eval
    mode."""
    torch.manual_seed(0)
    encoder = small_encoder(depth, frames, **options)
    return AudioClassificationPipeline(
        KaldiFbank(target_length=frames), FbankNormalization((-5.0, 3.5)),
        encoder, head(32),
    ).eval()  # fmt: skip


def export_small_source(folder, depth, frames=98, labels=("a", "b")):
    """A ``small_pipeline`` of ``depth`` blocks with a clip head of
    ``labels``, exported to ``folder`` as a recipe exports; the pipeline."""
    from speechbrain.dataio.encoder import CategoricalEncoder

    pipeline = small_pipeline(
        depth, lambda dim: AudioClassificationHead(dim, len(labels)), frames
    )
    encoder = CategoricalEncoder()
    encoder.update_from_iterable(labels)
    export_classifier(str(folder), pipeline, encoder)
    return pipeline


def tagger_over(encoder, head, names, target_length, normalization="audioset",
                **options):  # fmt: skip
    """A tagger over ``encoder`` and ``head`` behind the Kaldi fbank of
    ``target_length`` frames (``options``: those of ``from_pipeline``)."""
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=target_length),
        FbankNormalization(normalization), encoder, head,
    )  # fmt: skip
    return AudioTagger.from_pipeline(pipeline, names, **options)


def small_tagger(target_length=1024, n_labels=4, seed=0):
    torch.manual_seed(seed)
    encoder = small_encoder(1, target_length)
    head = AudioClassificationHead(32, n_labels)
    names = [f"label{i}" for i in range(n_labels)]
    return tagger_over(encoder, head, names, target_length, precision="fp32")


def export_tagger(tagger, folder, multi_label=True):
    """Exports a tagger's model as a recipe would (100-frame front end)."""
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=100), FbankNormalization("audioset"),
        tagger.mods.embedding_model, tagger.mods.classifier,
    )  # fmt: skip
    export_classifier(
        str(folder), pipeline, tagger.hparams.label_encoder,
        multi_label=multi_label,
    )  # fmt: skip
    return folder


def noise_clips(folder, count=6, seed=3):
    """``count`` one-second noise clips of different loudness in
    ``folder``; their paths, sorted."""
    rng = np.random.default_rng(seed)
    folder.mkdir()
    for number in range(count):
        wave = rng.uniform(0.05, 0.5) * rng.standard_normal(16000)
        soundfile.write(folder / f"{number}.wav", wave.astype(np.float32),
                        16000)  # fmt: skip
    return sorted(str(p) for p in folder.iterdir())


def deep_tagger():
    torch.manual_seed(0)
    encoder = small_encoder(3, 100, tstride=10)
    return tagger_over(
        encoder, AudioClassificationHead(32, 4), list("abcd"), 100,
        precision="fp32",
    )  # fmt: skip


def write_record(folder, agreement, seconds=None, measured_on="a test"):
    """An agreement record for the exported ``folder``, written by hand
    (SHA-256 of its weights file computed here with hashlib), with the
    seconds per file of each setting when given."""
    digest = hashlib.sha256(b"model.safetensors")
    digest.update((folder / "model.safetensors").read_bytes())
    record = {"weights_sha256": digest.hexdigest(), "files": 100,
              "measured_on": measured_on, "agreement": agreement}  # fmt: skip
    if seconds is not None:
        record["seconds_per_file"] = seconds
    (folder / "inference_agreement.json").write_text(json.dumps(record))

"""The outputs of every recipe and example YAML's encoder and classifier
on one fixed input, built with the YAML's own seed and the downloads of
starting weights switched off.

``python tests/helpers/yaml_outputs.py OUT.json`` records them; the file
in ``tests/fixtures/yaml_outputs/`` was recorded by the code before its
modules were reorganised, and ``tests/unit/test_hparams_files.py`` checks
that today's code builds the same models (1e-6) under the torch it was
recorded with (another torch draws other initial weights)."""

import glob
import json
import os
import sys

import torch
from hyperpyyaml import load_hyperpyyaml

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
YAML_FILES = sorted(
    glob.glob(os.path.join(ROOT, "recipes", "*", "hparams", "*.yaml"))
    + glob.glob(os.path.join(ROOT, "examples", "*", "hparams.yaml"))
)


def offline_overrides(text, folder):
    """Placeholders filled; downloads of starting weights switched off; a
    transfer's source (``source_encoder``) a small seeded encoder folder
    (``tiny_source``)."""
    overrides = {}
    if "\ndata_folder: !PLACEHOLDER" in text:
        overrides["data_folder"] = str(folder)
    for key in ("imagenet_weights", "pretrained"):
        if f"\n{key}:" in text:
            overrides[key] = None
    if "!apply:ast_lobes.source_encoder" in text:
        overrides.update(pretrained=tiny_source(folder), embed_dim=32,
                         depth=2)  # fmt: skip
    return overrides


def tiny_source(folder):
    """An SSAST encoder folder of a seeded 32-dim, 2-block AST."""
    from ast_lobes import AudioSpectrogramTransformer
    from ast_lobes.weights.self_supervised import save_pretrained_encoder

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        encoder = AudioSpectrogramTransformer(
            model_size=None, embed_dim=32, depth=2, num_heads=2,
            target_length=100, fstride=16, tstride=16,
        )  # fmt: skip
    return save_pretrained_encoder(
        os.path.join(str(folder), "tiny_source"), encoder,
        {"sample_rate": 16000, "n_mels": 128, "normalization": [-4.0, 4.0]},
    )  # fmt: skip


def load_offline(path, folder):
    """The YAML at ``path`` loaded with ``offline_overrides``."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    return load_hyperpyyaml(text, offline_overrides(text, folder))


def yaml_outputs(hparams):
    """``{"encoder": [...], "classifier": [...]}`` of loaded hparams on a
    fixed fbank of 100 frames (the encoder's mel bins)."""
    encoder = hparams.get("encoder", hparams.get("embedding_model"))
    n_mels = hparams.get("n_mels", 128)
    generator = torch.Generator().manual_seed(0)
    fbank = torch.randn(2, 100, n_mels, generator=generator)
    encoder.eval()
    outputs = {}
    with torch.no_grad():
        embedding = encoder(fbank)
        if isinstance(embedding, tuple):
            embedding = embedding[0]
        outputs["encoder"] = embedding.flatten()[:64].tolist()
        classifier = hparams.get("classifier")
        if classifier is not None:
            classifier.eval()
            logits = classifier(encoder(fbank))
            if isinstance(logits, tuple):
                logits = logits[0]
            outputs["classifier"] = logits.flatten()[:64].tolist()
    return outputs


def all_outputs(folder):
    """Every YAML's outputs, by its path below the repository root."""
    return {
        os.path.relpath(path, ROOT): yaml_outputs(load_offline(path, folder))
        for path in YAML_FILES
    }


if __name__ == "__main__":
    import tempfile

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as folder:
        result = {"torch": torch.__version__.split("+")[0],
                  "outputs": all_outputs(folder)}  # fmt: skip
    with open(sys.argv[1], "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=1)

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
    """Placeholders filled; downloads of starting weights switched off."""
    overrides = {}
    if "\ndata_folder: !PLACEHOLDER" in text:
        overrides["data_folder"] = str(folder)
    for key in ("imagenet_weights", "pretrained_ast"):
        if f"\n{key}:" in text:
            overrides[key] = None
    return overrides


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

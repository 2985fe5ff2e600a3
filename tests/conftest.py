"""Shared fixtures: small models and files in the real published formats.

Tests are sorted by kind, one folder each, and marked by it:

* ``tests/unit`` (``-m unit``): behaviour against hand-computed values;
* ``tests/parity`` (``-m parity``): against outside references
  (Hugging Face transformers, timm, torchaudio, scikit-learn, onnxruntime);
* ``tests/recipes`` (``-m recipe``): the recipes and examples end to end
  on generated data (the slow ones).

The fast loop is ``bash run_tests.sh -m "not recipe"``.
"""

import atexit
import os
import shutil
import sys
import tempfile

import pytest
import torch

if os.environ.get("PYTEST_XDIST_WORKER"):
    # two workers on two cores: one thread each, in their subprocesses too
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
else:
    torch.set_num_threads(2)
# ONNX exports (precision ort-int8) and downloads go to a folder of this
# run, not the user's cache, here and in the recipes' subprocesses
if "AST_LOBES_CACHE" not in os.environ:
    os.environ["AST_LOBES_CACHE"] = tempfile.mkdtemp(prefix="ast-cache-")
    atexit.register(shutil.rmtree, os.environ["AST_LOBES_CACHE"], True)
TESTS = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(TESTS, "helpers"))
KINDS = ("unit", "parity", "recipes")
SLOW_FIRST = ("recipes", "parity", "unit")

from lazy_modules import settle_lazy_modules  # noqa: E402 (tests/helpers)


def pytest_configure(config):
    """Under pytest-xdist (``-n``) each test process takes the next test
    when it finishes one (``--maxschedchunk 1`` unless given otherwise):
    the slow tests come first (``pytest_collection_modifyitems``), and
    xdist's default first chunks, a quarter of each process's share, put
    every recipe test in one process's queue while the other ran out."""
    if getattr(config.option, "maxschedchunk", 0) is None:
        config.option.maxschedchunk = 1


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """Marks each test with the kind of its folder (doctests: ``unit``)
    and puts the slow kinds first; first, so that SpeechBrain's lazy
    modules are settled before hypothesis's plugin scans the modules
    (``lazy_modules``)."""
    settle_lazy_modules()
    kinds = {}
    for item in items:
        relative = os.path.relpath(str(item.path), TESTS)
        kind = relative.split(os.sep)[0]
        if kind not in KINDS:
            kind = "unit"
        item.add_marker("recipe" if kind == "recipes" else kind)
        kinds[item] = kind
    # the slow kinds first (recipes, then parity), each in its order: test
    # processes that take the next test as they finish one
    # (pytest_configure) end on short tests together, not one on a recipe
    items.sort(key=lambda item: SLOW_FIRST.index(kinds[item]))


@pytest.fixture
def tiny_encoder():
    """A random 32-dim, 1-block AST on a 100-frame grid (stride 16)."""
    from tagger_models import small_encoder  # tests/helpers

    torch.manual_seed(0)
    return small_encoder(1, 100)


@pytest.fixture
def tiny_pipeline(tiny_encoder):
    """The tiny encoder with a 3-class head and a 100-frame front end."""
    from ast_lobes import (
        AudioClassificationHead,
        AudioClassificationPipeline,
        FbankNormalization,
        KaldiFbank,
    )

    torch.manual_seed(1)
    return AudioClassificationPipeline(
        KaldiFbank(target_length=100),
        FbankNormalization("audioset"),
        tiny_encoder,
        AudioClassificationHead(32, 3),
    ).eval()


@pytest.fixture(scope="session")
def hf_audioset_dir(tmp_path_factory):
    """A random AudioSet-like HF AST (1024 frames, 527 labels), saved."""
    from transformers import ASTConfig, ASTForAudioClassification

    torch.manual_seed(0)
    config = ASTConfig(
        hidden_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=384,
        max_length=1024,
        num_mel_bins=128,
        num_labels=527,
        layer_norm_eps=1e-6,
        attn_implementation="sdpa",
    )
    model = ASTForAudioClassification(config).eval()
    path = tmp_path_factory.mktemp("hf_audioset")
    model.save_pretrained(path)
    return path, model


@pytest.fixture(scope="session")
def hf_speechcommands_dir(tmp_path_factory):
    """A random Speech-Commands-like HF AST (128 frames, 35 labels)."""
    from transformers import ASTConfig, ASTForAudioClassification

    torch.manual_seed(1)
    config = ASTConfig(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=256,
        max_length=128,
        num_mel_bins=128,
        num_labels=35,
        id2label={i: f"word{i}" for i in range(35)},
        label2id={f"word{i}": i for i in range(35)},
        attn_implementation="sdpa",
    )
    model = ASTForAudioClassification(config).eval()
    path = tmp_path_factory.mktemp("hf_speechcommands")
    model.save_pretrained(path)
    return path, model

"""Training data: label tables and class folders, unlabelled audio,
splits and folds, manifests, samplers and the datasets built from them.

The names of ``datasets`` are also read from here, where they were
before 0.3 (``ast_lobes.training.data`` was one module)."""

import importlib


def __getattr__(name):
    module = importlib.import_module("ast_lobes.training.data.datasets")
    try:
        return getattr(module, name)
    except AttributeError:
        raise AttributeError(
            f"module 'ast_lobes.training.data' has no attribute {name!r}"
        ) from None

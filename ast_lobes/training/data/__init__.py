"""Training data: label tables and class folders, unlabelled audio,
splits and folds, manifests, samplers and the datasets built from them.

The names of ``datasets`` are also read from here, with a deprecation
message (``ast_lobes.compat.aliases.MOVED_NAMES``)."""

from ast_lobes.compat.aliases import moved_name


def __getattr__(name):
    return moved_name(__name__, name)

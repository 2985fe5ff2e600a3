"""The project's cache folder: downloaded checkpoints and ONNX exports.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os


def default_cache_dir():
    """Where downloaded checkpoints and ONNX exports are kept:
    ``$AST_LOBES_CACHE``, default ``~/.cache/ast_lobes``.

    Example
    -------
    >>> saved = os.environ.pop("AST_LOBES_CACHE", None)
    >>> default_cache_dir().endswith(os.path.join(".cache", "ast_lobes"))
    True
    >>> if saved is not None:
    ...     os.environ["AST_LOBES_CACHE"] = saved
    """
    return os.environ.get(
        "AST_LOBES_CACHE",
        os.path.join(os.path.expanduser("~"), ".cache", "ast_lobes"),
    )

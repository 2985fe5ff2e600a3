"""The folders of a recipe's folds: a root for several folds, and each
fold's overrides (``fold`` set, ``{fold}`` in a path replaced).

Authors
 * AST-SpeechBrain contributors 2026
"""

import logging

from ast_lobes.training.options import RecipeOptionError

logger = logging.getLogger(__name__)

# A fold's own folders and files, which folds may not share.
FOLD_PATH_KEYS = ("save_folder", "export_folder", "train_log", "metrics_file")


def fold_root_overrides(overrides, n_folds, folds_set_by_recipe=True):
    """Overrides under which folds never share a folder.

    With several folds, ``output_folder`` is the root of the fold folders
    (it becomes ``experiment_folder``; each fold runs in its ``fold<N>``
    there, and the summary is written there); a fold's own folder or file
    (``save_folder``, ``export_folder``, ``train_log``, ``metrics_file``)
    given without ``{fold}`` in it is refused, and so is ``fold``, which
    the recipe sets for each fold.

    Arguments
    ---------
    overrides : dict
        The command line's overrides.
    n_folds : int
        Folds this run trains.
    folds_set_by_recipe : bool
        Whether ``train.py`` sets ``fold`` for each fold.

    Returns
    -------
    dict
        The overrides to run the folds with.

    Example
    -------
    >>> fold_root_overrides({"output_folder": "runs/cv"}, 5)
    {'experiment_folder': 'runs/cv'}
    >>> fold_root_overrides({"save_folder": "runs/save"}, 5)
    Traceback (most recent call last):
    ...
    ast_lobes.training.options.RecipeOptionError: --save_folder runs/save ...
    """
    overrides = dict(overrides)
    if "fold" in overrides and folds_set_by_recipe:
        raise RecipeOptionError(
            "--fold: train.py sets the fold of each run; choose the folds "
            "with --folds (e.g. --folds [2]) or --n_folds"
        )
    if n_folds <= 1:
        return overrides
    for key in FOLD_PATH_KEYS:
        value = overrides.get(key)
        if value is not None and "{fold}" not in str(value):
            raise RecipeOptionError(
                f"--{key} {value} with {n_folds} folds would put every "
                f"fold's {key} in one place; pass --experiment_folder (each "
                "fold then runs in its own fold<N> folder there), or put "
                "{fold} in the path"
            )
    root = overrides.get("output_folder")
    if root is not None and "{fold}" not in str(root):
        if overrides.get("experiment_folder") is not None:
            raise RecipeOptionError(
                f"--output_folder and --experiment_folder with {n_folds} "
                "folds: pass --experiment_folder only (the folds run in its "
                "fold<N> folders)"
            )
        overrides["experiment_folder"] = overrides.pop("output_folder")
        logger.info(
            "--output_folder %s with %d folds: the root of the fold folders "
            "(%s/fold1 ... fold%d)", root, n_folds, root, n_folds,
        )  # fmt: skip
    return overrides


def fold_overrides(overrides, fold):
    """``overrides`` for one fold: ``fold`` set, and ``{fold}`` in a
    path replaced by it (a teacher or a pretrained encoder per fold, which
    never saw the fold's test clips).

    Example
    -------
    >>> fold_overrides({"teacher": "t/fold{fold}/logits.npz"}, 3)
    {'teacher': 't/fold3/logits.npz', 'fold': 3}
    """
    overrides = {
        key: value.replace("{fold}", str(fold))
        if isinstance(value, str) else value
        for key, value in overrides.items()
    }  # fmt: skip
    return {**overrides, "fold": fold}

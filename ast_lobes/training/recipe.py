"""The steps a recipe's ``train.py`` calls, gathered from the modules
that hold them:

* ``ast_lobes.training.options``: the command line (overrides, plain
  settings, the experiment folder) and ``run_main``'s one-line errors;
* ``ast_lobes.training.folds``: the folders of several folds;
* ``ast_lobes.training.run_lock``: one run per output folder;
* ``ast_lobes.training.run_datasets``: the labels, datasets and shards
  of a run;
* ``ast_lobes.training.run``: the training run (``train_classifier``);
* ``ast_lobes.training.export``: a recipe's model folder.

Authors
 * AST-SpeechBrain contributors 2026
"""

from ast_lobes.training.export import export_model, recipe_pipeline
from ast_lobes.training.folds import (
    FOLD_PATH_KEYS,
    fold_overrides,
    fold_root_overrides,
)
from ast_lobes.training.options import (
    RecipeOptionError,
    end_distributed,
    load_experiment,
    parse_overrides,
    read_plain_hparams,
    run_main,
    user_errors,
)
from ast_lobes.training.run import (
    TrainedClassifier,
    calibrate_thresholds,
    prepare_teacher,
    refuse_other_runs,
    start_weights,
    train_classifier,
    write_test_report,
)
from ast_lobes.training.run_datasets import (
    after_training_share,
    build_datasets,
    shard_train_loader,
)
from ast_lobes.training.run_lock import hold_output_folder

__all__ = [
    "FOLD_PATH_KEYS",
    "RecipeOptionError",
    "TrainedClassifier",
    "after_training_share",
    "build_datasets",
    "calibrate_thresholds",
    "end_distributed",
    "export_model",
    "fold_overrides",
    "fold_root_overrides",
    "hold_output_folder",
    "load_experiment",
    "parse_overrides",
    "prepare_teacher",
    "read_plain_hparams",
    "recipe_pipeline",
    "refuse_other_runs",
    "run_main",
    "shard_train_loader",
    "start_weights",
    "train_classifier",
    "user_errors",
    "write_test_report",
]

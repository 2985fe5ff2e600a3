"""The reference row of the small-set table: logistic regression
(scikit-learn) on the mean and standard deviation over time of each of
the 128 log-mel bands of the recipe's own front end, on the split the
recipe makes, C chosen on the validation split.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import os

import numpy as np
import torch
import yaml

from ast_lobes.audio.io import read_audio
from ast_lobes.training.options import read_plain_hparams

C_VALUES = (0.01, 0.1, 1.0, 10.0)
HERE = os.path.dirname(os.path.abspath(__file__))
RECIPE = os.path.normpath(
    os.path.join(HERE, "..", "..", "recipes", "AudioFolder")
)


def recipe_split(table, folder, split_args, fold=None):
    """The train/valid/test manifests the AudioFolder recipe writes for
    ``table`` with ``split_args`` (``["--group_column", "group", ...]``),
    of ``fold`` when they ask for folds."""
    from audiofolder_prepare import prepare_audio_folder
    from train import prepare_options

    overrides = {"table": table, "output_folder": folder}
    for key, value in zip(split_args[::2], split_args[1::2], strict=True):
        overrides[key.lstrip("-")] = yaml.safe_load(value)
    if fold is not None:
        overrides.update(fold=fold, output_folder=f"{folder}/fold{fold}")
    plain = read_plain_hparams(os.path.join(RECIPE, "hparams", "cpu.yaml"),
                               overrides)  # fmt: skip
    prepare_audio_folder(**prepare_options(plain, fold))
    return {
        split: os.path.join(plain["save_folder"], f"{split}.csv")
        for split in ("train", "valid", "test")
    }


def logmel_statistics(paths):
    """``[clips, 256]``: each band's mean and std over the clip's frames."""
    from ast_lobes import KaldiFbank

    fbank = KaldiFbank(sample_rate=16000, n_mels=128)
    features = []
    with torch.no_grad():
        for path in paths:
            feats = fbank(read_audio(path).unsqueeze(0))[0]
            features.append(torch.cat([feats.mean(0), feats.std(0)]).numpy())
    return np.stack(features)


def read_manifest(path):
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["wav"] for row in rows], [row["label"] for row in rows]


def split_statistics(table, folder, split_args, fold=None):
    """``{split: (features, labels)}`` of the recipe's split (or fold)."""
    manifests = recipe_split(table, folder, split_args, fold)
    data = {}
    for split, manifest in manifests.items():
        paths, labels = read_manifest(manifest)
        data[split] = (logmel_statistics(paths), np.array(labels))
    return data


def scaled_logistic_regression(c=1.0):
    """Standardised features into scikit-learn's logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(
        StandardScaler(), LogisticRegression(C=c, max_iter=2000)
    )


def logmel_logistic_regression_folds(table, folder, split_args, n_folds):
    """Mean and spread over the recipe's ``n_folds`` folds of the test
    accuracy, C chosen by 3-fold cross-validation on each fold's training
    clips (the held-out fold is its validation split too, so choosing C
    there would flatter the baseline)."""
    from sklearn.model_selection import GridSearchCV

    scores = []
    for fold in range(1, n_folds + 1):
        data = split_statistics(table, folder, split_args, fold)
        search = GridSearchCV(
            scaled_logistic_regression(),
            {"logisticregression__C": list(C_VALUES)},
            cv=3,
        )
        search.fit(*data["train"])
        scores.append(float(search.score(*data["test"])))
        print(f"logistic regression, fold {fold}: {scores[-1]:.1%}")
    return float(np.mean(scores)), float(np.std(scores))


def logmel_logistic_regression(table, folder, split_args):
    """Test accuracy of the baseline on the recipe's split of ``table``."""
    data = split_statistics(table, folder, split_args)
    best = None
    for c in C_VALUES:
        model = scaled_logistic_regression(c)
        model.fit(*data["train"])
        score = model.score(*data["valid"])
        if best is None or score > best[0]:
            best = (score, model)
    return float(best[1].score(*data["test"]))

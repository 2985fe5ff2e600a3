"""Steps shared by the recipes' ``train.py`` scripts.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

import speechbrain as sb
from hyperpyyaml import load_hyperpyyaml, resolve_references
from ruamel.yaml import YAML

from ast_lobes.brain import AudioClassificationBrain
from ast_lobes.data import build_label_encoder, classification_dataset
from ast_lobes.export import export_classifier


def parse_overrides(overrides):
    """Command-line overrides (SpeechBrain gives a YAML string) as a dict.

    Example
    -------
    >>> parse_overrides("{fold: 2, lr: 0.001}")
    {'fold': 2, 'lr': 0.001}
    """
    if not overrides:
        return {}
    if isinstance(overrides, dict):
        return dict(overrides)
    return dict(YAML(typ="safe").load(overrides) or {})


def read_plain_hparams(hparams_file, overrides=None):
    """Resolves a HyperPyYAML file's references without building objects.

    Used to read plain settings (folds, folders) before any model is built.

    Arguments
    ---------
    hparams_file : str
        The YAML file.
    overrides : dict or str or None
        Overrides as for ``load_hyperpyyaml``.

    Returns
    -------
    dict
        The YAML tree; tagged nodes stay unbuilt.
    """
    with open(hparams_file, encoding="utf-8") as handle:
        text = resolve_references(handle, overrides or {}).getvalue()
    return YAML(typ="rt").load(text)


def start_experiment(hparams_file, overrides=None):
    """Loads the hparams and creates the experiment folder (SpeechBrain way).

    Arguments
    ---------
    hparams_file : str
        The recipe's YAML file.
    overrides : dict or str or None
        Command-line overrides.

    Returns
    -------
    dict
        The loaded hparams; ``output_folder`` holds a copy of the YAML, the
        overrides and the log.
    """
    with open(hparams_file, encoding="utf-8") as handle:
        hparams = load_hyperpyyaml(handle, overrides)
    sb.create_experiment_directory(
        experiment_directory=hparams["output_folder"],
        hyperparams_to_save=hparams_file,
        overrides=overrides,
    )
    return hparams


def train_classifier(hparams, run_opts, manifests):
    """Trains, optionally tests, and exports one classifier.

    Arguments
    ---------
    hparams : dict
        Loaded hparams (see ``AudioClassificationBrain``), with
        ``save_folder``, ``export_folder``, ``sample_rate`` and the
        ``*_dataloader_opts``.
    run_opts : dict
        SpeechBrain run options (device, DDP...).
    manifests : dict
        ``train`` and ``valid`` manifests, and optionally ``test``: the
        checkpoint with the best validation accuracy is then tested and
        exported (else the last epoch is exported).

    Returns
    -------
    AudioClassificationBrain
    """
    label_encoder = build_label_encoder(
        os.path.join(hparams["save_folder"], "label_encoder.txt"),
        manifests["train"],
    )
    n_classes = hparams.get("n_classes")
    if n_classes is not None and n_classes != len(label_encoder):
        raise ValueError(
            f"{manifests['train']} has {len(label_encoder)} labels but "
            f"n_classes is {n_classes}; fix the data or set n_classes"
        )
    datasets = {
        split: classification_dataset(
            path, label_encoder, hparams["sample_rate"]
        )
        for split, path in manifests.items()
    }
    brain = AudioClassificationBrain(
        modules=hparams["modules"],
        opt_class=hparams["opt_class"],
        hparams=hparams,
        run_opts=run_opts,
        checkpointer=hparams["checkpointer"],
    )
    brain.fit(
        hparams["epoch_counter"],
        datasets["train"],
        datasets["valid"],
        train_loader_kwargs=hparams["train_dataloader_opts"],
        valid_loader_kwargs=hparams["valid_dataloader_opts"],
    )
    if "test" in datasets:
        brain.evaluate(
            datasets["test"],
            max_key="accuracy",
            test_loader_kwargs=hparams["valid_dataloader_opts"],
        )
    if sb.utils.distributed.if_main_process():
        export_classifier(
            hparams["export_folder"],
            hparams["encoder"],
            hparams["classifier"],
            label_encoder,
            hparams["compute_features"],
            hparams["normalize"],
        )
    return brain

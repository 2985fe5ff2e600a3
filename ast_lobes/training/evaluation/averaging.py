"""Weight averaging over epoch checkpoints and ensembles of predictions.

Authors
 * AST-SpeechBrain contributors 2026
"""

import numpy as np
from speechbrain.utils.checkpoints import average_checkpoints

from ast_lobes.training.evaluation.metrics import multilabel_scores


def epoch_checkpoints(checkpointer, first_epoch, last_epoch):
    """The checkpoints of epochs ``first_epoch`` to ``last_epoch``, in order.

    Raises ``FileNotFoundError`` naming the missing epochs if any is absent
    (train with ``keep_all_checkpoints: true``).
    """
    wanted = range(first_epoch, last_epoch + 1)
    found = {
        checkpoint.meta.get("epoch"): checkpoint
        for checkpoint in checkpointer.find_checkpoints(
            max_num_checkpoints=None
        )
    }
    missing = [epoch for epoch in wanted if epoch not in found]
    if missing:
        raise FileNotFoundError(
            f"{checkpointer.checkpoints_dir}: no checkpoint for epochs "
            f"{missing}; weight averaging needs every epoch's checkpoint"
        )
    return [found[epoch] for epoch in wanted]


def average_checkpoint_weights(checkpoints, names=("encoder", "classifier")):
    """The mean of every tensor of the recoverables ``names``.

    Returns
    -------
    dict
        name to averaged state dict.
    """
    return {name: average_checkpoints(checkpoints, name) for name in names}


def read_predictions(path):
    """``(ids, scores, targets)`` from a predictions ``.npz`` file."""
    with np.load(path) as data:
        return list(data["ids"]), data["scores"], data["targets"]


def average_predictions(paths):
    """Mean scores of several prediction files over the same clips.

    Clips are matched by id, so files may list them in any order; a file
    with other clips raises ``ValueError`` naming it.

    Returns
    -------
    tuple
        ``(ids, mean_scores, targets)`` in the first file's order.
    """
    if not paths:
        raise ValueError("no prediction files to average")
    ids, total, targets = read_predictions(paths[0])
    total = total.astype(np.float64)
    for path in paths[1:]:
        other_ids, scores, _ = read_predictions(path)
        position = {clip: row for row, clip in enumerate(other_ids)}
        if set(position) != set(ids):
            raise ValueError(
                f"{path}: its clips differ from those of {paths[0]} "
                f"({len(other_ids)} vs {len(ids)} clips)"
            )
        total += scores[[position[clip] for clip in ids]]
    return ids, total / len(paths), targets


def ensemble_scores(paths):
    """mAP, mAUC and d-prime of the mean scores of prediction files.

    Returns
    -------
    dict
        ``clips``, ``mAP``, ``mAUC`` and ``d_prime``.
    """
    ids, scores, targets = average_predictions(paths)
    summary = multilabel_scores(targets, scores)
    return {
        "clips": len(ids),
        **{key: summary[key] for key in ("mAP", "mAUC", "d_prime")},
    }

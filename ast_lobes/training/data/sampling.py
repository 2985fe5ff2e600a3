"""Label-balanced sampling for full AudioSet, as in the reference.

Authors
 * AST-SpeechBrain contributors 2026
"""

from collections import Counter

import speechbrain as sb
import torch
from speechbrain.dataio.sampler import ReproducibleWeightedRandomSampler

from ast_lobes.training.data.datasets import split_labels


def label_balanced_weights(label_lists):
    """Weight of each clip: the sum over its labels of 1000 / (count + 0.01).

    ``count`` is the number of clips carrying the label, so clips of rare
    labels are drawn more often.

    Example
    -------
    >>> weights = label_balanced_weights([["a"], ["a", "b"], ["a"]])
    >>> [round(w, 3) for w in weights]
    [332.226, 1322.325, 332.226]
    """
    counts = Counter(label for labels in label_lists for label in labels)
    return [
        sum(1000.0 / (counts[label] + 0.01) for label in labels)
        for labels in label_lists
    ]


def manifest_label_lists(csv_path, label_column="label"):
    """The label list of every row of a manifest, in the dataset's order."""
    data = sb.dataio.dataio.load_data_csv(csv_path)
    return [split_labels(row[label_column]) for row in data.values()]


def label_balanced_sampler(csv_path, seed=0, label_column="label"):
    """A weighted sampler with replacement over a manifest's clips.

    Draws as many clips per epoch as the manifest holds; SpeechBrain calls
    its ``set_epoch`` (set it as the Brain's ``train_sampler``) and wraps
    it for DDP.

    Returns
    -------
    speechbrain.dataio.sampler.ReproducibleWeightedRandomSampler
    """
    weights = label_balanced_weights(
        manifest_label_lists(csv_path, label_column)
    )
    return ReproducibleWeightedRandomSampler(
        weights, num_samples=len(weights), replacement=True, seed=seed
    )


def distributed_place():
    """``(world_size, rank)`` of this process (``(1, 0)`` without DDP).

    Example
    -------
    >>> distributed_place()
    (1, 0)
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return 1, 0


class EvaluationPart(torch.utils.data.Sampler):
    """The clips ``rank, rank + processes, ...`` of an evaluation set: each
    process scores its part once, nothing padded or repeated (the Brain
    gathers the parts back into the set's order).

    Example
    -------
    >>> list(EvaluationPart(7, rank=1, processes=3))
    [1, 4]
    """

    def __init__(self, clips, rank, processes):
        super().__init__()
        self.indices = range(rank, clips, processes)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self):
        return len(self.indices)


def interleave_parts(parts):
    """The rows of ``EvaluationPart`` parts (one list per rank) back in the
    set's order.

    Example
    -------
    >>> interleave_parts([[0, 3, 6], [1, 4], [2, 5]])
    [0, 1, 2, 3, 4, 5, 6]
    """
    longest = max(len(part) for part in parts)
    return [part[k] for k in range(longest) for part in parts if k < len(part)]

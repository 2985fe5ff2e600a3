"""The 527 AudioSet class names, shipped with the package.

``resources/audioset_class_labels_indices.csv`` is the official
``class_labels_indices.csv`` (index, mid, display_name) of AudioSet
(Gemmeke et al., 2017; CC BY 4.0).

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import os

AUDIOSET_LABELS_CSV = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "resources",
    "audioset_class_labels_indices.csv",
)


def audioset_label_names():
    """The AudioSet display names in index order.

    Example
    -------
    >>> names = audioset_label_names()
    >>> len(names), names[0], names[137]
    (527, 'Speech', 'Music')
    """
    with open(AUDIOSET_LABELS_CSV, newline="", encoding="utf-8") as handle:
        return [row["display_name"] for row in csv.DictReader(handle)]

"""What a test evaluation tells a user: per-class precision, recall and F1,
a confusion-matrix picture, and the model card of an exported model.

Authors
 * AST-SpeechBrain contributors 2026
"""

import csv
import os

import numpy as np
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support


def per_class_table(scores, targets, label_names, multi_label, threshold=0.5):
    """Precision, recall, F1 and support of every class.

    Single-label: the predicted class is the best-scoring one. Multi-label:
    a class is predicted where its score reaches ``threshold``.

    Arguments
    ---------
    scores, targets : numpy.ndarray
        ``[clips, classes]``: scores, and 0/1 targets.
    label_names : list of str
        One name per class.
    multi_label : bool
        How predictions are read from the scores.
    threshold : float
        Decision threshold of the multi-label case.

    Returns
    -------
    list of dict
        One row per class: ``label``, ``precision``, ``recall``, ``f1``,
        ``support``.

    Example
    -------
    >>> scores = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]])
    >>> targets = np.array([[1, 0], [0, 1], [0, 1]])
    >>> [(r["label"], r["precision"], r["recall"]) for r in
    ...  per_class_table(scores, targets, ["a", "b"], False)]
    [('a', 0.5, 1.0), ('b', 1.0, 0.5)]
    """
    classes = np.arange(len(label_names))
    if multi_label:
        truth, predicted, labels = targets >= 0.5, scores >= threshold, None
    else:
        truth, predicted = targets.argmax(1), scores.argmax(1)
        labels = classes
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    return [
        {
            "label": name,
            "precision": round(float(p), 4),
            "recall": round(float(r), 4),
            "f1": round(float(f), 4),
            "support": int(s),
        }
        for name, p, r, f, s in zip(
            label_names, precision, recall, f1, support, strict=True
        )
    ]


def write_per_class_csv(path, rows):
    """Writes ``per_class_table`` rows as CSV."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot_confusion(path, scores, targets, label_names, title="test"):
    """Saves the confusion matrix of single-label predictions as a PNG
    (rows: true class, columns: predicted; counts in the cells)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = confusion_matrix(
        targets.argmax(1), scores.argmax(1), labels=range(len(label_names))
    )
    size = max(4.0, 0.35 * len(label_names) + 2)
    figure, axes = plt.subplots(figsize=(size, size))
    image = axes.imshow(matrix, cmap="Blues")
    ticks = range(len(label_names))
    axes.set_xticks(ticks, label_names, rotation=90)
    axes.set_yticks(ticks, label_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(f"Confusion matrix ({title}, {int(matrix.sum())} clips)")
    if len(label_names) <= 40:
        limit = matrix.max() / 2
        for (row, column), count in np.ndenumerate(matrix):
            if count:
                color = "white" if count > limit else "black"
                axes.text(column, row, str(count), ha="center",
                          va="center", color=color, fontsize=7)  # fmt: skip
    figure.colorbar(image, ax=axes, fraction=0.046)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return matrix


def write_model_card(folder, card):
    """Writes ``README.md`` into an exported model folder.

    Arguments
    ---------
    folder : str
        The exported model folder.
    card : dict
        ``title``, ``labels``, ``multi_label``, ``clips`` (per split),
        ``test_metrics`` (dict), ``per_class`` (rows of
        ``per_class_table``), ``settings`` (dict) and ``source`` (how the
        data was given).
    """
    task = "multi-label tagging" if card["multi_label"] else "classification"
    lines = [
        f"# {card['title']}",
        "",
        f"Audio {task} with the Audio Spectrogram Transformer (Gong et al., "
        "2021), trained with the ast_lobes AudioFolder recipe for "
        "SpeechBrain.",
        "",
        "## Data",
        "",
        f"- Source: {card['source']}",
        f"- {len(card['labels'])} classes: {', '.join(card['labels'])}",
        "- Clips: "
        + ", ".join(f"{n} {split}" for split, n in card["clips"].items()),
        "",
        "## Test results",
        "",
    ]
    lines += [
        f"- {key}: {value:.4f}" for key, value in card["test_metrics"].items()
    ]
    lines += ["", "| class | precision | recall | F1 | clips |",
              "|---|---|---|---|---|"]  # fmt: skip
    lines += [
        f"| {r['label']} | {r['precision']:.3f} | {r['recall']:.3f} "
        f"| {r['f1']:.3f} | {r['support']} |"
        for r in card["per_class"]
    ]
    lines += ["", "## Training settings", ""]
    lines += [f"- {key}: {value}" for key, value in card["settings"].items()]
    lines += [
        "",
        "## Use",
        "",
        "```bash",
        "ast-tag clip.wav --model <this folder>",
        "```",
        "",
        "```python",
        "from pretrained_interfaces import AudioTagger",
        "",
        'tagger = AudioTagger.from_hparams(source="<this folder>")',
        'tagger.tag_file("clip.wav").tags',
        "",
        "from speechbrain.inference.classifiers import EncoderClassifier",
        "",
        "model = EncoderClassifier.from_hparams(",
        '    source="<this folder>", hparams_file="hyperparams.yaml"',
        ")",
        "```",
        "",
    ]
    with open(os.path.join(folder, "README.md"), "w", encoding="utf-8") as out:
        out.write("\n".join(lines))

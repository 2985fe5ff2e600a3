"""A picture of a file's sound events: the scores over time per label and
the detected events as bars.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

import matplotlib

from ast_lobes.audio.names import shown

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_timeline(result, labels, path, reference=None):
    """Writes a PNG of an ``EventResult``: a heat map of the scores (one
    row per label), the detected events as bars below it and, when given,
    the reference events (dicts with ``label``, ``onset``, ``offset``)."""
    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(10, 2 + 0.5 * len(labels)), sharex=True,
        gridspec_kw={"height_ratios": [1, 1]},
    )  # fmt: skip
    step = result.times[1] - result.times[0] if len(result.times) > 1 else 1
    extent = (result.times[0] - step / 2, result.times[-1] + step / 2,
              len(labels) - 0.5, -0.5)  # fmt: skip
    image = top.imshow(result.scores.T, aspect="auto", extent=extent,
                       vmin=0, vmax=1, cmap="viridis",
                       interpolation="nearest")  # fmt: skip
    top.set_yticks(range(len(labels)), labels)
    top.set_title(
        f"{shown(os.path.basename(result.file))}: scores per "
        f"{'time step' if result.resolution == 'frames' else 'window'}"
    )
    fig.colorbar(image, ax=top, fraction=0.02)
    rows = {label: index for index, label in enumerate(labels)}
    for events, colour, offset in (
        (reference or [], "grey", -0.2),
        (result.events, "tab:red", 0.2),
    ):
        for event in events:
            bottom.broken_barh(
                [(event["onset"], event["offset"] - event["onset"])],
                (rows[event["label"]] + offset - 0.15, 0.3), color=colour,
            )  # fmt: skip
    bottom.set_yticks(range(len(labels)), labels)
    bottom.set_ylim(len(labels) - 0.5, -0.5)
    bottom.set_xlabel("time (s)")
    bottom.set_title(
        "events: detected (red)" + (", reference (grey)" if reference else "")
    )
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path

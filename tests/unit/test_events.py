"""Sound events: the frame-level head's pooling and the events drawn from
scores against hand computations, and the event scores against sed_eval
run directly on the same files."""

import numpy as np
import pytest
import torch

from ast_lobes import FrameLevelHead
from ast_lobes.training.evaluation.event_metrics import (
    event_scores,
    read_event_list,
    write_event_list,
)
from pretrained_interfaces.events import median_steps, scores_to_events


@pytest.mark.parametrize("pooling", ["linear_softmax", "attention"])
def test_frame_level_pooling_by_hand(pooling):
    torch.manual_seed(0)
    head = FrameLevelHead(4, 2, pooling=pooling)
    steps = torch.randn(1, 5, 4)
    with torch.no_grad():
        normed = torch.nn.functional.layer_norm(steps, (4,), eps=1e-5)
        frame = torch.sigmoid(normed @ head.linear.weight.T + head.linear.bias)
        if pooling == "linear_softmax":
            clip = (frame**2).sum(1) / frame.sum(1)
        else:
            logits = normed @ head.attention.weight.T + head.attention.bias
            clip = (torch.softmax(logits, dim=1) * frame).sum(1)
        assert torch.allclose(head.frame_scores(steps), frame, atol=1e-6)
        assert torch.allclose(torch.sigmoid(head(steps)[:, 0]), clip,
                              atol=1e-6)  # fmt: skip
    with pytest.raises(ValueError, match="time_steps pooling"):
        head(torch.randn(1, 4))


def test_events_from_scores_with_median_filter():
    times = np.arange(12) * 0.1 + 0.05
    dog = [0, 0, 1, 1, 1, 0, 1, 0, 0, 0, 0, 0]  # a one-step gap...
    cat = [0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]  # ...and a one-step blip
    scores = np.array([dog, cat], dtype=float).T * 0.8 + 0.1
    plain = scores_to_events(scores, times, 0.1, np.array([0.5, 0.5]),
                             ["dog", "cat"])  # fmt: skip
    assert [(e["label"], e["onset"], e["offset"]) for e in plain] == [
        ("dog", 0.2, 0.5), ("dog", 0.6, 0.7), ("cat", 0.8, 0.9),
    ]  # fmt: skip
    filtered = scores_to_events(scores, times, 0.1, np.array([0.5, 0.5]),
                                ["dog", "cat"], median=3)  # fmt: skip
    # by hand: step 5 (neighbours 1, 1) fills in, step 6 (0, 0) drops out
    assert [(e["label"], e["onset"], e["offset"]) for e in filtered] == [
        ("dog", 0.2, 0.6),
    ]
    assert filtered[0]["score"] == pytest.approx(0.9)
    # per-class thresholds: the cat's lower one keeps its step
    both = scores_to_events(scores, times, 0.1, np.array([0.95, 0.5]),
                            ["dog", "cat"])  # fmt: skip
    assert [e["label"] for e in both] == ["cat"]
    assert median_steps(0.25, 0.1) == 3


def test_event_scores_are_sed_evals_on_the_same_files(tmp_path):
    import dcase_util
    import sed_eval

    reference = [
        {"filename": "a.wav", "onset": 1.0, "offset": 3.0,
         "event_label": "dog"},
        {"filename": "a.wav", "onset": 5.0, "offset": 6.0,
         "event_label": "cat"},
        {"filename": "b.wav", "onset": 0.5, "offset": 2.5,
         "event_label": "cat"},
    ]  # fmt: skip
    estimated = [
        {"filename": "a.wav", "onset": 1.1, "offset": 2.9,
         "event_label": "dog"},
        {"filename": "a.wav", "onset": 5.5, "offset": 6.0,
         "event_label": "dog"},
        {"filename": "b.wav", "onset": 0.6, "offset": 2.0,
         "event_label": "cat"},
    ]  # fmt: skip
    ref_path = write_event_list(tmp_path / "ref.tsv", reference)
    est_path = write_event_list(tmp_path / "est.tsv", estimated)
    ours = event_scores(read_event_list(ref_path), read_event_list(est_path),
                        ["cat", "dog"])  # fmt: skip

    truth = dcase_util.containers.MetaDataContainer().load(str(ref_path))
    found = dcase_util.containers.MetaDataContainer().load(str(est_path))
    events = sed_eval.sound_event.EventBasedMetrics(
        ["cat", "dog"], t_collar=0.2, percentage_of_length=0.2
    )
    segments = sed_eval.sound_event.SegmentBasedMetrics(
        ["cat", "dog"], time_resolution=1.0
    )
    for name in ("a.wav", "b.wav"):
        events.evaluate(truth.filter(filename=name),
                        found.filter(filename=name))  # fmt: skip
        segments.evaluate(truth.filter(filename=name),
                          found.filter(filename=name))  # fmt: skip
    expected_event = events.results_overall_metrics()["f_measure"]
    expected_segment = segments.results_overall_metrics()["f_measure"]
    assert ours["event_f1"] == pytest.approx(expected_event["f_measure"])
    assert ours["segment_f1"] == pytest.approx(expected_segment["f_measure"])
    # by hand: one of three events found within the collars (the dog in
    # a.wav; b's cat ends 0.5 s early, past 20 % of its length)
    assert ours["event_f1"] == pytest.approx(1 / 3)

"""mAP, AUC and d-prime against scikit-learn; averaging; balanced weights."""

import io
import math

import numpy as np
import pytest
import torch
from scipy.stats import norm
from sklearn.metrics import average_precision_score, roc_auc_score
from speechbrain.utils.checkpoints import Checkpointer

from ast_lobes.training.data.sampling import label_balanced_weights
from ast_lobes.training.evaluation.averaging import (
    average_checkpoint_weights,
    average_predictions,
    epoch_checkpoints,
)
from ast_lobes.training.evaluation.metrics import (
    MultiLabelStats,
    multilabel_scores,
)


def test_scores_equal_sklearn_with_degenerate_classes():
    rng = np.random.default_rng(0)
    targets = (rng.random((60, 6)) < 0.3).astype(float)
    targets[:, 2] = 0  # no positive example
    targets[:, 4] = 1  # no negative example
    scores = rng.random((60, 6))
    result = multilabel_scores(targets, scores)
    fine_ap = [0, 1, 3, 4, 5]
    fine_auc = [0, 1, 3, 5]
    ap = [average_precision_score(targets[:, c], scores[:, c]) for c in fine_ap]
    auc = [roc_auc_score(targets[:, c], scores[:, c]) for c in fine_auc]
    assert result["mAP"] == pytest.approx(np.mean(ap), abs=1e-12)
    assert result["mAUC"] == pytest.approx(np.mean(auc), abs=1e-12)
    assert result["d_prime"] == pytest.approx(
        math.sqrt(2) * norm.ppf(np.mean(auc))
    )
    assert np.allclose(result["ap"][fine_ap], ap)
    assert math.isnan(result["ap"][2]) and math.isnan(result["auc"][4])
    assert result["classes_without_positives"] == [2]
    assert result["classes_without_negatives"] == [4]


def test_hand_computed_average_precision():
    # class 0: ranks 0.9 (pos), 0.4 (pos), 0.3 (neg) -> AP 1
    # class 1: 0.8 (pos), 0.2 (neg), 0.1 (pos) -> AP (1 + 2/3) / 2
    result = multilabel_scores(
        [[1, 1], [0, 0], [1, 1]], [[0.9, 0.8], [0.3, 0.2], [0.4, 0.1]]
    )
    assert result["ap"].tolist() == pytest.approx([1.0, 5 / 6])
    assert result["auc"].tolist() == pytest.approx([1.0, 0.5])
    with pytest.raises(ValueError, match="no class has a positive"):
        multilabel_scores([[0, 0]], [[0.1, 0.2]])
    with pytest.raises(ValueError, match="must both be"):
        multilabel_scores([[0, 1]], [[0.1, 0.2, 0.3]])


def test_stats_class_collects_batches_and_writes_names():
    stats = MultiLabelStats(["dog", "cat", "owl"])
    stats.append(
        ["a"], torch.tensor([[0.9, 0.1, 0.2]]), torch.tensor([[1.0, 0, 0]])
    )
    stats.append(
        ["b", "c"],
        torch.tensor([[0.2, 0.8, 0.1], [0.6, 0.3, 0.9]]),
        torch.tensor([[0.0, 1, 0], [0, 1, 0]]),
    )
    assert stats.summarize("mAP") == pytest.approx((1.0 + 1.0) / 2)
    text = io.StringIO()
    stats.write_stats(text)
    lines = text.getvalue().splitlines()
    assert lines[0] == "index\tlabel\tpositives\tAP\tAUC"
    assert "2\towl\t0\tnan\tnan" in lines
    assert "over 2 classes with a positive example" in lines[-1]


def test_weight_average_is_the_mean_of_checkpoint_tensors(tmp_path):
    model = torch.nn.Linear(3, 2)
    head = torch.nn.Linear(2, 1)
    checkpointer = Checkpointer(
        str(tmp_path), {"encoder": model, "classifier": head}
    )
    saved = []
    for epoch in range(1, 5):
        torch.manual_seed(epoch)
        for module in (model, head):
            for parameter in module.parameters():
                parameter.data.normal_()
        saved.append({k: v.clone() for k, v in model.state_dict().items()})
        checkpointer.save_checkpoint(meta={"epoch": epoch})
    checkpoints = epoch_checkpoints(checkpointer, 2, 4)
    assert [c.meta["epoch"] for c in checkpoints] == [2, 3, 4]
    averaged = average_checkpoint_weights(checkpoints)
    for key in ("weight", "bias"):
        expected = (saved[1][key] + saved[2][key] + saved[3][key]) / 3
        assert torch.allclose(averaged["encoder"][key], expected, atol=1e-7)
    with pytest.raises(FileNotFoundError, match=r"epochs \[5, 6\]"):
        epoch_checkpoints(checkpointer, 4, 6)


def test_prediction_average_matches_clips_by_id(tmp_path):
    targets = np.eye(3)
    np.savez(
        tmp_path / "a.npz",
        ids=np.array(["x", "y", "z"]),
        scores=np.array([[0.2, 0, 0], [0, 0.4, 0], [0, 0, 0.6]]),
        targets=targets,
    )
    np.savez(
        tmp_path / "b.npz",
        ids=np.array(["z", "x", "y"]),
        scores=np.array([[0, 0, 0.2], [0.4, 0, 0], [0, 0.8, 0]]),
        targets=targets[[2, 0, 1]],
    )
    ids, scores, _ = average_predictions(
        [tmp_path / "a.npz", tmp_path / "b.npz"]
    )
    assert ids == ["x", "y", "z"]
    assert np.allclose(np.diag(scores), [0.3, 0.6, 0.4])
    np.savez(tmp_path / "c.npz", ids=np.array(["x"]), scores=np.ones((1, 3)),
             targets=np.ones((1, 3)))  # fmt: skip
    with pytest.raises(ValueError, match="c.npz: its clips differ"):
        average_predictions([tmp_path / "a.npz", tmp_path / "c.npz"])


def test_label_balanced_weights_hand_computed():
    lists = [["speech"], ["speech", "dog"], ["speech"], ["music"]]
    weights = label_balanced_weights(lists)
    speech, dog, music = 1000 / 3.01, 1000 / 1.01, 1000 / 1.01
    assert weights == pytest.approx([speech, speech + dog, speech, music])

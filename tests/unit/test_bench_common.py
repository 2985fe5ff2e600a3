"""The benchmarks' top-1 agreement with fp32 (``bench_common.agreement``)
counted against values worked out by hand: every run folder of an
experiment (one holding ``model/`` and ``save/test.csv``, its clips in a
``wav`` or ``path`` column) is found, a folder without a model is not,
the modes not measured are left out, and each clip counts once."""

import os
import sys
from pathlib import Path

import torch
from speechbrain.dataio.encoder import CategoricalEncoder
from tagger_models import noise_clips, small_pipeline  # tests/helpers

from ast_lobes import AudioClassificationHead, export_classifier

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_common  # noqa: E402

BIAS = [0.0, 0.5]  # every clip's fp32 logits: the top class is "b"


def zero_head(dim):
    """A clip head whose logits are ``BIAS`` whatever its input."""
    head = AudioClassificationHead(dim, 2)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.tensor(BIAS))
    return head


def write_run(run, column, clips, with_model=True):
    """A run folder whose model's fp32 logits are ``BIAS`` for any clip,
    and ``clips`` test clips listed in the column ``column`` of
    ``save/test.csv``."""
    run = Path(run)
    (run / "save").mkdir(parents=True)
    if with_model:
        labels = CategoricalEncoder()
        labels.update_from_iterable(["a", "b"])
        export_classifier(str(run / "model"), small_pipeline(1, zero_head),
                          labels)  # fmt: skip
    wavs = noise_clips(run / "clips", clips)
    rows = [f"ID,{column},label"]
    rows += [f"clip{i},{wav},a" for i, wav in enumerate(wavs)]
    (run / "save" / "test.csv").write_text("\n".join(rows) + "\n")


def test_agreement_counts_each_clip_of_each_run(tmp_path, monkeypatch):
    experiment = str(tmp_path / "experiment")
    write_run(os.path.join(experiment, "fold1"), "wav", 3)
    write_run(os.path.join(experiment, "nested", "run2"), "path", 2)
    write_run(os.path.join(experiment, "stale"), "wav", 4, with_model=False)
    real_forward_of = bench_common.forward_of

    def forward_of(mode, encoder, classifier, folder):
        if mode != "every-other":
            return real_forward_of(mode, encoder, classifier, folder)
        calls = []

        def forward(fbank):  # the 1st, 3rd, ... clip of a run: top "a"
            calls.append(fbank)
            if len(calls) % 2:
                return torch.tensor([[0.75, 0.5]])
            return torch.tensor([[0.0, 0.75]])

        return forward

    monkeypatch.setattr(bench_common, "forward_of", forward_of)
    monkeypatch.setattr(bench_common, "slow_modes", lambda: ["bf16"])
    modes = ["hf-fp32", "fp32", "bf16", "int8-dynamic", "onnx-fp32",
             "every-other"]  # fmt: skip
    agreed = bench_common.agreement(experiment, modes)
    # not measured: Hugging Face's, the reference, one slower than fp32
    assert list(agreed) == ["int8-dynamic", "onnx-fp32", "every-other"]
    # the zero weights make every mode's logits the bias exactly
    assert agreed["int8-dynamic"] == (5, 5, 0.0)
    agreeing, clips, largest = agreed["onnx-fp32"]
    assert (agreeing, clips) == (5, 5) and largest < 1e-6
    # fold1: clips 1 and 3 disagree, 2 agrees; run2: 1 disagrees, 2
    # agrees; largest |0.75 - 0.0| (class a), else |0.75 - 0.5| (b)
    assert agreed["every-other"] == (2, 5, 0.75)
    assert bench_common.agreement(str(tmp_path / "empty"), modes) == {}

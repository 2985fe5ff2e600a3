"""ONNX export of an AST classifier, with a dynamic time axis.

``export_classifier_onnx`` writes ``fbank [batch, frames, n_mels] ->
logits [batch, n_labels]`` with dynamic batch and frame counts (from two
patches in time up to the model's ``target_length`` frames: longer audio
is tagged in windows). ``export_front_end_onnx`` writes the Kaldi fbank
front end with its normalisation, ``waveform [samples] -> fbank [1,
frames, n_mels]``;
torchaudio's fbank computes its frame count in Python, so the exporter
fixes the number of samples (export it for your window, e.g. 164,080
samples = 1024 frames).

From the command line, for a model folder exported by a recipe::

    python -m pretrained_interfaces.onnx_export results/.../model model.onnx \
        --front-end-samples 164080

Run with onnxruntime::

    import onnxruntime
    session = onnxruntime.InferenceSession("model.onnx")
    logits = session.run(None, {"fbank": fbank_numpy})[0]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import math
import os

import torch
from torch import nn

from ast_lobes.inference.onnx_runtime import (
    ATTENTION_OPSET,
    export_encoder_onnx,
    quantize_onnx_int8,
)
from ast_lobes.weights.exported import load_exported_model

__all__ = [
    "export_classifier_onnx",
    "export_front_end_onnx",
    "quantize_onnx_int8",
]


class LogitsModel(nn.Module):
    """The pipeline's ``classify``: normalised fbank to ``[batch, n_labels]``
    logits."""

    def __init__(self, pipeline):
        super().__init__()
        self.pipeline = pipeline

    def forward(self, fbank):
        """Logits of normalised fbank features ``[batch, frames, mel]``."""
        return self.pipeline.classify(fbank)


class FrontEnd(nn.Module):
    """The pipeline's ``features`` of one waveform, ``[1, frames, mel]``."""

    def __init__(self, pipeline):
        super().__init__()
        self.pipeline = pipeline

    def forward(self, waveform):
        """Normalised features of a 1-D waveform at the front end's sample
        rate, padded or cut to its ``target_length`` if it has one."""
        return self.pipeline.features(waveform)[0]


def export_classifier_onnx(pipeline, path, opset_version=ATTENTION_OPSET):
    """Writes the encoder and head to ``path`` with dynamic batch and time
    (from two time patches up to the model's ``target_length`` frames).

    Arguments
    ---------
    pipeline : ast_lobes.AudioClassificationPipeline
        The model (fp32).
    path : str
        Output ``.onnx`` file.
    opset_version : int
        ONNX opset: 23 (the default) writes each block's attention as
        ONNX's ``Attention`` node, which ONNX Runtime 1.32 runs 13-22 %
        faster than the separate nodes of opset 18; 18 for runtimes
        without that operator.

    Returns
    -------
    str
        ``path``.
    """
    return export_encoder_onnx(
        LogitsModel(pipeline), pipeline.bare_encoder, path,
        output_name="logits", opset_version=opset_version,
    )  # fmt: skip


def hann_window(
    window_length, periodic=True, *, dtype=None, device=None, **unused
):
    """``torch.hann_window`` in elementary operations, which every torch's
    ONNX exporter translates (torch 2.9's has no translation of its own).

    Example
    -------
    >>> torch.allclose(
    ...     hann_window(400, False), torch.hann_window(400, periodic=False)
    ... )
    True
    >>> hann_window(1).tolist()
    [1.0]
    """
    if window_length == 1:
        return torch.ones(1, dtype=dtype, device=device)
    span = window_length if periodic else window_length - 1
    index = torch.arange(window_length, dtype=dtype, device=device)
    return 0.5 - 0.5 * torch.cos(index * (2 * math.pi / span))


def export_front_end_onnx(pipeline, path, n_samples, opset_version=18):
    """Writes the fbank front end for waveforms of ``n_samples`` samples.

    Returns
    -------
    str
        ``path``.
    """
    model = FrontEnd(pipeline).eval()
    with torch.no_grad():
        program = torch.export.export(model, (torch.randn(n_samples),))
        window = torch.ops.aten.hann_window
        program = program.run_decompositions(
            {window.default: hann_window, window.periodic: hann_window}
        )
        torch.onnx.export(
            program,
            (torch.randn(n_samples),),
            path,
            dynamo=True,
            input_names=["waveform"],
            output_names=["fbank"],
            opset_version=opset_version,
            verbose=False,
        )
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export an AST to ONNX.")
    parser.add_argument("model_folder", help="a folder exported by a recipe")
    parser.add_argument("output", help="the .onnx file to write")
    parser.add_argument(
        "--front-end-samples",
        type=int,
        help="also write <output>.frontend.onnx for waveforms of this length",
    )
    parser.add_argument(
        "--int8",
        action="store_true",
        help="also write <output>.int8.onnx, quantised by ONNX Runtime "
        "(dynamic int8: the fastest CPU runtime on some CPUs, see the "
        "fast inference tables)",
    )
    parser.add_argument(
        "--opset",
        type=int,
        default=ATTENTION_OPSET,
        help="ONNX opset of the classifier (default %(default)s: attention "
        "as one Attention node; 18 for runtimes without that operator)",
    )
    args = parser.parse_args(argv)
    pipeline = load_exported_model(args.model_folder).pipeline
    export_classifier_onnx(pipeline, args.output, args.opset)
    print(f"wrote {args.output}")
    if args.int8:
        int8 = os.path.splitext(args.output)[0] + ".int8.onnx"
        quantize_onnx_int8(args.output, int8)
        print(f"wrote {int8}")
    if args.front_end_samples:
        front = os.path.splitext(args.output)[0] + ".frontend.onnx"
        export_front_end_onnx(pipeline, front, args.front_end_samples)
        print(f"wrote {front}")


if __name__ == "__main__":
    main()

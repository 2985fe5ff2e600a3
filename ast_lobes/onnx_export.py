"""ONNX export of an AST classifier, with a dynamic time axis.

``export_classifier_onnx`` writes ``fbank [batch, frames, n_mels] ->
logits [batch, n_labels]`` with dynamic batch and frame counts (from one
patch up to the model's ``input_tdim`` frames: longer audio is tagged in
windows). ``export_front_end_onnx`` writes the Kaldi fbank front end with
its normalisation, ``waveform [samples] -> fbank [1, frames, n_mels]``;
torchaudio's fbank computes its frame count in Python, so the exporter
fixes the number of samples (export it for your window, e.g. 164,080
samples = 1024 frames).

From the command line, for a model folder exported by a recipe::

    python -m ast_lobes.onnx_export results/.../model model.onnx \
        --front-end-samples 164080

Run with onnxruntime::

    import onnxruntime
    session = onnxruntime.InferenceSession("model.onnx")
    logits = session.run(None, {"fbank": fbank_numpy})[0]

Authors
 * AST-SpeechBrain contributors 2026
"""

import argparse
import os

import torch
from torch import nn

from ast_lobes.export import load_exported_model


class LogitsModel(nn.Module):
    """``classifier(encoder(fbank))`` as ``[batch, n_labels]`` logits."""

    def __init__(self, encoder, classifier):
        super().__init__()
        self.encoder = encoder
        self.classifier = classifier

    def forward(self, fbank):
        """Logits of normalised fbank features ``[batch, frames, mel]``."""
        return self.classifier(self.encoder(fbank)).squeeze(1)


class FrontEnd(nn.Module):
    """Fbank of one waveform, normalised, as ``[1, frames, mel]``."""

    def __init__(self, features, normalize):
        super().__init__()
        self.features = features
        self.normalize = normalize

    def forward(self, waveform):
        """Features of a 1-D waveform at the front end's sample rate, padded
        or cut to the front end's ``target_length`` if it has one."""
        return self.normalize(self.features(waveform))


def export_classifier_onnx(encoder, classifier, path, opset_version=18):
    """Writes the encoder and head to ``path`` with dynamic batch and time.

    Arguments
    ---------
    encoder : ast_lobes.AudioSpectrogramTransformer
        The encoder (fp32).
    classifier : torch.nn.Module
        The head.
    path : str
        Output ``.onnx`` file.
    opset_version : int
        ONNX opset.

    Returns
    -------
    str
        ``path``.
    """
    model = LogitsModel(encoder, classifier).eval()
    frames_max = encoder.input_tdim
    frames_min = encoder.patch_size[1]
    example = torch.randn(2, frames_max, encoder.input_fdim)
    dynamic = {
        "fbank": {
            0: torch.export.Dim("batch", min=1, max=4096),
            1: torch.export.Dim("frames", min=frames_min, max=frames_max),
        }
    }
    with torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            path,
            dynamo=True,
            dynamic_shapes=dynamic,
            input_names=["fbank"],
            output_names=["logits"],
            opset_version=opset_version,
            verbose=False,
        )
    return path


def export_front_end_onnx(
    features, normalize, path, n_samples, opset_version=18
):
    """Writes the fbank front end for waveforms of ``n_samples`` samples.

    Returns
    -------
    str
        ``path``.
    """
    model = FrontEnd(features, normalize).eval()
    with torch.no_grad():
        torch.onnx.export(
            model,
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
    args = parser.parse_args(argv)
    encoder, classifier, features, normalize = load_exported_model(
        args.model_folder
    )
    export_classifier_onnx(encoder, classifier, args.output)
    print(f"wrote {args.output}")
    if args.front_end_samples:
        front = os.path.splitext(args.output)[0] + ".frontend.onnx"
        export_front_end_onnx(
            features, normalize, front, args.front_end_samples
        )
        print(f"wrote {front}")


if __name__ == "__main__":
    main()

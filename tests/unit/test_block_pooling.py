"""Every block's pooled output (the ``blocks_*`` poolings) and the
``BlockWeightedHead`` that weighs them: computed as by hand, exported and
loaded as any model, run in PyTorch's blocks only."""

import pytest
import torch
import torch.nn.functional as F
from speechbrain.dataio.encoder import CategoricalEncoder
from tagger_models import small_encoder, small_pipeline

from ast_lobes import BlockWeightedHead, export_classifier, load_model_source

FRAMES = 98  # a 1-s clip's frames


def reference_rows(encoder, fbank, pooling):
    """Each block's pooled output computed from the encoder's parts by
    hand: timm's blocks one after another, the final LayerNorm as
    ``F.layer_norm`` of its weights, then the pooling."""
    tokens, _ = encoder.embed(fbank)
    rows = []
    norm = encoder.norm
    for block in encoder.blocks:
        tokens = block(tokens)
        normed = F.layer_norm(tokens, (tokens.shape[-1],), norm.weight,
                              norm.bias, norm.eps)  # fmt: skip
        if pooling == "mean":
            rows.append(normed[:, 2:].mean(1))
        elif pooling == "cls":
            rows.append(normed[:, 0])
        else:
            rows.append((normed[:, 0] + normed[:, 1]) / 2)
    return torch.stack(rows, 1)


@pytest.mark.parametrize("pooling", ["cls_dist", "cls", "mean"])
def test_every_block_pooled_as_by_hand(pooling):
    torch.manual_seed(0)
    encoder = small_encoder(3, FRAMES, pooling=f"blocks_{pooling}").eval()
    fbank = torch.randn(2, FRAMES, 128)
    with torch.no_grad():
        rows = encoder(fbank)
        expected = reference_rows(encoder, fbank, pooling)
        encoder.config = encoder.config.replace(pooling=pooling)
        last = encoder(fbank)
    assert rows.shape == (2, 3, 32)
    torch.testing.assert_close(rows, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(rows[:, -1:], last, atol=1e-6, rtol=0)


def test_a_block_weighted_model_folder_loads_and_scores(tmp_path):
    pipeline = small_pipeline(
        2, lambda dim: BlockWeightedHead(dim, 3, 2), FRAMES,
        pooling="blocks_mean",
    )  # fmt: skip
    with torch.no_grad():
        pipeline.classifier.block_scores.copy_(torch.tensor([0.3, -1.0]))
    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b", "c"])
    export_classifier(str(tmp_path / "m"), pipeline, labels)
    loaded = load_model_source(str(tmp_path / "m"))
    wavs = torch.randn(2, 16000) * 0.1
    with torch.no_grad():
        torch.testing.assert_close(loaded.pipeline(wavs), pipeline(wavs))
        weights = torch.softmax(torch.tensor([0.3, -1.0]), 0)
        rows = pipeline.encoder(pipeline.features(wavs)[0])
        by_hand = pipeline.classifier.linear(pipeline.classifier.norm(
            (rows * weights[None, :, None]).sum(1)))  # fmt: skip
        torch.testing.assert_close(pipeline(wavs), by_hand, atol=1e-6, rtol=0)
    from speechbrain.inference.classifiers import EncoderClassifier

    classifier = EncoderClassifier.from_hparams(
        source=str(tmp_path / "m"), savedir=str(tmp_path / "sb")
    )
    out = classifier.classify_batch(wavs)[0].squeeze(1)
    torch.testing.assert_close(out, pipeline(wavs), atol=1e-5, rtol=0)


def test_a_blocks_pooling_runs_in_pytorch_blocks_only():
    from ast_lobes import set_inference_precision

    encoder = small_encoder(2, FRAMES, pooling="blocks_cls")
    pytest.importorskip("onnxruntime")
    with pytest.raises(ValueError, match="ort-int8 .* every block"):
        set_inference_precision(encoder, "ort-int8", force=True)

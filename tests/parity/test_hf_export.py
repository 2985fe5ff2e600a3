"""Models travel to Hugging Face: an exported model and a published-format
AST, written as Hugging Face AST folders, load in transformers'
``ASTForAudioClassification`` and ``pipeline("audio-classification")`` and
give this project's scores."""

import numpy as np
import pytest
import torch
from speechbrain.dataio.encoder import CategoricalEncoder

from ast_lobes import (
    AudioClassificationHead,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    DistillationHead,
    FbankNormalization,
    KaldiFbank,
    export_classifier,
)
from pretrained_interfaces import AudioTagger
from pretrained_interfaces.hf_export import (
    HuggingFaceExportError,
    export_to_huggingface,
)
from pretrained_interfaces.hf_export import main as hf_export

LABELS = ["dog", "rain", "siren", "bird"]


def exported(tmp_path, multi_label, head=None, pooling="cls_dist",
             stem_channels=0, per_clip_mean=False):  # fmt: skip
    torch.manual_seed(3)
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=120),
        FbankNormalization((-5.5, 4.2), per_clip_mean),
        AudioSpectrogramTransformer(model_size=None, embed_dim=48, depth=2,
                                    num_heads=4, target_length=120,
                                    fstride=12, tstride=8, pooling=pooling,
                                    stem_channels=stem_channels),
        head or AudioClassificationHead(48, len(LABELS)),
    ).eval()  # fmt: skip
    labels = CategoricalEncoder()
    labels.update_from_iterable(LABELS)
    folder = tmp_path / "model"
    export_classifier(str(folder), pipeline, labels, multi_label=multi_label)
    return str(folder)


def clips():
    rng = np.random.default_rng(0)
    return [0.1 * rng.standard_normal(n).astype(np.float32)
            for n in (16000, 9000, 30000)]  # fmt: skip


@pytest.mark.parametrize("multi_label", [False, True])
def test_an_exported_model_gives_its_scores_in_transformers(
    tmp_path, multi_label
):
    from transformers import pipeline

    folder = exported(tmp_path, multi_label)
    hf_folder = tmp_path / "hf"
    assert hf_export([folder, str(hf_folder)]) == 0
    tagger = AudioTagger.from_source(folder, precision="fp32")
    classify = pipeline("audio-classification", model=str(hf_folder),
                        top_k=None, device="cpu")  # fmt: skip
    for wave in clips()[:2]:  # within one window: the whole clip
        ours = tagger.scores_batch(torch.from_numpy(wave)[None])[0].numpy()
        theirs = {
            row["label"]: row["score"]
            for row in classify({"raw": wave, "sampling_rate": 16000})
        }
        np.testing.assert_allclose(
            [theirs[label] for label in tagger.label_names], ours, atol=1e-4
        )  # fmt: skip
    from transformers import ASTFeatureExtractor, ASTForAudioClassification

    model = ASTForAudioClassification.from_pretrained(hf_folder).eval()
    extractor = ASTFeatureExtractor.from_pretrained(hf_folder)
    inputs = extractor(clips(), sampling_rate=16000, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
        expected = torch.stack([
            tagger.pipeline(torch.from_numpy(wave)[None])[0]
            for wave in clips()
        ])  # fmt: skip
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=0)
    assert model.config.problem_type == (
        "multi_label_classification" if multi_label
        else "single_label_classification"
    )  # fmt: skip


def test_a_published_format_ast_travels_back_unchanged(tmp_path):
    from checkpoint_formats import to_original_format
    from safetensors.torch import load_file
    from transformers import ASTConfig, ASTForAudioClassification

    torch.manual_seed(5)  # an original-format .pth on the AudioSet grid,
    reference = ASTForAudioClassification(ASTConfig(  # one head per 64 dims
        hidden_size=64, num_hidden_layers=2, num_attention_heads=1,
        intermediate_size=256, num_labels=527, layer_norm_eps=1e-6,
    )).eval()  # fmt: skip
    reference.save_pretrained(tmp_path / "reference")
    state = load_file(tmp_path / "reference" / "model.safetensors")
    original = tmp_path / "my_ast.pth"
    torch.save(to_original_format(state), original)
    hf_folder = tmp_path / "hf"
    export_to_huggingface(str(original), str(hf_folder))
    model = ASTForAudioClassification.from_pretrained(hf_folder).eval()
    fbank = torch.randn(2, 1024, 128)
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_values=fbank).logits,
            reference(input_values=fbank).logits, atol=1e-4, rtol=0,
        )  # fmt: skip
    assert model.config.id2label[0] == "Speech"  # AudioSet's names


@pytest.mark.parametrize("head, pooling, stem, per_clip, lacks", [
    (DistillationHead(48, 4), "cls_dist_pair", 0, False,
     "a distillation head"),
    (None, "mean", 0, False, "mean pooling"),
    (None, "cls_dist", 4, False, "convolutional stem"),
    (None, "cls_dist", 0, True, "per-clip mean normalisation"),
])  # fmt: skip
def test_what_hugging_face_lacks_is_named(tmp_path, capsys, head, pooling,
                                          stem, per_clip, lacks):  # fmt: skip
    folder = exported(tmp_path, False, head=head, pooling=pooling,
                      stem_channels=stem, per_clip_mean=per_clip)  # fmt: skip
    with pytest.raises(HuggingFaceExportError, match=lacks):
        export_to_huggingface(folder, str(tmp_path / "hf"))
    assert hf_export([folder, str(tmp_path / "hf2")]) == 2
    assert "cannot express this model" in capsys.readouterr().err

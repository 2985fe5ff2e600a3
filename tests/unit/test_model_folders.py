"""Model folders are data: no loader of this project runs code from one.

A copy of the 0.1 fixture with one added ``!apply:os.system`` line is
refused by ``ast-tag``, the tagger (``from_source`` and ``from_hparams``),
HEAR's ``load_model``, teachers and ``init_from``, with the key named,
and the command never runs; SpeechBrain's own ``from_hparams`` does run
it (which is why it is for folders one trusts). New exports are read
from their ``model.json`` and ``model.safetensors`` alone."""

import os
import shutil

import numpy as np
import pytest
import torch
from batch_norms import randomise_batch_norms
from hyperpyyaml import load_hyperpyyaml
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
from ast_lobes.weights.exported import (
    UnsafeModelFolderError,
    load_exported_model,
)
from pretrained_interfaces import AudioTagger, hear
from pretrained_interfaces.tag_cli import main as ast_tag

FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures",
    "export_v0_1",
)


@pytest.fixture
def poisoned(tmp_path):
    """The fixture's model folder with a line that touches ``marker``."""
    folder = tmp_path / "model"
    shutil.copytree(os.path.join(FIXTURE, "model"), folder)
    marker = tmp_path / "marker"
    with open(folder / "hyperparams.yaml", "a", encoding="utf-8") as handle:
        handle.write(f'\nx: !apply:os.system ["touch {marker}"]\n')
    return folder, marker


def test_hyperpyyaml_would_run_the_added_line(poisoned):
    folder, marker = poisoned  # the threat is real: building runs it
    with open(folder / "hyperparams.yaml", encoding="utf-8") as handle:
        load_hyperpyyaml(handle)
    assert marker.exists()


def test_ast_tag_refuses_the_folder_and_runs_nothing(poisoned, capsys):
    folder, marker = poisoned
    clip = os.path.join(FIXTURE, "audio", "full_2s.wav")
    code = ast_tag([clip, "--model", str(folder), "--precision", "fp32"])
    assert code == 2
    error = capsys.readouterr().err
    assert "key 'x' holds !apply:os.system" in error
    assert not marker.exists()
    # the untouched fixture tags as before
    assert ast_tag([clip, "--model", os.path.join(FIXTURE, "model"),
                    "--precision", "fp32"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    "load",
    [
        lambda folder: AudioTagger.from_source(str(folder), precision="fp32"),
        lambda folder: AudioTagger.from_hparams(source=str(folder)),
        lambda folder: hear.load_model(str(folder)),
        lambda folder: load_exported_model(str(folder)),
    ],
    ids=["from_source", "from_hparams", "hear", "teachers_and_init_from"],
)
def test_every_loader_refuses_the_folder_and_runs_nothing(poisoned, load):
    folder, marker = poisoned
    with pytest.raises(UnsafeModelFolderError, match="key 'x' holds"):
        load(folder)
    assert not marker.exists()


def test_a_tag_deep_in_the_yaml_is_refused_by_its_path(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(os.path.join(FIXTURE, "model"), folder)
    path = folder / "hyperparams.yaml"
    text = path.read_text().replace(
        "  n_labels: 5\n", "  n_labels: !apply:builtins.int [5]\n"
    )
    path.write_text(text)
    with pytest.raises(UnsafeModelFolderError,
                       match="'classifier.n_labels' holds !apply"):  # fmt: skip
        load_exported_model(str(folder))


def test_a_new_export_loads_from_its_description_alone(tmp_path):
    torch.manual_seed(0)
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=100), FbankNormalization((-4.0, 3.0)),
        AudioSpectrogramTransformer(model_size=None, embed_dim=32, depth=1,
                                    num_heads=2, target_length=100,
                                    pooling="cls_dist_pair"),
        DistillationHead(32, 3, multi_label=True),
    ).eval()  # fmt: skip
    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b", "c"])
    folder = tmp_path / "model"
    export_classifier(str(folder), pipeline, labels, multi_label=True,
                      thresholds=[0.2, 0.5, 0.7])  # fmt: skip
    assert (folder / "model.json").is_file()
    assert (folder / "model.safetensors").is_file()
    for name in ("hyperparams.yaml", "embedding_model.ckpt",
                 "classifier.ckpt", "label_encoder.ckpt"):  # fmt: skip
        os.remove(folder / name)  # what SpeechBrain needs, not the loader
    model = load_exported_model(str(folder))
    assert model.label_names == ["a", "b", "c"] and model.multi_label
    assert model.output_kind == "pair"
    np.testing.assert_allclose(model.thresholds, [0.2, 0.5, 0.7])
    wavs = torch.randn(2, 16000)
    with torch.no_grad():
        torch.testing.assert_close(model.pipeline(wavs), pipeline(wavs))


@pytest.mark.parametrize("stem_kind, stem_norm, image_stem_channels, stride", [
    ("image", "none", 0, 1), ("time", "none", 0, 1), ("time", "batch", 0, 1),
    ("time_image", "batch", 4, 1), ("time_image", "batch", 4, 4),
])  # fmt: skip
@pytest.mark.parametrize("keep", ["description", "yaml"])
def test_a_stem_and_per_clip_means_travel_in_both_formats(
    tmp_path, keep, stem_kind, stem_norm, image_stem_channels, stride
):
    torch.manual_seed(1)
    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=60),
        FbankNormalization((-4.0, 3.0), per_clip_mean=True),
        AudioSpectrogramTransformer(model_size=None, embed_dim=32, depth=1,
                                    num_heads=2, target_length=60,
                                    patch_size=(128, 2), fstride=128,
                                    tstride=2, stem_channels=4,
                                    stem_kind=stem_kind,
                                    image_stem_channels=image_stem_channels,
                                    image_stem_bands=image_stem_channels * 2,
                                    image_stem_stride=stride,
                                    stem_norm=stem_norm, pooling="mean"),
        AudioClassificationHead(32, 2),
    ).eval()  # fmt: skip
    randomise_batch_norms(pipeline)
    labels = CategoricalEncoder()
    labels.update_from_iterable(["a", "b"])
    folder = tmp_path / "model"
    export_classifier(str(folder), pipeline, labels)
    if keep == "yaml":  # an export of before model.json
        os.remove(folder / "model.json")
        os.remove(folder / "model.safetensors")
    model = load_exported_model(str(folder))
    assert model.pipeline.normalize.per_clip_mean
    config = model.pipeline.bare_encoder.config
    assert (config.stem_channels, config.stem_kind, config.stem_norm,
            config.image_stem_channels, config.image_stem_bands,
            config.image_stem_stride) == (
        4, stem_kind, stem_norm, image_stem_channels,
        image_stem_channels * 2, stride,
    )  # fmt: skip
    wavs = torch.randn(2, 9000)
    with torch.no_grad():
        torch.testing.assert_close(model.pipeline(wavs), pipeline(wavs))

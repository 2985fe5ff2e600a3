"""Every YAML of the recipes and examples loads, and the Brain refuses a
misspelt optional key instead of silently switching a stage off."""

import glob
import os

import pytest
from hyperpyyaml import load_hyperpyyaml

from ast_lobes import (
    AudioClassificationBrain,
    AudioSpectrogramTransformer,
    UnknownHparamError,
)
from ast_lobes.training.stages import check_optional_hparams

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
YAML_FILES = sorted(
    glob.glob(os.path.join(ROOT, "recipes", "*", "hparams", "*.yaml"))
    + glob.glob(os.path.join(ROOT, "examples", "*", "hparams.yaml"))
)


def offline_overrides(text, folder):
    """Placeholders filled; downloads of starting weights switched off."""
    overrides = {}
    if "\ndata_folder: !PLACEHOLDER" in text:
        overrides["data_folder"] = str(folder)
    for key in ("imagenet_weights", "pretrained_ast"):
        if f"\n{key}:" in text:
            overrides[key] = None
    return overrides


def test_the_yaml_files_are_found():
    assert len(YAML_FILES) == 11


@pytest.mark.parametrize(
    "path", YAML_FILES, ids=[os.path.relpath(p, ROOT) for p in YAML_FILES]
)
def test_every_yaml_loads(path, tmp_path):
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    hparams = load_hyperpyyaml(text, offline_overrides(text, tmp_path))
    encoder = hparams.get("encoder", hparams.get("embedding_model"))
    if path.endswith("cnn_teacher.yaml"):  # the convnet teacher preset
        from speechbrain.lobes.models.ECAPA_TDNN import ECAPA_TDNN

        assert isinstance(encoder, ECAPA_TDNN)
    else:
        assert isinstance(encoder, AudioSpectrogramTransformer)
    check_optional_hparams(hparams, path)


def test_misspelt_stage_key_names_itself(tmp_path):
    path = os.path.join(ROOT, "recipes", "ESC50", "hparams", "demo.yaml")
    with open(path, encoding="utf-8") as handle:
        text = handle.read().replace("\nspec_augment:", "\nspec_augmnet:")
    hparams = load_hyperpyyaml(text, {"data_folder": str(tmp_path)})
    with pytest.raises(
        UnknownHparamError, match="'spec_augmnet'.*spec_augment"
    ):
        AudioClassificationBrain(
            modules=hparams["modules"],
            hparams=hparams,
            run_opts={"device": "cpu"},
        )


def test_stage_under_an_unread_name_is_refused():
    from ast_lobes import SpecAugment

    with pytest.raises(UnknownHparamError, match="'augment'.*SpecAugment"):
        check_optional_hparams({"augment": SpecAugment(8, 8)}, "x.yaml")


def test_a_teacher_gives_the_student_two_heads_and_no_mixup():
    from ast_lobes.training.recipe import head_overrides

    path = os.path.join(ROOT, "recipes", "SpeechCommands", "hparams",
                        "ast.yaml")  # fmt: skip
    given = head_overrides(path, "{data_folder: x, lr: 0.1}")
    assert given == {"data_folder": "x", "lr": 0.1}
    overrides = head_overrides(path, {"data_folder": "x", "teacher": "t.npz"})
    assert overrides == {"data_folder": "x", "teacher": "t.npz",
                         "pooling": "cls_dist_pair", "two_heads": True,
                         "mixup": None}  # fmt: skip
    mine = head_overrides(
        path, {"data_folder": "x", "teacher": "t.npz",
               "pooling": "mean_dist_pair"},
    )  # fmt: skip
    assert mine["pooling"] == "mean_dist_pair"

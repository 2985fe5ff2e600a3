"""Every compatibility alias still works and warns with its new name and
the release it goes away in (``ast_lobes.compat.aliases``)."""

import importlib
import io
import os
import sys

import pytest
import torch

from ast_lobes.compat import aliases
from ast_lobes.compat.aliases import REMOVED_IN

FIXTURE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "fixtures", "export_v0_1", "model",
)  # fmt: skip


def every_alias():
    yield from aliases.RENAMED_ARGUMENTS.values()
    yield from (alias for alias, _ in aliases.RENAMED_OPTIONS.values())
    yield from aliases.DEPRECATED_CALLS.values()
    yield from aliases.MOVED_NAMES.values()
    yield from aliases.MOVED_MODULES.values()
    yield aliases.OLD_EXPORT_FOLDERS


def test_every_alias_names_its_removal_release():
    for alias in every_alias():
        assert alias.removed_in == REMOVED_IN == "0.5.0", alias
        assert f"goes away in {alias.removed_in}" in alias.message()


def small_encoder(**fields):
    from ast_lobes import AudioSpectrogramTransformer

    return AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2, **fields
    )


@pytest.mark.filterwarnings("ignore:AudioTagger.from_modules")
def test_renamed_arguments_and_attributes_warn():
    from ast_lobes import AudioClassificationHead
    from pretrained_interfaces import AudioTagger

    with pytest.warns(DeprecationWarning, match="input_tdim is now "
                      "target_length .*goes away in 0.5.0"):  # fmt: skip
        encoder = small_encoder(input_tdim=96)
    with pytest.warns(DeprecationWarning, match="goes away in 0.5.0"):
        assert encoder.input_tdim == 96
    with pytest.warns(DeprecationWarning, match="max_frames is now "
                      "target_length .*goes away in 0.5.0"):  # fmt: skip
        tagger = AudioTagger.from_modules(
            encoder, AudioClassificationHead(32, 2), ["a", "b"],
            max_frames=96, precision="fp32",
        )  # fmt: skip
    with pytest.warns(DeprecationWarning, match="max_frames is now"):
        assert tagger.max_frames == 96


def test_deprecated_constructors_give_what_the_main_path_gives():
    from ast_lobes import (
        AudioClassificationHead,
        AudioClassificationPipeline,
        FbankNormalization,
        KaldiFbank,
    )
    from pretrained_interfaces import AudioTagger

    torch.manual_seed(0)
    encoder, head = (
        small_encoder(target_length=100),
        AudioClassificationHead(32, 2),
    )
    with pytest.warns(DeprecationWarning, match="from_modules is now "
                      "AudioTagger.from_pipeline.*0.5.0"):  # fmt: skip
        old = AudioTagger.from_modules(
            encoder, head, ["a", "b"], target_length=100, precision="fp32"
        )
    new = AudioTagger.from_pipeline(
        AudioClassificationPipeline(
            KaldiFbank(target_length=100), FbankNormalization("audioset"),
            encoder, head,
        ), ["a", "b"], precision="fp32",
    )  # fmt: skip
    wav = torch.randn(1, 16000)
    assert torch.equal(old.scores_batch(wav), new.scores_batch(wav))


@pytest.mark.parametrize(
    "name", ["load_exported_model", "load_ast_checkpoint",
             "read_ast_checkpoint"],
)  # fmt: skip
def test_package_level_loaders_warn_and_are_the_readers(name):
    import ast_lobes

    with pytest.warns(DeprecationWarning, match=r"load_model_source|"
                      r"weights\.published.*0\.5\.0"):  # fmt: skip
        loader = getattr(ast_lobes, name)
    module = importlib.import_module(aliases.DEPRECATED_PACKAGE_NAMES[name])
    assert loader is getattr(module, name)
    assert name not in ast_lobes.__all__


def test_moved_modules_and_names_warn():
    sys.modules.pop("ast_lobes.features", None)
    with pytest.warns(DeprecationWarning, match="ast_lobes.features is now "
                      "ast_lobes.audio.fbank .*0.5.0"):  # fmt: skip
        old = importlib.import_module("ast_lobes.features")
    assert old is importlib.import_module("ast_lobes.audio.fbank")
    with pytest.warns(DeprecationWarning, match="0.5.0"):
        from ast_lobes.training.data import classification_dataset  # noqa
    import ast_lobes.training.data as data

    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        data.nothing  # noqa: B018


def test_renamed_recipe_options_say_their_new_names():
    printed = io.StringIO()
    overrides = aliases.renamed_options(
        {"max_frames": 512, "patch_stride": 12, "seed": 1,
         "pretrained_ast": "a.pth"}, printed,
    )  # fmt: skip
    assert overrides == {"max_target_length": 512, "fstride": 12,
                         "tstride": 12, "seed": 1,
                         "pretrained": "a.pth"}  # fmt: skip
    assert "--patch_stride is now --fstride and --tstride" in (
        printed.getvalue()
    )
    assert "--pretrained_ast is now --pretrained" in printed.getvalue()
    assert printed.getvalue().count("goes away in 0.5.0") == 3


def test_an_old_model_folder_is_read_with_a_warning():
    from ast_lobes import load_model_source

    with pytest.warns(DeprecationWarning, match="hyperparams.yaml and .ckpt "
                      "files is now model.json.*0.5.0"):  # fmt: skip
        model = load_model_source(FIXTURE)
    assert model.label_names[0] == "siren"


def small_tagger():
    from ast_lobes import (
        AudioClassificationHead,
        AudioClassificationPipeline,
        FbankNormalization,
        KaldiFbank,
    )
    from pretrained_interfaces import AudioTagger

    pipeline = AudioClassificationPipeline(
        KaldiFbank(target_length=96), FbankNormalization("audioset"),
        small_encoder(target_length=96), AudioClassificationHead(32, 2),
    )  # fmt: skip
    return AudioTagger.from_pipeline(pipeline, ["a", "b"], precision="fp32")


def moved_module():
    sys.modules.pop("ast_lobes.features", None)
    importlib.import_module("ast_lobes.features")


def import_statement():
    sys.modules.pop("ast_lobes.audio_io", None)
    import ast_lobes.audio_io  # noqa: F401


def moved_name():
    from ast_lobes.training.data import split_labels  # noqa: F401


def tagger_constructor():
    from ast_lobes import AudioClassificationHead
    from pretrained_interfaces import AudioTagger

    AudioTagger.from_modules(
        small_encoder(target_length=96), AudioClassificationHead(32, 2),
        ["a", "b"], max_frames=96, precision="fp32",
    )  # fmt: skip


def config():
    from ast_lobes.model.config import AudioSpectrogramTransformerConfig

    return AudioSpectrogramTransformerConfig


def old_folder():
    from ast_lobes.weights.sources import load_model_source

    load_model_source(FIXTURE)


def package_loader():
    import ast_lobes

    return ast_lobes.load_exported_model


OLD_USES = {
    "encoder argument": lambda: small_encoder(input_tdim=96),
    "config from_size": lambda: config().from_size(
        None, embed_dim=32, depth=1, num_heads=2, input_tdim=96
    ),
    "config replace": lambda: (
        config().from_size("tiny224").replace(input_tdim=96)
    ),
    "encoder attribute": lambda: small_encoder().input_tdim,
    "tagger attribute": lambda: small_tagger().max_frames,
    "tagger constructor": tagger_constructor,
    "package loader": package_loader,
    "moved module": moved_module,
    "import statement": import_statement,
    "moved name": moved_name,
    "old model folder": old_folder,
}


@pytest.mark.parametrize("use", OLD_USES)
def test_a_deprecation_names_the_line_that_used_the_old_name(use):
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        OLD_USES[use]()
    deprecations = [w for w in caught if w.category is DeprecationWarning]
    assert deprecations
    for warning in deprecations:
        assert warning.filename == __file__, (
            str(warning.message),
            warning.filename,
            warning.lineno,
        )


MAIN_SCRIPT = """
import ast_lobes
from ast_lobes import AudioSpectrogramTransformer
AudioSpectrogramTransformer(model_size=None, embed_dim=32, depth=1,
                            num_heads=2, input_tdim=96)
import ast_lobes.features
ast_lobes.load_exported_model
"""


def test_python_s_default_filter_shows_deprecations_in_main():
    import subprocess

    done = subprocess.run(
        [sys.executable, "-c", MAIN_SCRIPT], capture_output=True, text=True,
        env={key: value for key, value in os.environ.items()
             if key != "PYTHONWARNINGS"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stderr.splitlines()
             if "DeprecationWarning" in line]  # fmt: skip
    assert len(shown) == 3, done.stderr
    assert all(line.startswith("<string>:") for line in shown), shown

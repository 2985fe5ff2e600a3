"""The AST lobe as the embedding model of a SpeechBrain speaker-ID set-up."""

import importlib.util
import os
import sys

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
EXAMPLE = os.path.join(ROOT, "examples", "speaker_id")
sys.path.insert(0, EXAMPLE)

from make_speaker_demo import make_speaker_demo  # noqa: E402

from ast_lobes import AudioSpectrogramTransformer  # noqa: E402


def load_example_train():
    """The example's ``train.py``, loaded by path (recipes have one too)."""
    path = os.path.join(EXAMPLE, "train.py")
    spec = importlib.util.spec_from_file_location("speaker_id_train", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ast_swapped_into_speaker_id_yaml_learns(tmp_path):
    make_speaker_demo(str(tmp_path / "data"))
    brain = load_example_train().main(
        [os.path.join(EXAMPLE, "hparams.yaml"),
         "--data_folder", str(tmp_path / "data"),
         "--output_folder", str(tmp_path / "exp")]
    )  # fmt: skip
    assert isinstance(
        brain.hparams.embedding_model, AudioSpectrogramTransformer
    )
    assert brain.last_stats["error"] < 0.4  # chance: 2/3 with three speakers
    assert "epoch: 8" in (tmp_path / "exp" / "train_log.txt").read_text()

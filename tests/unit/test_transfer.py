"""A head on a pretrained encoder's stored outputs: the outputs stored
are what the encoder computes live, the head on them scores as the
exported model does, and a store is computed again whenever the source,
a clip or the front end changes (reused when nothing did)."""

import os

import numpy as np
import pytest
import soundfile
import torch
from tagger_models import export_small_source, small_encoder

from ast_lobes import (
    AudioClassificationHead,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    BlockWeightedHead,
    FbankNormalization,
    KaldiFbank,
    source_encoder,
)
from ast_lobes.training.data.datasets import (
    build_label_encoder,
    classification_dataset,
)
from ast_lobes.training.run_fingerprint import (
    identity_differences,
    run_identity,
)

FRAMES = 98  # a 1-s clip's frames


@pytest.fixture
def source(tmp_path):
    """A real exported model folder (3 blocks, cls_dist) and its pipeline."""
    folder = tmp_path / "source"
    return str(folder), export_small_source(folder, 3, FRAMES)


def write_clips(folder, count=6, seed=0):
    """``count`` 1-s noise-and-tone clips and a manifest of them."""
    rng = np.random.default_rng(seed)
    os.makedirs(folder, exist_ok=True)
    rows = []
    for index in range(count):
        path = os.path.join(folder, f"clip{index}.wav")
        tone = np.sin(2 * np.pi * (200 + 300 * index) *
                      np.arange(16000) / 16000)  # fmt: skip
        wave = 0.2 * tone + 0.05 * rng.normal(size=16000)
        soundfile.write(path, wave.astype(np.float32), 16000)
        rows.append(f"clip{index},1.0,{path},{'ab'[index % 2]}")
    manifest = os.path.join(folder, "train.csv")
    with open(manifest, "w", encoding="utf-8") as handle:
        handle.write("ID,duration,wav,label\n" + "\n".join(rows) + "\n")
    return manifest


def read_wavs(manifest):
    import csv

    with open(manifest, newline="") as handle:
        paths = [row["wav"] for row in csv.DictReader(handle)]
    return torch.stack([torch.from_numpy(soundfile.read(p)[0]).float()
                        for p in paths])  # fmt: skip


def transfer_hparams(folder, block_weights=True, norm=(-5.0, 3.5)):
    """What ``stored_features`` reads of a transfer YAML's hparams."""
    return {
        "encoder": source_encoder(folder, block_weights=block_weights),
        "compute_features": KaldiFbank(target_length=FRAMES),
        "normalize": FbankNormalization(norm),
        "feature_batch_size": 4,
        "num_workers": 0,
    }


def stored_rows(hparams, manifest, tmp_path, first, precision="fp32"):
    from ast_lobes.training.transfer import stored_features

    hparams = {**hparams, "features_folder": str(tmp_path / "features")}
    labels = build_label_encoder(str(tmp_path / "labels.txt"), manifest)
    dataset = classification_dataset(manifest, labels)
    return stored_features(hparams, {"train": dataset}, {"train": manifest},
                           precision, first)["train"]  # fmt: skip


@pytest.mark.parametrize("block_weights", [True, False])
@pytest.mark.parametrize("tune_blocks", [0, 1, 2])
def test_the_head_on_stored_outputs_scores_as_live(
    source, tmp_path, block_weights, tune_blocks
):
    from ast_lobes.training.transfer import TransferModel

    folder, _ = source
    manifest = write_clips(str(tmp_path / "clips"))
    hparams = transfer_hparams(folder, block_weights)
    encoder = hparams["encoder"]
    torch.manual_seed(3)
    head = (BlockWeightedHead(32, 2, 3) if block_weights
            else AudioClassificationHead(32, 2))  # fmt: skip
    if block_weights:  # weights other than the first mean of the blocks
        torch.nn.init.normal_(head.block_scores)
    first = 3 - tune_blocks
    stored = stored_rows(hparams, manifest, tmp_path, first)
    model = TransferModel(encoder, head, tune_blocks).eval()
    pooled = torch.from_numpy(np.array(stored["pooled"][:, :first]))
    tokens = None
    if tune_blocks:
        tokens = torch.from_numpy(np.array(stored["tokens"]))
    live = AudioClassificationPipeline(
        hparams["compute_features"], hparams["normalize"], encoder, head
    ).eval()  # fmt: skip
    with torch.no_grad():
        expected = live(read_wavs(manifest))
        from_store = model(pooled, tokens)
    torch.testing.assert_close(from_store, expected, atol=1e-5, rtol=0)


def test_the_source_front_end_and_embedding_are_kept(source):
    from ast_lobes.weights.sources import load_encoder_source

    folder, pipeline = source
    loaded = load_encoder_source(folder)
    assert loaded.kind == "exported"
    assert loaded.front_end()["norm_mean"] == -5.0
    assert loaded.front_end()["norm_std"] == 3.5
    encoder = source_encoder(folder, block_weights=False)
    assert encoder.pooling == "cls_dist"  # the source's own
    fbank = torch.randn(2, FRAMES, 128)
    with torch.no_grad():
        torch.testing.assert_close(encoder(fbank), pipeline.encoder(fbank))


class CountedRows:
    """Counts the clips the encoder runs on (wraps ``encoder_rows``)."""

    def __init__(self, monkeypatch):
        from ast_lobes.training import transfer

        self.clips = 0
        original = transfer.encoder_rows

        def counted(encoder, feats, first=None):
            self.clips += len(feats)
            return original(encoder, feats, first)

        monkeypatch.setattr(transfer, "encoder_rows", counted)


def test_stored_outputs_reused_and_computed_again_when_stale(
    source, tmp_path, monkeypatch
):
    folder, _ = source
    manifest = write_clips(str(tmp_path / "clips"))
    counted = CountedRows(monkeypatch)
    hparams = transfer_hparams(folder)
    first = stored_rows(hparams, manifest, tmp_path, 3)["pooled"].copy()
    assert counted.clips == 6
    again = stored_rows(hparams, manifest, tmp_path, 3)["pooled"]
    assert counted.clips == 6  # reused: nothing ran
    np.testing.assert_array_equal(again, first)

    # one clip's file changes at the same path: that clip alone again
    path = os.path.join(str(tmp_path / "clips"), "clip4.wav")
    noise = np.random.default_rng(9).normal(size=16000) * 0.3
    soundfile.write(path, noise.astype(np.float32), 16000)
    changed = stored_rows(hparams, manifest, tmp_path, 3)["pooled"]
    assert counted.clips == 7
    np.testing.assert_array_equal(np.delete(changed, 4, 0),
                                  np.delete(first, 4, 0))  # fmt: skip
    live = AudioClassificationPipeline(
        hparams["compute_features"], hparams["normalize"],
        hparams["encoder"], torch.nn.Identity(),
    ).eval()  # fmt: skip
    with torch.no_grad():
        expected = live(read_wavs(manifest)[4:5])[0]
    np.testing.assert_allclose(changed[4], expected.numpy(), atol=1e-5)

    # another source (one weight moved), then another front end: all again
    with torch.no_grad():
        hparams["encoder"].blocks[0].mlp.fc1.bias[0] += 1e-3
    stored_rows(hparams, manifest, tmp_path, 3)
    assert counted.clips == 13
    moved = transfer_hparams(folder, norm=(-5.0, 3.0))
    stored_rows(moved, manifest, tmp_path, 3)
    assert counted.clips == 19
    stored_rows(moved, manifest, tmp_path, 2)  # tokens for a tuned block
    assert counted.clips == 25


def test_a_run_identity_covers_the_audio_and_the_source(tmp_path):
    manifest = tmp_path / "train.csv"
    manifest.write_text("ID,wav,label\na,a.wav,x\n")
    hparams = {
        "encoder": AudioSpectrogramTransformer(
            model_size=None, embed_dim=32, depth=1, num_heads=2,
            target_length=100,
        ),
        "compute_features": KaldiFbank(target_length=100),
        "normalize": FbankNormalization((-4.0, 3.0)),
        "pretrained": "source",
    }  # fmt: skip

    def identity(audio, weights):
        contents = {"audio": {"train": audio}, "source_weights": weights}
        return run_identity({"train": str(manifest)}, hparams, ["x"],
                            contents=contents)  # fmt: skip

    found = identity_differences(identity("1", "w"), identity("2", "v"))
    assert found == ["the train split's audio files", "source_weights"]
    assert identity_differences(identity("1", "w"), identity("1", "w")) == []
    old = identity("1", "w")  # stored by an older run as pretrained_ast
    weights = old["settings"]["starting_weights"]
    weights["pretrained_ast"] = weights.pop("pretrained")
    assert identity_differences(old, identity("1", "w")) == []


def test_a_spent_time_budget_keeps_what_was_stored(tmp_path):
    from ast_lobes.training.data.feature_store import (
        FeatureStore,
        FeatureTimeError,
        fill_store,
    )

    def batches(todo):
        for start in range(0, len(todo), 2):
            rows = todo[start : start + 2]
            yield rows, {"x": np.full((len(rows), 1), float(rows[0]))}

    ids, digests = list("abcde"), list("12345")
    store = FeatureStore(str(tmp_path), "train", {"x": (1,)})
    todo = store.open(ids, digests, {"source": "s"})
    with pytest.raises(FeatureTimeError, match=r"2 of 5 clips.*run again"):
        fill_store(store, batches(todo), len(todo), deadline=0.0)
    again = FeatureStore(str(tmp_path), "train", {"x": (1,)})
    todo = again.open(ids, digests, {"source": "s"})
    assert todo == [2, 3, 4]  # the two stored rows are kept
    fill_store(again, batches(todo), len(todo))
    assert again.finish()["x"].ravel().tolist() == [0, 0, 2, 2, 4]


def test_a_hugging_face_folder_and_an_ssast_folder_are_sources(
    hf_speechcommands_dir, tmp_path
):
    from ast_lobes import load_model_source
    from ast_lobes.weights.self_supervised import save_pretrained_encoder
    from ast_lobes.weights.sources import load_encoder_source

    folder, _ = hf_speechcommands_dir
    loaded = load_encoder_source(str(folder))
    published = load_model_source(str(folder), unnamed_labels=True)
    assert loaded.kind == "published"
    assert loaded.front_end()["norm_mean"] == published.pipeline.normalize.mean
    encoder = source_encoder(str(folder), block_weights=False)
    fbank = torch.randn(2, 128, 128)
    with torch.no_grad():
        expected = published.pipeline.encoder(fbank)
        torch.testing.assert_close(encoder(fbank), expected)

    torch.manual_seed(0)
    pretrained = small_encoder(2, FRAMES)
    ssast = save_pretrained_encoder(
        str(tmp_path / "ssast"), pretrained,
        {"sample_rate": 16000, "n_mels": 128, "normalization": [-3.0, 2.0]},
    )  # fmt: skip
    loaded = load_encoder_source(ssast)
    assert (loaded.kind, loaded.front_end()["norm_std"]) == ("ssast", 2.0)
    encoder = source_encoder(ssast, block_weights=True)  # untrained cls
    assert encoder.pooling == "blocks_mean"
    with torch.no_grad():
        rows = encoder(torch.randn(1, FRAMES, 128))
    assert rows.shape == (1, 2, 32)

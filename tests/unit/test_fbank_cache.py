"""Each clip's fbank computed once and kept (``fbank_cache_mb``): the
kept rows are torchaudio's Kaldi fbank of each clip alone, a training
run's batches with the cache are those without it, value for value, and
mixed clips are computed anew."""

import logging

import pytest
import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch
from torch import nn
from torchaudio.compliance import kaldi

from ast_lobes import (
    AudioClassificationBrain,
    AudioClassificationHead,
    AudioClassificationPipeline,
    AudioSpectrogramTransformer,
    FbankNormalization,
    KaldiFbank,
    Mixup,
    SpecAugment,
)
from ast_lobes.model.encoder import BandMean
from ast_lobes.training.data.fbank_cache import (
    FbankCache,
    FbankCacheSettingError,
)

FRAMES = 64
SIZES = [8000, 6500, 7000, 4000]


def torchaudio_fbank(wave):
    """The reference AST front end of one clip, padded to FRAMES."""
    wave = wave - wave.mean()
    feats = kaldi.fbank(
        wave.unsqueeze(0), htk_compat=True, sample_frequency=16000,
        use_energy=False, window_type="hanning", num_mel_bins=128,
        dither=0.0, frame_shift=10,
    )  # fmt: skip
    return nn.functional.pad(feats, (0, 0, 0, FRAMES - len(feats)))


def waves(seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(n, generator=generator) * 0.1 + 0.3 for n in SIZES]


def batch_of(clips, ids=None):
    ids = ids or [f"clip{i}" for i in range(len(clips))]
    return PaddedBatch([
        {"id": clip_id, "sig": wave, "targets": torch.eye(4)[n]}
        for n, (clip_id, wave) in enumerate(zip(ids, clips, strict=True))
    ])  # fmt: skip


def tiny_pipeline():
    torch.manual_seed(0)
    encoder = AudioSpectrogramTransformer(
        model_size=None, embed_dim=32, depth=1, num_heads=2,
        target_length=FRAMES, patch_size=[128, 2], fstride=128, tstride=2,
        stem_channels=16, stem_kind="time_image", image_stem_channels=4,
        image_stem_bands=8, stem_norm="batch",
    )  # fmt: skip
    return AudioClassificationPipeline(
        KaldiFbank(target_length=FRAMES),
        FbankNormalization("speechcommands"), encoder,
        AudioClassificationHead(32, 4),
    )  # fmt: skip


def tiny_brain(cache_mb, mixup=None):
    pipeline = tiny_pipeline()
    hparams = {
        "loss": "ce", "mixup": mixup, "spec_augment": SpecAugment(8, 10),
        "fbank_cache_mb": cache_mb,
    }  # fmt: skip
    return AudioClassificationBrain(modules=dict(pipeline.named_children()),
                                    hparams=hparams)  # fmt: skip


def test_kept_rows_are_torchaudios_fbank_of_each_clip_alone():
    pipeline, cache = tiny_pipeline(), FbankCache(limit_mb=16)
    clips = waves()
    wavs, lens = batch_of(clips).sig
    keys = [("TRAIN", i) for i in range(4)]
    first, first_lens = cache.raw_features(pipeline, keys, wavs, lens)
    again, again_lens = cache.raw_features(pipeline, keys, wavs, lens)
    assert (cache.computed, cache.reused) == (4, 4)
    reference = torch.stack([torchaudio_fbank(wave) for wave in clips])
    assert torch.allclose(first, reference, atol=1e-5)
    uncached, uncached_lens = pipeline.raw_features(wavs, lens)
    for feats, frame_lens in ((first, first_lens), (again, again_lens)):
        assert torch.equal(feats, uncached)
        assert torch.equal(frame_lens, uncached_lens)
    # a batch of other clips, in another order, with one kept clip
    order = [2, 0]
    wavs, lens = batch_of([clips[i] for i in order]).sig
    mixed, _ = cache.raw_features(pipeline, [keys[i] for i in order], wavs,
                                  lens)  # fmt: skip
    assert torch.allclose(mixed, reference[order], atol=1e-5)
    assert cache.reused == 6


def test_other_audio_under_a_kept_key_is_computed_again():
    pipeline, cache = tiny_pipeline(), FbankCache(limit_mb=16)
    keys = [("VALID", "a"), ("VALID", "b")]
    old, new = waves(0)[:2], waves(1)[:2]
    cache.raw_features(pipeline, keys, *batch_of(old).sig)
    feats, _ = cache.raw_features(pipeline, keys, *batch_of(new).sig)
    assert cache.reused == 0
    reference = torch.stack([torchaudio_fbank(wave) for wave in new])
    assert torch.allclose(feats, reference, atol=1e-5)


def test_fresh_clips_are_computed_and_not_kept_and_the_limit_holds(caplog):
    pipeline = tiny_pipeline()
    row_mb = FRAMES * 128 * 4 / 2**20
    cache = FbankCache(limit_mb=2.5 * row_mb)  # two rows
    clips = waves()
    wavs, lens = batch_of(clips).sig
    keys = [("TRAIN", i) for i in range(4)]
    fresh = torch.tensor([True, False, False, False])
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            feats, _ = cache.raw_features(pipeline, keys, wavs, lens, fresh)
    assert sorted(key[1] for key in cache.rows) == [1, 2]
    assert cache.bytes == 2 * FRAMES * 128 * 4
    assert (cache.computed, cache.reused) == (8, 4)
    assert caplog.text.count("fbank cache full") == 1
    reference = torch.stack([torchaudio_fbank(wave) for wave in clips])
    assert torch.allclose(feats, reference, atol=1e-5)


def test_a_run_with_the_cache_sees_the_batches_it_sees_without_it():
    """Three epochs of one mixed, masked batch, then validation: the
    logits and targets with the cache equal those without it, and the
    unmixed clips' fbank was computed once."""
    clips = waves(2)
    batch = batch_of(clips)
    brains = [tiny_brain(0, Mixup(0.5)), tiny_brain(64, Mixup(0.5))]
    assert brains[0].fbank_cache is None
    outputs = []
    for brain in brains:
        brain.modules.train()
        torch.manual_seed(5)
        seen = []
        for _ in range(3):
            with torch.no_grad():
                seen.append(brain.compute_forward(batch, sb.Stage.TRAIN))
        brain.modules.eval()
        with torch.no_grad():
            seen.append(brain.compute_forward(batch, sb.Stage.VALID))
            seen.append(brain.compute_forward(batch, sb.Stage.VALID))
        outputs.append(seen)
    for (logits, targets), (cached, cached_targets) in zip(
        *outputs, strict=True
    ):
        assert torch.equal(logits, cached)
        assert torch.equal(targets, cached_targets)
    cache = brains[1].fbank_cache
    mixed_rows = sum(
        int((targets.max(dim=1).values < 1).sum())
        for _, targets in outputs[1][:3]
    )  # fmt: skip
    assert 0 < mixed_rows < 12
    unmixed_train = {key for key in cache.rows if key[0] == "TRAIN"}
    assert cache.computed == mixed_rows + len(unmixed_train) + 4
    assert cache.reused == 12 - mixed_rows - len(unmixed_train) + 4


def test_mixup_returns_unmixed_clips_as_they_were():
    torch.manual_seed(1)
    wavs = torch.randn(8, 1600) + 0.5
    targets = torch.eye(8)
    out, _, soft, mixed = Mixup(0.5).mix(wavs, torch.ones(8), targets)
    assert 0 < int(mixed.sum()) < 8
    assert torch.equal(out[~mixed], wavs[~mixed])
    assert torch.equal(soft[~mixed], targets[~mixed])
    assert torch.equal(mixed, soft.max(dim=1).values < 1)


def test_band_mean_is_average_pooling_over_mel_bands():
    torch.manual_seed(0)
    for rows, width in ((128, 16), (100, 16), (128, 1 + 1)):
        image = torch.randn(3, 4, rows, 37, requires_grad=True)
        ours, reference = (
            BandMean(width)(image),
            nn.AvgPool2d((width, 1))(image),
        )
        assert ours.shape == reference.shape
        assert torch.allclose(ours, reference, atol=1e-6)
        (grad,) = torch.autograd.grad(ours.square().sum(), image)
        (expected,) = torch.autograd.grad(reference.square().sum(), image)
        assert torch.allclose(grad, expected, atol=1e-6)


@pytest.mark.parametrize("limit", [-1, float("nan"), float("inf"), "1024",
                                   True, 1e30, 2.0**50])  # fmt: skip
def test_a_limit_that_is_not_mib_is_named(limit):
    with pytest.raises(FbankCacheSettingError, match="fbank_cache_mb is"):
        FbankCache(limit)


def test_the_same_samples_in_another_order_are_computed_again():
    """A 16-bit clip and the same clip reversed (a file replaced during a
    run) have the same samples and the same exact sum: the reversed
    clip's fbank is torchaudio's of the reversed clip, not the kept row."""
    pipeline, cache = tiny_pipeline(), FbankCache(limit_mb=16)
    generator = torch.Generator().manual_seed(3)
    wave = torch.randint(-8000, 8000, (8000,), generator=generator) / 32768
    keys = [("TRAIN", "a")]
    cache.raw_features(pipeline, keys, wave[None])
    reversed_wave = wave.flip(0)
    assert float(reversed_wave.double().sum()) == float(wave.double().sum())
    feats, _ = cache.raw_features(pipeline, keys, reversed_wave[None])
    assert (cache.computed, cache.reused) == (2, 0)
    reference = torchaudio_fbank(reversed_wave)
    assert torch.allclose(feats[0], reference, atol=1e-4)
    assert not torch.allclose(feats[0], torchaudio_fbank(wave), atol=1e-2)


def test_a_limit_within_the_machines_memory_is_taken():
    """The bound is the memory /proc/meminfo gives (MemTotal, KiB)."""
    with open("/proc/meminfo") as handle:
        total_kib = int(handle.readline().split()[1])
    assert FbankCache(total_kib / 1024 * 0.99).limit_bytes > 0
    with pytest.raises(FbankCacheSettingError, match="memory"):
        FbankCache(total_kib / 1024 * 1.01)

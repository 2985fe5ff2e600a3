"""Mixup and the Speech Commands noise, checked against hand computations."""

import numpy as np
import pytest
import speechbrain as sb
import torch
from speechbrain.dataio.batch import PaddedBatch

from ast_lobes import (
    AudioClassificationBrain,
    AudioClassificationHead,
    AudioSpectrogramTransformer,
    FbankNoise,
    FbankNormalization,
    KaldiFbank,
    Mixup,
)


def centred(wave):
    return wave - wave.mean()


def test_mixup_mixes_audio_and_targets_with_one_lambda():
    torch.manual_seed(3)
    sizes = [1600, 1200, 1600, 800, 1500]
    wavs = torch.zeros(5, 1600)
    clips = [np.random.default_rng(i).normal(size=n) + i for i, n in
             enumerate(sizes)]  # fmt: skip
    for row, clip in enumerate(clips):
        wavs[row, : clip.size] = torch.from_numpy(clip).float()
    lens = torch.tensor(sizes) / 1600
    targets = torch.eye(5)
    mixed, new_lens, soft = Mixup(probability=1.0)(wavs, lens, targets)
    assert torch.equal(new_lens, lens)
    assert torch.allclose(soft.sum(dim=1), torch.ones(5))
    for row, size in enumerate(sizes):
        lam = float(soft[row, row])
        partners = [c for c in range(5) if c != row and soft[row, c] > 0]
        assert len(partners) == 1 and 0.05 < lam < 0.95
        partner = partners[0]
        assert soft[row, partner] == pytest.approx(1 - lam)
        other = np.zeros(size)
        keep = min(size, sizes[partner])
        other[:keep] = centred(clips[partner])[:keep]
        expected = centred(lam * centred(clips[row]) + (1 - lam) * other)
        got = mixed[row].numpy()
        assert np.allclose(got[:size], expected, atol=1e-5)
        assert not got[size:].any()


def test_mixup_probability_and_alpha():
    torch.manual_seed(0)
    targets = torch.eye(8).repeat(50, 1)
    _, _, soft = Mixup(probability=0.6)(torch.randn(400, 400), torch.ones(
        400), targets)  # fmt: skip
    lambdas = soft[torch.arange(400), torch.arange(400) % 8]
    mixed = lambdas < 1
    assert 0.5 < mixed.float().mean() < 0.7
    # Beta(10, 10): mean 0.5, standard deviation 0.109
    assert abs(float(lambdas[mixed].mean()) - 0.5) < 0.03
    assert abs(float(lambdas[mixed].std()) - 0.109) < 0.02
    untouched = Mixup(probability=0.0)(torch.randn(4, 100), torch.ones(4),
                                       torch.eye(4))  # fmt: skip
    assert torch.equal(untouched[2], torch.eye(4))
    with pytest.raises(ValueError, match="probability"):
        Mixup(probability=1.5)


def tiny_brain(mixup):
    torch.manual_seed(0)
    modules = {
        "compute_features": KaldiFbank(target_length=64),
        "normalize": FbankNormalization("speechcommands"),
        "encoder": AudioSpectrogramTransformer(
            model_size=None,
            embed_dim=32,
            depth=1,
            num_heads=2,
            target_length=64,
            fstride=16,
            tstride=16,
        ),  # fmt: skip
        "classifier": AudioClassificationHead(32, 4),
    }
    hparams = {"loss": "bce", "mixup": mixup, "fbank_noise": FbankNoise()}
    return AudioClassificationBrain(modules=modules, hparams=hparams)


def test_mixup_and_noise_touch_training_batches_only():
    batch = PaddedBatch(
        [
            {
                "id": str(i),
                "sig": torch.randn(8000 - 1000 * i),
                "targets": torch.eye(4)[i],
            }
            for i in range(4)
        ]  # fmt: skip
    )
    plain, mixing = tiny_brain(None), tiny_brain(Mixup(probability=1.0))
    for brain in (plain, mixing):
        brain.modules.eval()
    with torch.no_grad():
        reference, _ = plain.compute_forward(batch, sb.Stage.TEST)
        for stage in (sb.Stage.VALID, sb.Stage.TEST):
            logits, targets = mixing.compute_forward(batch, stage)
            assert torch.equal(logits, reference)
            assert torch.equal(targets, torch.eye(4))
        logits, targets = mixing.compute_forward(batch, sb.Stage.TRAIN)
    assert not torch.allclose(logits, reference)
    assert (targets.max(dim=1).values < 1).all()


def test_fbank_noise_is_bounded_uniform_noise_and_a_roll():
    torch.manual_seed(1)
    ramp = torch.arange(50.0).view(1, 50, 1).repeat(6, 1, 3)
    shifted = FbankNoise(scale=0.0, max_shift=10)(ramp)
    seen = set()
    for row in shifted:
        matches = [k for k in range(-10, 10)
                   if torch.equal(row, torch.roll(ramp[0], k, 0))]  # fmt: skip
        assert len(matches) == 1
        seen.add(matches[0])
    assert len(seen) > 1
    noisy = FbankNoise(scale=0.1, max_shift=0)(torch.zeros(200, 40, 8))
    assert noisy.min() >= 0 and noisy.max() < 0.1
    peaks = noisy.amax(dim=(1, 2))
    assert peaks.min() < 0.03 and peaks.max() > 0.07  # per-clip strength


def test_stages_of_zero_strength_are_off_and_leave_the_batch_alone():
    """A YAML holds every stage with its strength as a key (AudioFolder's
    cpu.yaml): at 0 it is off, so a teacher may go with it."""
    from ast_lobes.training.hparams_check import (
        ContradictoryHparamsError,
        check_head_settings,
    )

    batch = PaddedBatch([
        {"id": str(i), "sig": torch.randn(8000), "targets": torch.eye(4)[i]}
        for i in range(4)
    ])  # fmt: skip
    plain = tiny_brain(None)
    plain.settings["fbank_noise"] = None
    zero = AudioClassificationBrain(modules=tiny_brain(None).modules, hparams={
        "loss": "bce", "mixup": Mixup(probability=0.0),
        "fbank_noise": FbankNoise(scale=0.0, max_shift=0),
    })  # fmt: skip
    assert zero.settings["mixup"] is None
    assert zero.settings["fbank_noise"] is None
    torch.manual_seed(1)
    first, _ = zero.compute_forward(batch, sb.Stage.TRAIN)
    torch.manual_seed(1)
    second, _ = plain.compute_forward(batch, sb.Stage.TRAIN)
    assert torch.equal(first, second)  # same draws: nothing drawn for them
    head = AudioClassificationHead(32, 4)
    teacher = {"classifier": head, "loss": "ce", "distillation": object()}
    check_head_settings({**teacher, "mixup": Mixup(probability=0.0)})
    with pytest.raises(ContradictoryHparamsError, match="set mixup: null"):
        check_head_settings({**teacher, "mixup": Mixup(probability=0.5)})

"""Audio and front-end values that cannot give meaningful features are
refused with one line naming the file or the argument: samples that are
not finite, impossible rates, frame shifts and mel counts, and
normalisation statistics that are not finite or a std that is not > 0."""

import math

import numpy as np
import pytest
import soundfile
import torch

from ast_lobes.audio.fbank import (
    FbankNormalization,
    FrontEndSettingError,
    KaldiFbank,
)
from ast_lobes.audio.io import (
    AudioFileError,
    audio_duration,
    read_audio,
    read_segment,
)
from ast_lobes.training.options import run_main


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("subtype", ["FLOAT", "DOUBLE"])
def test_a_float_wav_with_samples_that_are_not_finite_is_refused(
    tmp_path, bad_value, subtype
):
    path = tmp_path / "bad.wav"
    samples = np.zeros((16000, 2))
    samples[8000, 1] = bad_value
    soundfile.write(path, samples, 16000, subtype=subtype)
    message = (
        f"{path}: a sample that is not a finite number (NaN or infinity) "
        "at 0.50 s"
    )
    with pytest.raises(AudioFileError) as error:
        read_audio(str(path))
    assert str(error.value) == message
    with pytest.raises(AudioFileError, match="not a finite number"):
        read_segment(str(path), 0.25, 0.75)
    assert read_segment(str(path), 0.0, 0.25).shape == (4000,)  # clean part


@pytest.mark.parametrize("rate", [0, -16000, math.nan, math.inf, "16k", True])
def test_an_impossible_rate_is_refused_naming_the_file(tmp_path, rate):
    path = tmp_path / "a.wav"
    soundfile.write(path, np.zeros(1600), 16000)
    message = f"{path}: cannot be read at sample_rate={rate!r}"
    for read in (read_audio, audio_duration):
        with pytest.raises(AudioFileError) as error:
            read(str(path), rate)
        assert str(error.value).startswith(message)
    with pytest.raises(AudioFileError, match="cannot be read at sample_rate"):
        read_segment(str(path), 0.0, 0.1, rate)


@pytest.mark.parametrize(
    "argument, value",
    [
        ("frame_shift", 0), ("frame_shift", -10.0),
        ("frame_shift", math.nan), ("frame_shift", math.inf),
        ("sample_rate", 0), ("sample_rate", -16000), ("sample_rate", math.nan),
        ("n_mels", 0), ("n_mels", -128), ("n_mels", 1.5),
        ("target_length", 0), ("target_length", -1),
    ],
)  # fmt: skip
def test_an_impossible_front_end_setting_is_refused_naming_it(argument, value):
    with pytest.raises(FrontEndSettingError) as error:
        KaldiFbank(**{argument: value})
    assert str(error.value).startswith(f"{argument}={value!r}: not a ")
    assert "\n" not in str(error.value)


def test_a_frame_or_shift_of_no_samples_is_refused():
    with pytest.raises(FrontEndSettingError, match="a shift of 0"):
        KaldiFbank(frame_shift=0.01)  # 0.16 samples at 16 kHz
    with pytest.raises(FrontEndSettingError, match="frame of 0 samples"):
        KaldiFbank(sample_rate=20)


@pytest.mark.parametrize(
    "normalization, message",
    [
        ((0.0, 0.0), "normalization std=0.0: not a finite number > 0"),
        ((0.0, -4.5), "normalization std=-4.5: not a finite number > 0"),
        ((0.0, math.nan), "normalization std=nan: not a finite number > 0"),
        ((0.0, math.inf), "normalization std=inf: not a finite number > 0"),
        ((math.nan, 4.5), "normalization mean=nan: not a finite number"),
        ((-math.inf, 4.5), "normalization mean=-inf: not a finite number"),
        ((1.0,), "normalization=(1.0,): not a preset name or a (mean, std)"),
        (("a", "b"), "normalization=('a', 'b'): not a preset name or a"),
    ],
)
def test_normalisation_statistics_that_are_not_finite_are_refused(
    normalization, message
):
    with pytest.raises(FrontEndSettingError) as error:
        FbankNormalization(normalization)
    assert str(error.value).startswith(message)
    with pytest.raises(FrontEndSettingError):
        KaldiFbank(normalization=normalization)


def test_a_recipe_ends_a_bad_front_end_setting_with_exit_2(capsys):
    with pytest.raises(SystemExit) as stop:
        run_main(lambda: KaldiFbank(frame_shift=0))
    assert stop.value.code == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "error: frame_shift=0: not a finite number > 0"
    )


@pytest.fixture(scope="module")
def tagger():
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..",
                                    "helpers"))  # fmt: skip
    from tagger_models import small_tagger

    return small_tagger(target_length=100)


def run_entry(tagger, entry, wavs):
    """Hands ``wavs`` ``[batch, samples]`` to one of the tagger's ways in."""
    from pretrained_interfaces.embeddings import embed_batch

    if entry == "score_windows":
        return tagger.score_windows([(0.0, 1.0, wav) for wav in wavs])
    if entry == "stream":
        return list(tagger.stream([wav.numpy() for wav in wavs], rate=16000))
    if entry == "embed_batch":
        return embed_batch(tagger, wavs)
    if entry == "compute_features":
        return tagger.mods.compute_features(wavs)
    return getattr(tagger, entry)(wavs)


@pytest.mark.parametrize("bad_value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize(
    "entry",
    ["scores_batch", "forward", "score_windows",
     "embed_batch", "compute_features", "stream"],
)  # fmt: skip
def test_a_waveform_with_samples_that_are_not_finite_is_refused(
    tagger, entry, bad_value
):
    wavs = torch.zeros(2, 16000)
    wavs[1, 8000] = bad_value
    batch = "1 of 1" if entry == "stream" else "2 of 2"
    with pytest.raises(AudioFileError) as error:
        run_entry(tagger, entry, wavs[1:] if entry == "stream" else wavs)
    assert str(error.value) == (
        f"waveform {batch}: a sample that is not a finite number (NaN or "
        "infinity) at 0.50 s"
    )


def test_samples_past_a_clip_s_length_are_padding_not_refused(tagger):
    wavs = torch.randn(2, 16000, generator=torch.Generator().manual_seed(0))
    alone = tagger.scores_batch(wavs[1:, :4000])
    wavs[1, 8000:] = math.nan
    scores = tagger.scores_batch(wavs, torch.tensor([1.0, 0.25]))
    torch.testing.assert_close(scores[1:], alone)

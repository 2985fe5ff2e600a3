"""Kaldi fbank features against torchaudio's reference call."""

import numpy as np
import pytest
import soundfile
import torch
from torchaudio.compliance import kaldi

from ast_lobes import AudioFileError, FbankNormalization, KaldiFbank, read_audio
from ast_lobes.audio.io import declared_wav_frames


def reference_fbank(wav):
    wav = wav - wav.mean()
    return kaldi.fbank(
        wav.unsqueeze(0),
        htk_compat=True,
        sample_frequency=16000,
        use_energy=False,
        window_type="hanning",
        num_mel_bins=128,
        dither=0.0,
        frame_shift=10,
    )


def test_batch_of_different_lengths_matches_reference():
    torch.manual_seed(0)
    sizes = [16000, 9000, 12345]
    clips = [torch.randn(n) * 0.1 + 0.3 for n in sizes]
    batch = torch.zeros(3, 16000)
    for i, clip in enumerate(clips):
        batch[i, : len(clip)] = clip
    lens = torch.tensor([n / 16000 for n in sizes])
    feats = KaldiFbank()(batch, lens)
    assert feats.shape == (3, 98, 128)
    for i, clip in enumerate(clips):
        expected = reference_fbank(clip)
        torch.testing.assert_close(
            feats[i, : expected.shape[0]], expected, atol=1e-5, rtol=0
        )
        assert torch.all(feats[i, expected.shape[0] :] == 0)


def test_features_stay_fp32_under_bf16_autocast():
    torch.manual_seed(0)
    clip = torch.randn(16000) * 0.1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        feats = KaldiFbank()(clip.unsqueeze(0))
    expected = reference_fbank(clip)  # fp32, outside autocast
    torch.testing.assert_close(feats[0], expected, atol=1e-5, rtol=0)


def test_target_length_pads_and_cuts_then_normalises():
    wav = torch.randn(2, 16000)
    expected = reference_fbank(wav[0])
    padded = KaldiFbank(target_length=120)(wav)
    torch.testing.assert_close(padded[0, :98], expected, atol=1e-5, rtol=0)
    assert torch.all(padded[:, 98:] == 0)
    cut = KaldiFbank(target_length=50, normalization="esc50")(wav)
    scaled = (expected[:50] + 6.6268077) / (2 * 5.358466)
    torch.testing.assert_close(cut[0], scaled, atol=1e-5, rtol=0)


def test_normalisation_presets():
    feats = torch.full((1, 2, 3), -4.2677393 + 2 * 4.5689974)
    assert torch.allclose(FbankNormalization("audioset")(feats), torch.ones(1))
    sc = FbankNormalization("speechcommands")
    assert (sc.mean, sc.std) == (-6.845978, 5.5654526)
    with pytest.raises(ValueError, match="Unknown normalization preset"):
        FbankNormalization("librispeech")


def test_wrong_sample_rate_and_short_clip():
    with pytest.raises(
        ValueError, match="44100 Hz given to features built for 16000"
    ):
        KaldiFbank()(torch.randn(1, 44100), sample_rate=44100)
    with pytest.raises(ValueError, match="shorter than one 25 ms frame"):
        KaldiFbank()(torch.randn(1, 100))


def test_read_audio_errors_name_the_file(tmp_path):
    with pytest.raises(AudioFileError, match="missing.wav: no such audio file"):
        read_audio(tmp_path / "missing.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(
        AudioFileError, match="corrupt.wav: unreadable or corrupt"
    ):
        read_audio(corrupt)
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0,), dtype="float32"), 16000)
    with pytest.raises(
        AudioFileError, match="empty.wav: the audio file holds no"
    ):
        read_audio(empty)
    rate = tmp_path / "rate.wav"
    soundfile.write(rate, np.zeros(441, dtype="float32"), 44100)
    with pytest.raises(AudioFileError, match="rate.wav: sample rate 44100"):
        read_audio(rate, resample=False)


@pytest.mark.parametrize(
    "subtype, channels", [("PCM_16", 1), ("PCM_24", 2), ("FLOAT", 1)]
)
def test_truncated_wav_is_an_error_not_a_short_clip(
    tmp_path, subtype, channels
):
    import wave

    path = tmp_path / "full.wav"
    audio = np.zeros((5 * 16000, channels), dtype="float32")
    soundfile.write(path, audio, 16000, subtype=subtype)
    assert declared_wav_frames(path) == 5 * 16000
    if subtype.startswith("PCM"):  # Python's wave module reads the header
        with wave.open(str(path)) as handle:
            assert declared_wav_frames(path) == handle.getnframes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(path.read_bytes()[:2000])  # the header says 5 s
    assert soundfile.info(cut).frames < 16000  # libsndfile says nothing
    with pytest.raises(
        AudioFileError,
        match=r"cut.wav: truncated: the header promises 5.00 s but the "
        r"data ends at 0.0\d s",
    ):
        read_audio(cut)
    assert read_audio(path).shape == (5 * 16000,)


def test_truncated_flac_is_an_error(tmp_path):
    path = tmp_path / "cut.flac"
    soundfile.write(path, np.random.default_rng(0).normal(0, 0.1, 80000),
                    16000)  # fmt: skip
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    with pytest.raises(AudioFileError, match="cut.flac: unreadable or corrupt"):
        read_audio(path)


def test_read_audio_resamples_and_mixes_down(tmp_path):
    t = np.arange(44100) / 44100
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)], 1)
    path = tmp_path / "stereo.flac"
    soundfile.write(path, stereo.astype("float32"), 44100)
    wav = read_audio(path)
    assert wav.shape == (16000,)
    spectrum = torch.fft.rfft(wav).abs()
    assert int(spectrum.argmax()) == 440
    assert wav.abs().max().item() == pytest.approx(0.5, abs=0.02)


def test_norm_stats_command(tmp_path, capsys):
    from ast_lobes.audio.norm_stats import main

    rng = np.random.default_rng(0)
    paths = []
    for index, size in enumerate((16000, 8000)):
        path = tmp_path / f"clip{index}.wav"
        noise = rng.standard_normal(size).astype("float32")
        soundfile.write(path, noise, 16000)
        paths.append(path)
    manifest = tmp_path / "train.csv"
    manifest.write_text("ID,wav\n" + "".join(f"{p.stem},{p}\n" for p in paths))
    main([str(manifest), "--target-length", "120"])
    printed = dict(
        line.split(": ") for line in capsys.readouterr().out.splitlines()[:2]
    )
    means, stds = [], []
    for path in paths:
        data, _ = soundfile.read(path, dtype="float32")
        feats = reference_fbank(torch.from_numpy(data))
        padded = torch.zeros(120, 128)
        padded[: feats.shape[0]] = feats[:120]
        means.append(padded.mean().item())
        stds.append(padded.std().item())
    assert float(printed["mean"]) == pytest.approx(np.mean(means), abs=1e-5)
    assert float(printed["std"]) == pytest.approx(np.mean(stds), abs=1e-5)

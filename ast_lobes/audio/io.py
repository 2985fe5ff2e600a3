"""Reading audio files with errors that name the file and the problem.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

import soundfile
import torch
import torchaudio


class AudioFileError(ValueError):
    """An audio file that is missing, empty, corrupt or at the wrong rate."""


def open_audio(path):
    """Opens an audio file for reading, with errors that name it.

    Missing, unreadable and empty files raise ``AudioFileError``.

    Returns
    -------
    soundfile.SoundFile
        Use it as a context manager.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioFileError(f"{path}: no such audio file")
    try:
        handle = soundfile.SoundFile(path)
    except Exception as error:
        raise AudioFileError(
            f"{path}: unreadable or corrupt audio ({error})"
        ) from error
    if handle.frames == 0:
        handle.close()
        raise AudioFileError(f"{path}: the audio file holds no samples")
    return handle


def read_frames(handle, start, count):
    """``count`` frames from ``start``, mixed to mono; errors name the file."""
    try:
        handle.seek(start)
        data = handle.read(count, dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioFileError(
            f"{handle.name}: unreadable or corrupt audio at "
            f"{start / handle.samplerate:.2f} s ({error})"
        ) from error
    return torch.from_numpy(data).mean(dim=1)


def read_audio(path, sample_rate=16000, resample=True):
    """Reads an audio file as a mono float waveform at ``sample_rate``.

    Arguments
    ---------
    path : str
        Any format libsndfile reads (wav, flac, ogg...).
    sample_rate : int
        Wanted sample rate.
    resample : bool
        Resample other rates (True), or raise an error for them (False).

    Returns
    -------
    torch.Tensor
        ``[samples]``, channels averaged.

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, torch.zeros(800, 2).numpy(), 8000)
    >>> read_audio(path).shape
    torch.Size([1600])
    >>> read_audio(path, resample=False)
    Traceback (most recent call last):
    ...
    ast_lobes.audio.io.AudioFileError: ...a.wav: sample rate 8000 Hz, ...
    """
    with open_audio(path) as handle:
        file_rate = handle.samplerate
        wav = read_frames(handle, 0, handle.frames)
    if file_rate != sample_rate:
        if not resample:
            raise AudioFileError(
                f"{path}: sample rate {file_rate} Hz, expected {sample_rate} Hz"
            )
        wav = torchaudio.functional.resample(wav, file_rate, sample_rate)
    return wav


def audio_duration(path, sample_rate=None):
    """Duration in seconds of an audio file, read from its header.

    Arguments
    ---------
    path : str
        The audio file.
    sample_rate : int or None
        If given, a file at another rate raises ``AudioFileError``.

    Returns
    -------
    float

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, torch.zeros(8000).numpy(), 16000)
    >>> audio_duration(path, 16000)
    0.5
    """
    with open_audio(path) as handle:
        rate, frames = handle.samplerate, handle.frames
    if sample_rate is not None and rate != sample_rate:
        raise AudioFileError(
            f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz"
        )
    return frames / rate

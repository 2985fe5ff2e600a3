"""Reading audio files with errors that name the file and the problem.

Authors
 * AST-SpeechBrain contributors 2026
"""

import math
import os
import struct

import soundfile
import torch
import torchaudio

from ast_lobes.audio.names import (  # noqa: F401 (also read from here)
    AUDIO_EXTENSIONS,
    is_audio_name,
)


class AudioFileError(ValueError):
    """An audio file that is missing, empty, corrupt, at the wrong rate or
    holding samples that are not finite, or asked for at an impossible
    rate."""


def checked_rate(path, sample_rate):
    """``sample_rate`` if it is a finite number > 0, else
    ``AudioFileError`` naming the file and the rate.

    Example
    -------
    >>> checked_rate("a.wav", 0)
    Traceback (most recent call last):
    ...
    ast_lobes.audio.io.AudioFileError: a.wav: cannot be read at sample_rate=0...
    """
    try:
        valid = not isinstance(sample_rate, bool) and (
            math.isfinite(sample_rate) and sample_rate > 0
        )
    except TypeError:
        valid = False
    if not valid:
        raise AudioFileError(
            f"{path}: cannot be read at sample_rate={sample_rate!r} (not a "
            "finite number of Hz > 0)"
        )
    return sample_rate


def declared_wav_frames(path):
    """Frames a WAV file's header declares (its ``data`` chunk size over
    the frame size), or None for another format or a streaming header.

    libsndfile counts only the frames present, so a WAV cut short reads
    as a shorter clip; comparing with this count finds it.

    Example
    -------
    >>> import tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, torch.zeros(800, 2).numpy(), 8000)
    >>> declared_wav_frames(path)
    800
    """
    with open(path, "rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX"):
            return None
        order = "<" if head[:4] == b"RIFF" else ">"
        block_align = None
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                return None
            name, size = chunk[:4], struct.unpack(order + "I", chunk[4:])[0]
            if name == b"fmt ":
                fmt = handle.read(size + size % 2)
                if len(fmt) < 14:
                    return None
                block_align = struct.unpack(order + "H", fmt[12:14])[0]
            elif name == b"data":
                if not block_align or size in (0, 0xFFFFFFFF):
                    return None
                return size // block_align
            else:
                handle.seek(size + size % 2, os.SEEK_CUR)


def open_audio(path):
    """Opens an audio file for reading, with errors that name it.

    Missing, unreadable, empty and truncated (a WAV whose data ends
    before its header says) files raise ``AudioFileError``.

    Returns
    -------
    soundfile.SoundFile
        Use it as a context manager.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise AudioFileError(f"{path}: no such audio file")
    try:
        # bytes: a name that is not UTF-8 opens as the file system holds it
        handle = soundfile.SoundFile(
            path if os.name == "nt" else os.fsencode(path)
        )
    except Exception as error:
        raise AudioFileError(
            f"{path}: unreadable or corrupt audio ({error})"
        ) from error
    if handle.frames == 0:
        handle.close()
        raise AudioFileError(f"{path}: the audio file holds no samples")
    declared = declared_wav_frames(path)
    if declared is not None and declared > handle.frames:
        rate, frames = handle.samplerate, handle.frames
        handle.close()
        raise AudioFileError(
            f"{path}: truncated: the header promises {declared / rate:.2f} s "
            f"but the data ends at {frames / rate:.2f} s"
        )
    return handle


def read_frames(handle, start, count):
    """``count`` frames from ``start``, mixed to mono; errors name the file."""
    try:
        handle.seek(start)
        data = handle.read(count, dtype="float32", always_2d=True)
    except Exception as error:
        raise AudioFileError(
            f"{os.fsdecode(handle.name)}: unreadable or corrupt audio at "
            f"{start / handle.samplerate:.2f} s ({error})"
        ) from error
    expected = min(count, handle.frames - start)
    if len(data) < expected:
        rate = handle.samplerate
        raise AudioFileError(
            f"{os.fsdecode(handle.name)}: truncated: the header promises "
            f"{handle.frames / rate:.2f} s but the data ends at "
            f"{(start + len(data)) / rate:.2f} s"
        )
    data = torch.from_numpy(data)
    finite = torch.isfinite(data).all(dim=1)
    if not finite.all():
        first = start + int((~finite).nonzero()[0, 0])
        raise not_finite(os.fsdecode(handle.name), first, handle.samplerate)
    return data.mean(dim=1)


def not_finite(name, sample, sample_rate):
    """The ``AudioFileError`` of audio ``name`` (a file, or a waveform
    handed over) whose ``sample`` at ``sample_rate`` is NaN or infinite.

    Example
    -------
    >>> str(not_finite("a.wav", 8000, 16000))
    'a.wav: a sample that is not a finite number (NaN or infinity) at 0.50 s'
    """
    return AudioFileError(
        f"{name}: a sample that is not a finite number (NaN or infinity) "
        f"at {sample / sample_rate:.2f} s"
    )


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
    checked_rate(path, sample_rate)
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
        If given, a file at another rate raises ``AudioFileError``
        (as does a rate that is not a number > 0).

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
    if sample_rate is not None:
        checked_rate(path, sample_rate)
    with open_audio(path) as handle:
        rate, frames = handle.samplerate, handle.frames
    if sample_rate is not None and rate != sample_rate:
        raise AudioFileError(
            f"{path}: sample rate {rate} Hz, expected {sample_rate} Hz"
        )
    return frames / rate


def read_segment(path, start, stop, sample_rate=16000):
    """Seconds ``start`` to ``stop`` of an audio file, mono, at
    ``sample_rate`` (resampled when the file has another rate).

    Example
    -------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "a.wav")
    >>> soundfile.write(path, torch.arange(8000.0).numpy() / 8000, 8000)
    >>> read_segment(path, 0.5, 0.75).shape  # 0.25 s at 16 kHz
    torch.Size([4000])
    """
    checked_rate(path, sample_rate)
    with open_audio(path) as handle:
        rate = handle.samplerate
        first = int(round(start * rate))
        wav = read_frames(handle, first, int(round(stop * rate)) - first)
    if rate != sample_rate:
        wav = torchaudio.functional.resample(wav, rate, sample_rate)
    return wav

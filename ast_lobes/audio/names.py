"""Which file names are audio, which spellings name one file and how a
name that is not UTF-8 is shown, apart from the reading code so that a
command line can use them without importing torch.

Authors
 * AST-SpeechBrain contributors 2026
"""

import os

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")


def is_audio_name(name, extensions=AUDIO_EXTENSIONS):
    """Whether a file name ends in one of ``extensions`` (any case).

    Example
    -------
    >>> is_audio_name("Dog.FLAC"), is_audio_name("notes.txt")
    (True, False)
    """
    return name.lower().endswith(tuple(extensions))


def same_file(path):
    """The key every spelling of one file shares: its real path (``./``,
    ``//``, ``sub/..`` and symbolic links resolved).

    Example
    -------
    >>> same_file("clips/sub/../a.wav") == same_file("./clips//a.wav")
    True
    """
    return os.path.realpath(path)


def shown(path):
    """A file name as text any terminal or font takes: bytes that are not
    UTF-8 as ``\\xNN`` escapes.

    Example
    -------
    >>> shown(os.fsdecode(b"caf\\xe9.wav"))
    'caf\\\\xe9.wav'
    """
    raw = os.fsencode(path)
    return raw.decode("utf-8", errors="backslashreplace")

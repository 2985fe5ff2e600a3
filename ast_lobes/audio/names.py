"""Which file names are audio, apart from the reading code so that a
command line can use them without importing torch.

Authors
 * AST-SpeechBrain contributors 2026
"""

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus")


def is_audio_name(name, extensions=AUDIO_EXTENSIONS):
    """Whether a file name ends in one of ``extensions`` (any case).

    Example
    -------
    >>> is_audio_name("Dog.FLAC"), is_audio_name("notes.txt")
    (True, False)
    """
    return name.lower().endswith(tuple(extensions))

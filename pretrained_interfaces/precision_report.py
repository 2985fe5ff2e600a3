"""The precision choice shown on stderr by the command-line tools
(``auto``: which mode, why, and any token merging it applied).

Authors
 * AST-SpeechBrain contributors 2026
"""

import contextlib
import logging
import sys

# The loggers that say what a tagger's precision was decided on (the
# inference layer's modules log under its name).
CHOICE_LOGGERS = (
    "ast_lobes.inference",
    "pretrained_interfaces.audio_tagger",
    "pretrained_interfaces.agreement",
)


@contextlib.contextmanager
def precision_reported(program="ast-tag"):
    """Shows the precision choice (``auto``: which mode and why) on
    stderr, after ``program``'s name, while the precision is set.

    Example
    -------
    >>> with precision_reported("demo"):  # "demo: fp32 ..." on stderr
    ...     logging.getLogger(CHOICE_LOGGERS[0]).info("fp32 (asked for)")
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"{program}: %(message)s"))
    loggers = [logging.getLogger(name) for name in CHOICE_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)

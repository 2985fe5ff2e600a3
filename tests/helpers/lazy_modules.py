"""SpeechBrain's lazy modules kept lazy under hypothesis."""

import sys


def settle_lazy_modules():
    """SpeechBrain's lazy modules not yet imported (``k2``'s and others
    whose packages are not installed) as having no file, so that
    hypothesis's scan of ``sys.modules`` for constants (it reads each
    module's ``__file__``) does not import them and fail."""
    for module in list(sys.modules.values()):
        if type(module).__name__ in ("LazyModule", "DeprecatedModuleRedirect"):
            if module.__dict__.get("lazy_module", True) is None:
                module.__dict__.setdefault("__file__", None)

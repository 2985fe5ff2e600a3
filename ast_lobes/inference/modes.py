"""The names of the inference precision modes, apart from their code so
that a command line can list them without importing torch.

Authors
 * AST-SpeechBrain contributors 2026
"""

PRECISIONS = (
    "fp32",
    "bf16",
    "bf16-autocast",
    "int8",
    "int8-dynamic",
    "ort-int8",
)
# Modes that run outside PyTorch's blocks, so that tokens cannot be merged.
UNMERGEABLE = ("ort-int8",)

"""The names of the inference precision modes and their tolerances, apart
from their code so that a command line can list them without importing
torch.

Authors
 * AST-SpeechBrain contributors 2026
"""

PRECISIONS = (
    "fp32",
    "bf16",
    "bf16-autocast",
    "int8",
    "int8-dynamic",
    "int8-bf16",
    "ort-int8",
)
# Modes that run outside PyTorch's blocks, so that tokens cannot be merged.
UNMERGEABLE = ("ort-int8",)
# Largest logit difference to fp32 accepted on a fixed small model (logits
# of order 1; measured there: 7e-3 bf16, 6e-3 bf16-autocast, 2e-2 int8).
PRECISION_TOLERANCE = {
    "fp32": 0.0,
    "bf16": 0.1,
    "bf16-autocast": 0.1,
    "int8": 0.2,
    "int8-dynamic": 0.2,
    "int8-bf16": 0.2,
    "ort-int8": 0.2,
}

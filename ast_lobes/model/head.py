"""Classification head of the AST (LayerNorm then Linear).

Authors
 * AST-SpeechBrain contributors 2026
"""

from torch import nn


class AudioClassificationHead(nn.Module):
    """LayerNorm followed by a linear layer, giving logits.

    Arguments
    ---------
    input_size : int
        Embedding dimension of the encoder.
    n_labels : int
        Number of output classes.
    norm_eps : float
        LayerNorm epsilon (1e-5 in the reference head).

    Example
    -------
    >>> import torch
    >>> head = AudioClassificationHead(64, 10)
    >>> head(torch.randn(4, 1, 64)).shape
    torch.Size([4, 1, 10])
    """

    def __init__(self, input_size, n_labels, norm_eps=1e-5):
        super().__init__()
        self.norm = nn.LayerNorm(input_size, eps=norm_eps)
        self.linear = nn.Linear(input_size, n_labels)

    def forward(self, x):
        """Logits ``[..., n_labels]`` for embeddings ``[..., input_size]``."""
        return self.linear(self.norm(x))

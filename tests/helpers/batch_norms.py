"""BatchNorm statistics as a training would leave them, for tests of
what a model computes in inference."""

import torch


def randomise_batch_norms(module, seed=5):
    """Running statistics and affine terms of every BatchNorm in
    ``module`` far from the identity."""
    generator = torch.Generator().manual_seed(seed)
    for norm in module.modules():
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            for tensor in (norm.running_mean, norm.weight, norm.bias):
                tensor.data = torch.randn(tensor.shape, generator=generator)
            norm.running_var.data = 0.5 + torch.rand(
                norm.running_var.shape, generator=generator
            )

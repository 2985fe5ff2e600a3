"""Small in-memory SpeechBrain datasets of noise clips for tests."""

import speechbrain as sb
import torch
from speechbrain.dataio.dataset import DynamicItemDataset


def noise_clips_dataset(count=5, samples=8000, seed=3):
    """A ``DynamicItemDataset`` of ``count`` noise clips (``id``, ``sig``)
    and the clips by id."""
    generator = torch.Generator().manual_seed(seed)
    waves = {f"clip{i}": torch.randn(samples, generator=generator) * 0.1
             for i in range(count)}  # fmt: skip
    dataset = DynamicItemDataset({key: {} for key in waves})

    @sb.utils.data_pipeline.takes("id")
    @sb.utils.data_pipeline.provides("sig")
    def read(clip_id):
        return waves[clip_id]

    dataset.add_dynamic_item(read)
    dataset.set_output_keys(["id", "sig"])
    return dataset, waves

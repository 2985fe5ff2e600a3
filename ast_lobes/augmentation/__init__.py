"""Training-time augmentation: SpecAugment, fbank noise, mixup."""

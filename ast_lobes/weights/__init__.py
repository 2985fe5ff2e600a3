"""Weights: weight files, the registry of published checkpoints, original
and Hugging Face key conversion, ImageNet adaptation, exported folders."""

"""Training: the Brain and its stages, data, samplers, schedule, metrics,
averaging, cross-validation, recipe steps and model export."""

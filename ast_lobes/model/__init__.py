"""The model: configuration, encoder, position embedding, head, the
inference pipeline and the precision modes."""

"""The model: configuration, encoder, position embedding, head and the
inference pipeline (its precision modes are ``ast_lobes.inference``)."""

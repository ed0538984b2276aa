"""Building a model from a resolved manifest: components resolved, assembled, initialized, compressed."""

"""Features that span the host's parts, each in one package: LoRA, ensembles, growth, detection."""

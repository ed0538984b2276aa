"""Training a built model: the ``[train]`` section, data sources, per-head objectives, the loop, checkpoints.

``flexzoo.manifest.train`` is torch-free (``zoo validate`` uses it); every other module imports torch.
"""

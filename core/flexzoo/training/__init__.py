"""Training a built model: data sources, per-head objectives, the loop, the trainer, checkpoints, launch.

The ``[train]`` section is read with the manifest (:mod:`flexzoo.manifest.train`, torch-free, as
``zoo validate`` needs it); every module here imports torch.
"""

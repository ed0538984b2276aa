"""LoRA: low-rank adapters trained on a frozen backbone (``[train.lora]``), merged or stored as adapters.

The update's arithmetic, shared with reading adapter artifacts, is :mod:`flexzoo.compression.low_rank`;
the ``[train.lora]`` settings are read with the ``[train]`` section (:mod:`flexzoo.manifest.train`).
"""

"""LoRA: low-rank adapters trained on a frozen backbone (``[train.lora]``), merged or stored as adapters."""

"""Detection with a CenterNet head: box targets, the loss and mAP (``training``), decoding boxes (``centernet``).

The head and its layers are builtin components (``flexzoo.builtin.dense_heads``).
"""

"""Detection with a CenterNet head: the task a head declares (``task``: the ``centernet`` loss, mAP, boxes), box
targets and decoding (``centernet``), the loss and mAP (``training``), the boxes ``zoo predict`` answers
(``decoding``).

The head and its layers are builtin components (``flexzoo.builtin.dense_heads``).
"""

"""The size keys of a transformers config that the ``backbone`` factory takes as parameters of their own.

Any other config key goes in the factory's ``config`` table; a pretrained directory's config is
checked against the model by the same keys (:mod:`flexzoo_plugin_transformers.pretrained`).
"""

SIZE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
             "max_position_embeddings", "patch_size")

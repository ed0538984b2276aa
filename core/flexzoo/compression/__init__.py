"""The ``[[compress]]`` steps of a model: applying, recording, restoring and packing them."""

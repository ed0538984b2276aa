"""The artifact: one safetensors file holding the weights and, in its header, everything needed
to rebuild and trust them (resolved manifest, plugin and runtime versions, hashes, model card)."""

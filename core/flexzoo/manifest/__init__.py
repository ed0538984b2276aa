"""The manifest: reading the TOML, the resolved manifest, its sections, parameter schemas and constraints,
validation. Torch-free."""

"""The host's plugin machinery: discovery (entry points and their cache), the registry of components,
the catalogue of known plugins and the index built from it."""

"""The Hugging Face Hub and the libraries' weight caches: references, fetching, the lock file, shared artifacts.

Torch-free to import: ``huggingface_hub`` is imported by the functions that download or read a cache.
"""

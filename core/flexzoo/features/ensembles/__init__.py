"""Ensembles: ``[ensemble]`` members resolved to their manifests and artifacts, built or trained first."""

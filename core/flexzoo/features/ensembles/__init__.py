"""Ensembles: the members an ``[ensemble]`` names as manifests, built or trained before it.

The ``[ensemble]`` section itself is read with the rest of the manifest (:mod:`flexzoo.manifest.ensemble`);
the combining layers are builtin components (``flexzoo.builtin.ensembles``).
"""

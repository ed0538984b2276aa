"""The manifest's defaults that the command line shows in its options, importable without validation.

``zoo --help`` builds every verb's parser; these constants are all it needs from the manifest, so they
live here rather than in :mod:`flexzoo.manifest.validation` (which re-exports them), whose import pulls
in the whole schema, training configuration and annotated-types.
"""

from __future__ import annotations

#: ``[export] formats``: the formats ``zoo export`` writes.
EXPORT_FORMATS = ("onnx", "torchscript", "exported-program")
DEFAULT_OPSET = 18
EXPORT_TOLERANCE = 1e-4  # the largest absolute difference an export may show against the model
#: ``[distributed] use`` when the manifest has no ``[distributed]`` section: one process.
DEFAULT_STRATEGY = "single"

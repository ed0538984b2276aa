"""Moved to :mod:`flexzoo.plugin.restoring`; import ``restoring_weights`` from ``flexzoo.plugin``.

Plugins of API 1 imported ``flexzoo.restoring.restoring_weights`` (docs/plugins.md, "Moving from API 1");
this module keeps that import working, with a DeprecationWarning, until flexzoo 0.3.
"""

from __future__ import annotations

import warnings

from flexzoo.plugin.restoring import restoring_weights, weights_restored_afterwards

__all__ = ["restoring_weights", "weights_restored_afterwards"]

warnings.warn("flexzoo.restoring moved to flexzoo.plugin.restoring; import restoring_weights from flexzoo.plugin "
              "(flexzoo.restoring goes in flexzoo 0.3)", DeprecationWarning, stacklevel=2)

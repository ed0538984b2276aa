"""Value constraints shared by the builtin factories, as annotations the static check and `zoo info` read.

They are the ones every plugin gets from :mod:`flexzoo.plugin.helpers`; the builtin plugin uses them too.
"""

from __future__ import annotations

from flexzoo.plugin.helpers import NonNegative, Positive, PositiveFloat, Probability, Sizes

__all__ = ["NonNegative", "Positive", "PositiveFloat", "Probability", "Sizes"]

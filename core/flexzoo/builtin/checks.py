"""Value constraints shared by the builtin factories, as annotations the static check and `zoo info` read.

The general ones are those every plugin gets from :mod:`flexzoo.plugin.helpers`. The bounded sizes
below put an upper limit, with its reason, on each structural size of a builtin model: one number
in a manifest cannot ask the dry run for millions of modules (the dry-run budget of
:mod:`flexzoo.assembly.budget` holds for plugins' sizes, which carry no such limit).
"""

from __future__ import annotations

from typing import Annotated

from annotated_types import Le, MaxLen, MinLen

from flexzoo.plugin.helpers import Bound, NonNegative, Positive, PositiveFloat, Probability, Sizes

__all__ = ["MAX_CLASSES", "MAX_DEPTH", "MAX_KERNEL", "MAX_LAYERS", "MAX_STAGES", "MAX_WIDTH", "Classes", "Depth",
           "Heads", "Kernel", "Layers", "NonNegative", "Positive", "PositiveFloat", "Probability", "Sizes", "Stages",
           "Width", "Widths"]

MAX_WIDTH = 2**20  # GPT-3's widest layer has 49,152 units
MAX_CLASSES = 2**24  # ImageNet-21k has 21,843 classes, the largest tokenizers about 256,000 tokens
MAX_DEPTH = 1024  # ResNet-1001 has 111 blocks a stage; the largest transformers about 128 layers
MAX_LAYERS = 4096  # a list of layer widths: one entry a layer
MAX_STAGES = 64  # every cnn stage after the first halves the resolution
MAX_KERNEL = 255  # the largest kernels in use are 51 wide (SLaK)

Width = Annotated[Positive, Bound(Le(MAX_WIDTH), f"a layer wider than {MAX_WIDTH:,} units is beyond any model "
                                  "built (GPT-3's widest has 49,152) and would not fit in memory")]
Classes = Annotated[Positive, Bound(Le(MAX_CLASSES), f"more than {MAX_CLASSES:,} outputs is beyond any label set "
                                    "(ImageNet-21k has 21,843 classes)")]
Depth = Annotated[Positive, Bound(Le(MAX_DEPTH), f"more than {MAX_DEPTH:,} is deeper than any network trained "
                                  "(ResNet-1001 has 111 blocks a stage, the largest transformers about 128 "
                                  "layers) and would take the dry run minutes and gigabytes to build")]
Heads = Annotated[Positive, Bound(Le(MAX_DEPTH), f"more than {MAX_DEPTH:,} attention heads is beyond any model "
                                  "built (the largest have 128)")]
Kernel = Annotated[Positive, Bound(Le(MAX_KERNEL), f"a kernel wider than {MAX_KERNEL} is beyond any network "
                                   "(the largest in use are 51 wide)")]
Layers = Annotated[list[Width], Bound(MaxLen(MAX_LAYERS), f"more than {MAX_LAYERS:,} layers is deeper than any "
                                      "network trained and would take the dry run minutes and gigabytes to build")]
Widths = Annotated[Layers, MinLen(1)]  # a non-empty list of layer widths, each bounded
Stages = Annotated[list[Width], MinLen(1), Bound(MaxLen(MAX_STAGES), f"every stage after the first halves the "
                                                 f"resolution: {MAX_STAGES} stages take any input down to 1x1")]

"""flexzoo compressors: structured and magnitude pruning, int8, low-rank factorization, distillation, casting.

Registered as the plugin ``compress``. Importing this module is cheap: torch, torchao and
torch-pruning load when a step is built.
"""

from __future__ import annotations

from flexzoo.plugin import Component, hookimpl
from flexzoo_plugin_compress import factories

FLEXZOO_PLUGIN_API = 2

_NEEDS_FLOAT = "it works on float weights, and an earlier step made them int8"
_INT8_FORMATS = ("exported-program",)


@hookimpl
def flexzoo_compressors() -> list[Component]:
    return [
        Component("prune_channels", factories.prune_channels, makes=("pruned",),
                  refuses_after={"int8": _NEEDS_FLOAT, "half": "its fine-tune trains in float32"}),
        Component("prune_l1", factories.prune_l1, makes=("sparse",), refuses_after={"int8": _NEEDS_FLOAT}),
        Component("quantize_int8", factories.quantize_int8, makes=("int8",), export_formats=_INT8_FORMATS,
                  refuses_after={"int8": "the model is int8 already",
                                 "half": "int8 is calibrated from float32 weights; cast after it, or not at all"}),
        Component("low_rank", factories.low_rank, makes=("low_rank",), refuses_after={"int8": _NEEDS_FLOAT}),
        Component("distill", factories.distill, makes=("trained",),
                  refuses_after={"int8": "int8 models cannot be trained", "half": "it trains in float32"}),
        Component("cast", factories.cast, makes=("half",), export_formats=("torchscript", "exported-program"),
                  refuses_after={"int8": "int8 weights cannot be cast to a float type"}),
    ]

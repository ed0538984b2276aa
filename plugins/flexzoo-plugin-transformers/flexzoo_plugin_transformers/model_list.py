"""The shipped list of model types (``models.json``) that lets ``zoo list`` run without importing transformers.

It holds, for each model type the plugin offers, the kind of input its encoder takes (from the model
class's ``main_input_name``) in the transformers release it was checked against. The types are those
the plugin's tests build, run and compare with transformers itself (a curated list, not all of
transformers); a test keeps it true to the installed release. Check it, or rewrite it after changing
the requirement (run the plugin's tests first)::

    python -m flexzoo_plugin_transformers.model_list [--write]
"""

from __future__ import annotations

import sys
from pathlib import Path

from flexzoo.plugin.helpers import Listing, ShippedList

#: The encoder's main input for each kind, as transformers names it.
MAIN_INPUTS = {"input_ids": "text", "pixel_values": "image", "input_values": "audio"}
#: What a batch of each kind is, for summaries and errors.
INPUTS = {"text": "token ids (B, L)", "image": "images (B, C, H, W)", "audio": "waveforms (B, T)"}


def installed_kind(model_type: str) -> str:
    """The input kind of ``model_type``'s encoder in the installed transformers ("" when it has none that fits)."""
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    name = MODEL_MAPPING_NAMES.get(model_type)
    if name is None:
        return ""
    model_class = getattr(transformers, name if isinstance(name, str) else name[0], None)
    return MAIN_INPUTS.get(getattr(model_class, "main_input_name", ""), "")


def _installed(shipped: Listing) -> Listing:
    import transformers

    return Listing(transformers.__version__, shipped.names, {name: installed_kind(name) for name in shipped.names})


def _problems(installed: Listing) -> str:
    gone = sorted(name for name, kind in installed.details.items() if not kind)
    return (f"transformers {installed.version} has no encoder that fits for: {', '.join(gone)}; remove them"
            if gone else "")


MODELS = ShippedList("transformers", Path(__file__).with_name("models.json"),
                     "flexzoo_plugin_transformers.model_list", _installed, _problems)

if __name__ == "__main__":
    sys.exit(MODELS.main())

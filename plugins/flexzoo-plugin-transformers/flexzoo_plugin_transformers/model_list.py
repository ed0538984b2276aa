"""The static list of model types that lets ``zoo list`` run without importing transformers.

``models.json`` holds the transformers release it was checked against and, for each model type the
plugin offers, the kind of input its encoder takes (from the model class's ``main_input_name``).
The types are those the plugin's tests build, run and compare with transformers itself; the list is
kept true to the installed transformers by a test (and the factory warns when the release differs).

Check it, or rewrite it from the installed transformers after changing the requirement::

    python -m flexzoo_plugin_transformers.model_list [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flexzoo.plugin import write_atomically

MODEL_LIST = Path(__file__).with_name("models.json")
REGENERATE = "python -m flexzoo_plugin_transformers.model_list --write"
#: The encoder's main input for each kind, as transformers names it.
MAIN_INPUTS = {"input_ids": "text", "pixel_values": "image", "input_values": "audio"}
#: What a batch of each kind is, for summaries and errors.
INPUTS = {"text": "token ids (B, L)", "image": "images (B, C, H, W)", "audio": "waveforms (B, T)"}


@dataclass(frozen=True)
class ModelList:
    """Model types of one transformers release and the kind of input each takes."""

    version: str
    kinds: dict[str, str]


@cache
def read_model_list(path: Path = MODEL_LIST) -> ModelList:
    """The shipped list (no transformers import)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return ModelList(version=data["transformers_version"], kinds=dict(data["models"]))


def installed_kind(model_type: str) -> str:
    """The input kind of ``model_type``'s encoder in the installed transformers ("" when it has none that fits)."""
    import transformers
    from transformers.models.auto.modeling_auto import MODEL_MAPPING_NAMES

    name = MODEL_MAPPING_NAMES.get(model_type)
    if name is None:
        return ""
    model_class = getattr(transformers, name if isinstance(name, str) else name[0], None)
    return MAIN_INPUTS.get(getattr(model_class, "main_input_name", ""), "")


def installed_model_list(names: list[str] | None = None) -> ModelList:
    """The shipped model types as the installed transformers sees them (imports transformers)."""
    import transformers

    return ModelList(version=transformers.__version__,
                     kinds={name: installed_kind(name) for name in names or read_model_list().kinds})


def warn_if_stale(installed_version: str) -> None:
    """Warn once when the installed transformers is not the release the shipped list was checked against."""
    shipped = read_model_list().version
    if installed_version != shipped and not _warned:
        import warnings

        _warned.append(installed_version)
        warnings.warn(f"flexzoo-plugin-transformers was checked against transformers {shipped}, but "
                      f"{installed_version} is installed; run its tests, then `{REGENERATE}`", stacklevel=3)


_warned: list[str] = []


def write_model_list(models: ModelList, path: Path = MODEL_LIST) -> None:
    """Write ``models`` atomically as the shipped list."""
    text = json.dumps({"transformers_version": models.version, "models": models.kinds}, indent=1) + "\n"
    write_atomically(path, lambda target: target.write_text(text, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or rewrite the shipped list of transformers model types.")
    parser.add_argument("--write", action="store_true", help="rewrite models.json from the installed transformers")
    args = parser.parse_args(argv)
    shipped = read_model_list()
    installed = installed_model_list(list(shipped.kinds))
    gone = sorted(name for name, kind in installed.kinds.items() if not kind)
    if gone:
        print(f"transformers {installed.version} has no encoder that fits for: {', '.join(gone)}; remove them "
              f"from {MODEL_LIST}", file=sys.stderr)
        return 1
    if args.write:
        write_model_list(installed)
        print(f"wrote {len(installed.kinds)} model types of transformers {installed.version} to {MODEL_LIST}")
        return 0
    if installed != shipped:
        print(f"{MODEL_LIST} was checked against transformers {shipped.version}, the installed one is "
              f"{installed.version}; run the plugin's tests, then `{REGENERATE}`", file=sys.stderr)
        return 1
    print(f"models.json is up to date with transformers {installed.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

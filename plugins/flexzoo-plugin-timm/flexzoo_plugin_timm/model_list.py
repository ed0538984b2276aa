"""The static list of timm architectures that lets ``zoo list`` run without importing timm.

``models.json`` holds ``timm.list_models()`` of one timm release and that release's version.
It is kept true to the installed timm in two ways: the plugin's tests compare it with the
installed timm (and fail, naming the command below, when they differ), and the backbone factory,
which imports timm anyway, warns when the installed release is not the one the list came from.

Regenerate it after changing the timm requirement::

    python -m flexzoo_plugin_timm.model_list --write
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
REGENERATE = "python -m flexzoo_plugin_timm.model_list --write"


@dataclass(frozen=True)
class ModelList:
    """Architecture names of one timm release."""

    timm_version: str
    names: tuple[str, ...]


@cache
def read_model_list(path: Path = MODEL_LIST) -> ModelList:
    """The shipped list (no timm import)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return ModelList(timm_version=data["timm_version"], names=tuple(data["models"]))


def installed_model_list() -> ModelList:
    """The list the installed timm gives (imports timm)."""
    import timm

    return ModelList(timm_version=timm.__version__, names=tuple(timm.list_models()))


def warn_if_stale(installed_version: str) -> None:
    """Warn once when the installed timm is not the release the shipped list came from."""
    shipped = read_model_list().timm_version
    if installed_version != shipped and not _warned:
        import warnings

        _warned.append(installed_version)
        warnings.warn(f"flexzoo-plugin-timm lists the architectures of timm {shipped}, but timm "
                      f"{installed_version} is installed; `zoo list` may be off until `{REGENERATE}`",
                      stacklevel=3)


_warned: list[str] = []


def write_model_list(models: ModelList, path: Path = MODEL_LIST) -> None:
    """Write ``models`` atomically as the shipped list."""
    text = json.dumps({"timm_version": models.timm_version, "models": list(models.names)}, indent=0) + "\n"
    write_atomically(path, lambda target: target.write_text(text, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or regenerate the shipped list of timm architectures.")
    parser.add_argument("--write", action="store_true", help="rewrite models.json from the installed timm")
    args = parser.parse_args(argv)
    installed, shipped = installed_model_list(), read_model_list()
    if args.write:
        write_model_list(installed)
        print(f"wrote {len(installed.names)} architectures of timm {installed.timm_version} to {MODEL_LIST}")
        return 0
    if installed != shipped:
        print(f"{MODEL_LIST} lists timm {shipped.timm_version} ({len(shipped.names)} architectures), the installed "
              f"timm is {installed.timm_version} ({len(installed.names)}); run `{REGENERATE}`", file=sys.stderr)
        return 1
    print(f"models.json is up to date with timm {installed.timm_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

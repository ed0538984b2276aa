"""The static list of torchvision classification architectures that lets ``zoo list`` run without torch.

``models.json`` holds ``torchvision.models.list_models(module=torchvision.models)`` (the
classification builders; detection, segmentation, video and optical-flow models live in submodules
and are not listed) of one torchvision release, and that release's version. The plugin's tests
compare it with the installed torchvision and fail, naming the command below, when they differ;
the backbone factory warns when the installed release is not the one the list came from.

Regenerate it after changing the torchvision requirement::

    python -m flexzoo_plugin_torchvision.model_list --write
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flexzoo.plugin import write_atomically

MODEL_LIST = Path(__file__).with_name("models.json")
REGENERATE = "python -m flexzoo_plugin_torchvision.model_list --write"


@dataclass(frozen=True)
class ModelList:
    """Classification architecture names of one torchvision release."""

    torchvision_version: str
    names: tuple[str, ...]


@cache
def read_model_list(path: Path = MODEL_LIST) -> ModelList:
    """The shipped list (no torch or torchvision import)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return ModelList(torchvision_version=data["torchvision_version"], names=tuple(data["models"]))


def installed_model_list() -> ModelList:
    """The list the installed torchvision gives (imports it)."""
    import torchvision

    return ModelList(torchvision_version=release(torchvision.__version__),
                     names=tuple(torchvision.models.list_models(module=torchvision.models)))


def release(version: str) -> str:
    """The public release of a version: "0.29.1+cu130" and "0.29.1+cpu" are both torchvision 0.29.1."""
    return version.partition("+")[0]


@cache
def warn_if_stale(installed_version: str) -> None:
    """Warn (once per version) when the installed torchvision is not the release the shipped list came from."""
    shipped = read_model_list().torchvision_version
    if release(installed_version) != shipped:
        warnings.warn(f"flexzoo-plugin-torchvision lists the architectures of torchvision {shipped}, but "
                      f"torchvision {installed_version} is installed; `zoo list` may be off until `{REGENERATE}`",
                      stacklevel=3)


def write_model_list(models: ModelList, path: Path = MODEL_LIST) -> None:
    """Write ``models`` atomically as the shipped list."""
    text = json.dumps({"torchvision_version": models.torchvision_version, "models": list(models.names)},
                      indent=0) + "\n"
    write_atomically(path, lambda target: target.write_text(text, encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or regenerate the shipped list of torchvision architectures.")
    parser.add_argument("--write", action="store_true", help="rewrite models.json from the installed torchvision")
    args = parser.parse_args(argv)
    installed, shipped = installed_model_list(), read_model_list()
    if args.write:
        write_model_list(installed)
        print(f"wrote {len(installed.names)} architectures of torchvision {installed.torchvision_version} "
              f"to {MODEL_LIST}")
        return 0
    if installed != shipped:
        print(f"{MODEL_LIST} lists torchvision {shipped.torchvision_version} ({len(shipped.names)} architectures), "
              f"the installed torchvision is {installed.torchvision_version} ({len(installed.names)}); "
              f"run `{REGENERATE}`", file=sys.stderr)
        return 1
    print(f"models.json is up to date with torchvision {installed.torchvision_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

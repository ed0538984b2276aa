"""The static list of ``keras.applications`` architectures that lets ``zoo list`` run without importing keras.

``applications.json`` holds the architectures of one keras release (those its torch backend builds)
and that release's version; a test compares it with the installed keras. Regenerate it after
changing the keras requirement::

    python -m flexzoo_plugin_keras.model_list --write
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from flexzoo.plugin import write_atomically

MODEL_LIST = Path(__file__).with_name("applications.json")
REGENERATE = "python -m flexzoo_plugin_keras.model_list --write"
#: Architectures keras refuses to build on its torch backend (it says so when asked).
NOT_ON_TORCH = ("NASNetLarge", "NASNetMobile")


@dataclass(frozen=True)
class ModelList:
    """Architecture names of one keras release."""

    keras_version: str
    names: tuple[str, ...]


@cache
def read_model_list(path: Path = MODEL_LIST) -> ModelList:
    """The shipped list (no keras import)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    return ModelList(keras_version=data["keras_version"], names=tuple(data["applications"]))


def installed_model_list() -> ModelList:
    """The list the installed keras gives (imports keras on the torch backend)."""
    from flexzoo_plugin_keras.backend import import_keras

    keras = import_keras()
    names = sorted(n for n in dir(keras.applications) if n[:1].isupper() and n not in NOT_ON_TORCH)
    return ModelList(keras_version=keras.__version__, names=tuple(names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check or regenerate the shipped list of keras applications.")
    parser.add_argument("--write", action="store_true", help="rewrite applications.json from the installed keras")
    args = parser.parse_args(argv)
    installed, shipped = installed_model_list(), read_model_list()
    if args.write:
        text = json.dumps({"keras_version": installed.keras_version, "applications": list(installed.names)},
                          indent=0) + "\n"
        write_atomically(MODEL_LIST, lambda target: target.write_text(text, encoding="utf-8"))
        print(f"wrote {len(installed.names)} applications of keras {installed.keras_version} to {MODEL_LIST}")
        return 0
    if installed != shipped:
        print(f"{MODEL_LIST} lists keras {shipped.keras_version} ({len(shipped.names)} applications), the installed "
              f"keras is {installed.keras_version} ({len(installed.names)}); run `{REGENERATE}`", file=sys.stderr)
        return 1
    print(f"applications.json is up to date with keras {installed.keras_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

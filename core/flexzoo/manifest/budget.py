"""``[budget]``: the limits of the dry run (modules, parameters, memory, seconds), and where they come from.

The dry run (:mod:`flexzoo.assembly.budget`) holds every build to these limits. Each is set by the
manifest's ``[budget]`` key, else by its environment variable, else by its default; the defaults let
every real model through (a ViT-g, a 1,000-layer MLP). No torch here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Annotated, Any

from annotated_types import Gt

from flexzoo.errors import FlexzooError
from flexzoo.manifest.sections import Key, KeyTable

__all__ = ["BUDGET_KEYS", "ENVIRONMENT", "Budget"]

#: The environment variable that sets each limit when the manifest's ``[budget]`` does not.
ENVIRONMENT = {"modules": "FLEXZOO_BUDGET_MODULES", "parameters": "FLEXZOO_BUDGET_PARAMETERS",
               "memory_mib": "FLEXZOO_BUDGET_MEMORY_MIB", "seconds": "FLEXZOO_BUDGET_SECONDS"}


@dataclass(frozen=True)
class Budget:
    """The limits of one dry run (each a positive number)."""

    modules: int = 50_000  # modules constructed (a ViT-g has about 1,000, a 1,000-layer MLP about 3,000)
    parameters: int = 2**40  # parameter and buffer elements declared (about 1.1 trillion)
    memory_mib: int = 4096  # resident memory grown, and never more than half the memory available
    seconds: float = 30.0  # CPU time spent building and running the model (a download's wait is not)

    @classmethod
    def of(cls, table: Mapping[str, Any] | None = None, environ: Mapping[str, str] = os.environ) -> Budget:
        """The budget a manifest's ``[budget]`` table sets, else the environment, else the defaults."""
        budget = cls()
        for limit in fields(cls):
            value = (table or {}).get(limit.name)
            variable = ENVIRONMENT[limit.name]
            if value is None and environ.get(variable, "").strip():
                value = _environment_value(variable, environ[variable], float if limit.name == "seconds" else int)
            if value is not None:
                budget = replace(budget, **{limit.name: value})
        return budget


def _environment_value(name: str, text: str, kind: type) -> int | float:
    try:
        value = kind(text.strip().replace("_", ""))
    except ValueError:
        value = 0
    if not value > 0:
        raise FlexzooError(f"the environment variable {name} must be a positive "
                           f"{'number' if kind is float else 'integer'}, got {text!r}; unset it for the default")
    return value


_DEFAULT = Budget()
#: ``[budget]``'s keys; one left out keeps its environment variable's value, else its default.
BUDGET_KEYS = KeyTable(
    Key("modules", Annotated[int, Gt(0)], None, f"modules the dry run may construct (default {_DEFAULT.modules:,}; "
        f"{ENVIRONMENT['modules']})"),
    Key("parameters", Annotated[int, Gt(0)], None, "parameter and buffer elements the model may declare "
        f"(default 2**40; {ENVIRONMENT['parameters']})"),
    Key("memory_mib", Annotated[int, Gt(0)], None, "MiB of memory the dry run may grow by, at most half the memory "
        f"available (default {_DEFAULT.memory_mib:,}; {ENVIRONMENT['memory_mib']})"),
    Key("seconds", Annotated[float, Gt(0)], None, "seconds of CPU time the dry run may spend; waiting for a download "
        f"is not counted (default {_DEFAULT.seconds:g}; {ENVIRONMENT['seconds']})"),
)

"""Manifests built in code: the sections a test or a page needs, written as the TOML a user would write.

::

    from flexzoo.testing import Manifest

    path = Manifest.digits(train={"data": "digits", "epochs": 1}).write(tmp_path / "model.toml")
    flexzoo.train(path, tmp_path / "out")

A :class:`Manifest` is a value: :meth:`Manifest.replace` returns a new one, so a module can hold one base
manifest and each test states only what it changes. Nothing here validates; ``flexzoo.load_manifest`` and
``zoo validate`` do, on the file :meth:`Manifest.write` leaves.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["Manifest", "manifest", "toml_text"]


class Manifest:
    """A manifest's sections as plain data (``model``, ``backbone``, ``heads``, ``init``, ``train``, ...).

    :param sections: each top-level table of the manifest by its name: a table is a mapping, an array of tables
        (``init``, ``compress``) a sequence of mappings.
    """

    def __init__(self, sections: Mapping[str, Any]) -> None:
        self._sections = copy.deepcopy(dict(sections))

    @classmethod
    def digits(cls, *, name: str = "tiny", channels: Sequence[int] = (4, 8), parity: bool = False,
               **sections: Any) -> Manifest:
        """The small builtin CNN on 8x8 digits: backbone ``cnn`` (``channels``), head ``digit`` (10 classes).

        :param name: the model's (and so the artifact's) name.
        :param channels: the CNN's channels per stage.
        :param parity: add a second head ``parity`` (an ``mlp``, 2 classes, hidden ``[8]``).
        :param sections: more top-level sections, or ones that replace these (``train={"data": "digits"}``).
        """
        heads: dict[str, Any] = {"digit": {"use": "linear", "num_classes": 10}}
        if parity:
            heads["parity"] = {"use": "mlp", "num_classes": 2, "hidden": [8]}
        return manifest(name=name, input_shape=(1, 8, 8), backbone={"use": "cnn", "channels": list(channels)},
                        heads=heads, **sections)

    @property
    def sections(self) -> dict[str, Any]:
        """A copy of the sections, to read or to change and pass to :class:`Manifest` again."""
        return copy.deepcopy(self._sections)

    def replace(self, **sections: Any) -> Manifest:
        """A new manifest with these top-level sections replaced; a section given as ``None`` is left out."""
        merged = {**self._sections, **sections}
        return Manifest({key: value for key, value in merged.items() if value is not None})

    def update(self, section: str, **keys: Any) -> Manifest:
        """A new manifest whose table ``section`` has these keys set (the table is made if missing)."""
        table = {**self._sections.get(section, {}), **keys}
        return self.replace(**{section: table})

    def toml(self) -> str:
        """The manifest as TOML text, tables in the order they were given."""
        return toml_text(self._sections)

    def write(self, path: str | Path) -> Path:
        """Write the manifest's TOML to ``path`` (its folder made if missing) and return the path."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(self.toml(), encoding="utf-8")
        return target

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Manifest) and self._sections == other._sections

    def __repr__(self) -> str:
        return f"Manifest({self._sections!r})"


def manifest(*, name: str = "tiny", input_shape: Sequence[int] = (1, 8, 8), seed: int = 0,
             backbone: Mapping[str, Any], heads: Mapping[str, Mapping[str, Any]], **sections: Any) -> Manifest:
    """A manifest of one backbone and its heads; ``sections`` adds the rest (``init=[...]``, ``train={...}``).

    :param name: ``[model] name``.
    :param input_shape: ``[model] input_shape``: one sample, no batch dimension.
    :param seed: ``[model] seed``.
    :param backbone: the ``[backbone]`` table: ``use`` and the component's parameters.
    :param heads: each head's table by the head's name.
    :param sections: more top-level sections; a ``model`` mapping here adds keys to ``[model]``.
    """
    model = {"name": name, "seed": seed, "input_shape": list(input_shape), **sections.pop("model", {})}
    return Manifest({"model": model, "backbone": dict(backbone), "heads": dict(heads), **sections})


def toml_text(data: Mapping[str, Any]) -> str:
    """``data`` as TOML: mappings become tables, sequences of mappings arrays of tables, tuples arrays."""
    return "\n".join(_table(data, ())).lstrip("\n") + "\n"


def _is_table_array(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(item, Mapping) for item in value)


def _table(data: Mapping[str, Any], path: tuple[str, ...], header: str | None = None) -> list[str]:
    plain = [f"{_key(key)} = {_value(value)}" for key, value in data.items()
             if not isinstance(value, Mapping) and not _is_table_array(value)]
    tables = [(key, value) for key, value in data.items() if isinstance(value, Mapping) or _is_table_array(value)]
    lines: list[str] = []
    if header is not None:
        lines = ["", header, *plain]
    elif path and (plain or not tables):
        lines = ["", f"[{'.'.join(map(_key, path))}]", *plain]
    elif plain:
        lines = ["", *plain]
    for key, value in tables:
        inner = (*path, str(key))
        dotted = ".".join(map(_key, inner))
        if isinstance(value, Mapping):
            lines += _table(value, inner)
        else:
            for item in value:
                lines += _table(item, inner, header=f"[[{dotted}]]")
    return lines


def _key(key: Any) -> str:
    text = str(key)
    return text if text and all(c.isalnum() or c in "_-" for c in text) else json.dumps(text)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, (str, Path)):
        return json.dumps(str(value), ensure_ascii=False)
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    raise TypeError(f"{type(value).__name__} has no TOML form: give a string, number, bool, list or table")

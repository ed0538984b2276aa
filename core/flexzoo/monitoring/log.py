"""Logs of served inputs and predictions: rotating JSON-lines files, and reading them back for ``zoo monitor``.

One line per sample: ``{"time", "model", "version", "input", "sketch", "heads": {head: {"class", "confidence"}}}``
(``sketch``: the projected features the drift tests use, when the runtime gives features). A file holds at most
``max_bytes``; the next is ``NAME-VERSION.00002.jsonl`` and so on. A server started again continues after the
last file, never overwriting one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from flexzoo.errors import FlexzooError
from flexzoo.monitoring.summaries import Summaries

__all__ = ["LOG_SUFFIX", "RotatingLog", "read_logs"]

LOG_SUFFIX = ".jsonl"
DEFAULT_MAX_BYTES = 16 << 20


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", text)


class RotatingLog:
    """Appends served samples to ``directory/NAME-VERSION.NNNNN.jsonl``, starting a new file past ``max_bytes``."""

    def __init__(self, directory: str | Path, model: str, version: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.model, self.version = model, version
        self.prefix = f"{_safe(model)}-{_safe(version)}"
        self.max_bytes = max_bytes
        numbers = [int(path.suffixes[-2][1:]) for path in self.directory.glob(f"{self.prefix}.*{LOG_SUFFIX}")
                   if len(path.suffixes) >= 2 and path.suffixes[-2][1:].isdigit()]
        self.number = max(numbers, default=0) + 1
        self._file: Any = None

    @property
    def path(self) -> Path:
        return self.directory / f"{self.prefix}.{self.number:05d}{LOG_SUFFIX}"

    def write(self, times: np.ndarray, inputs: np.ndarray, summaries: Summaries) -> None:
        """One line per sample of ``inputs`` (with its arrival time and summaries)."""
        lines = []
        for i in range(len(inputs)):
            record: dict[str, Any] = {"time": round(float(times[i]), 6), "model": self.model, "version": self.version,
                                      "input": np.round(inputs[i].astype(np.float64), 6).tolist()}
            if summaries.sketch is not None:
                record["sketch"] = np.round(summaries.sketch[i].astype(np.float64), 5).tolist()
            record["heads"] = {head: {"class": int(classes[i]), "confidence": round(float(confidence[i]), 6)}
                               for head, (classes, confidence) in summaries.heads.items()}
            lines.append(json.dumps(record, separators=(",", ":")))
        if self._file is None:
            self._file = self.path.open("a", encoding="utf-8")
        self._file.write("\n".join(lines) + "\n")
        self._file.flush()
        if self._file.tell() >= self.max_bytes:
            self._file.close()
            self._file = None
            self.number += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _records(paths: list[Path]) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if line.strip():
                    try:
                        yield path, number, json.loads(line)
                    except ValueError:
                        if line.endswith("\n"):  # a last line cut off by a kill is left out; others are errors
                            raise FlexzooError(f"{path}:{number}: not a JSON line of a monitoring log") from None


def read_logs(location: str | Path, model: str | None = None) -> list[dict[str, Any]]:
    """The logged samples under ``location`` (a file or a folder of ``*.jsonl``), in time order.

    :param model: keep only this model's samples.
    """
    location = Path(location)
    if not location.exists():
        raise FlexzooError(f"{location}: no such file or folder of monitoring logs (zoo serve --monitor-log DIR "
                           "writes them)")
    paths = sorted(location.rglob(f"*{LOG_SUFFIX}")) if location.is_dir() else [location]
    records = []
    for path, number, record in _records(paths):
        if not isinstance(record, dict) or not {"time", "input", "heads"} <= set(record):
            raise FlexzooError(f"{path}:{number}: not a record of a monitoring log (it needs time, input and heads)")
        if model is None or record.get("model") == model:
            records.append(record)
    records.sort(key=lambda record: record["time"])
    return records

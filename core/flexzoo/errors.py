"""Errors a user can act on. The CLI prints them as they are and exits non-zero."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ArtifactError", "DataError", "FlexzooError", "ManifestError", "ManifestKeyError", "ParameterError",
           "PluginError", "Problem"]


class FlexzooError(Exception):
    """Base class: the message says what was wrong, where, and what to do."""


class PluginError(FlexzooError):
    """A plugin could not be used (missing, incompatible, or broken)."""


class DataError(FlexzooError):
    """The data a manifest names cannot be read or does not fit the model."""


class ArtifactError(FlexzooError):
    """An artifact cannot be read or trusted."""


@dataclass(frozen=True)
class Problem:
    """One mistake in a manifest: where it is and how to fix it."""

    key: str
    message: str
    hint: str = ""
    line: int | None = None

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        text = f"{where}: [{self.key}] {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text}\n    fix: {self.hint}" if self.hint else text


class ManifestError(FlexzooError):
    """A manifest is invalid; carries every problem found, each with file, key path and line."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        count = len(problems)
        header = f"{file}: {count} problem{'s' if count > 1 else ''} in the manifest"
        body = "\n".join(p.render(file) for p in problems)
        super().__init__(body if count == 1 else f"{header}\n{body}")


class ManifestKeyError(FlexzooError):
    """A value the run cannot use, raised where the manifest's file is not known (training, growth, LoRA).

    It names the manifest key; the pipeline, which knows the file and its lines, raises it again as the
    :class:`ManifestError` a user reads (:meth:`located`).
    """

    def __init__(self, key: str, message: str, hint: str = "") -> None:
        self.problem = Problem(key=key, message=message, hint=hint)
        super().__init__(self.problem.render("the manifest"))

    def located(self, source: Any) -> ManifestError:
        """The error at its line of the manifest ``source`` (a :class:`~flexzoo.manifest.resolved.ManifestSource`)."""
        problem = self.problem
        return ManifestError(source.file, [source.problem(problem.key, problem.message, problem.hint)])


class ParameterError(FlexzooError, ValueError):
    """Raised by a factory for a parameter value it cannot use; the host names the manifest key."""

    def __init__(self, parameter: str, message: str, hint: str = "") -> None:
        super().__init__(f"`{parameter}` {message}")
        self.parameter = parameter
        self.message = message
        self.hint = hint

"""Real installed distributions on a temporary path, for testing discovery without pip."""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_distribution(site: Path, dist: str, version: str, modules: dict[str, str],
                      entry_points: dict[str, str], group: str = "flexzoo", keywords: str = "") -> None:
    """Install a distribution into ``site``: modules plus a dist-info with metadata and entry points.

    Put ``site`` on ``sys.path`` (or ``PYTHONPATH``) and importlib.metadata finds it as pip's would.
    """
    site.mkdir(parents=True, exist_ok=True)
    for name, code in modules.items():
        (site / f"{name}.py").write_text(textwrap.dedent(code))
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    keyword_line = f"Keywords: {keywords}\n" if keywords else ""
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n{keyword_line}")
    if entry_points:
        lines = [f"[{group}]"] + [f"{name} = {value}" for name, value in entry_points.items()]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    (info / "RECORD").write_text("")

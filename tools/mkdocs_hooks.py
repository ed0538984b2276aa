"""mkdocs hooks (mkdocs.yml ``hooks:``): the reference pages are generated into the build, never committed.

Each page of :data:`docs_reference.PAGES` is rendered from the code when the site is built, so the manifest,
component, CLI, API and hook references cannot drift from what ``zoo validate`` and ``zoo`` accept.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

sys.path.insert(0, str(Path(__file__).resolve().parent))
import docs_reference


def on_files(files: Files, config, **kwargs) -> Files:
    for path, render in docs_reference.PAGES.items():
        files.append(File.generated(config, path, content=render()))
    return files

"""What every test run shares, wherever its test lives (tests/ and each plugin's tests/)."""

from __future__ import annotations

import os
import shutil
import tempfile

# The shared fixtures (``registry``, ``manifest_file``, ``digits_manifest``) a plugin's own suite loads the same way.
pytest_plugins = ["flexzoo.testing.fixtures"]

_CACHE = tempfile.mkdtemp(prefix="flexzoo-test-cache-")


def pytest_configure(config):
    # flexzoo's per-user cache (entry points; listings made for an installed release other than a plugin's
    # shipped one) is the run's own, never the user's; subprocesses inherit it.
    os.environ["FLEXZOO_CACHE_DIR"] = _CACHE


def pytest_unconfigure(config):
    shutil.rmtree(_CACHE, ignore_errors=True)

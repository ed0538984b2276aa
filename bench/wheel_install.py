"""flexzoo and its first-party plugins installed from wheels, as users have them, for the start-up rows.

An editable install (the checkout's .venv) adds a finder module per plugin to every interpreter start, about
10 ms that users never pay. :func:`wheel_venv` builds a wheel of the checkout's flexzoo and of each plugin under
plugins/ (``pip wheel --no-deps``, from a copy of the files git tracks or would track), makes a virtual environment
without pip, links every other entry of this interpreter's site-packages into it (so entry-point discovery scans
the same few hundred distributions: torch, timm...) and installs the wheels there. Its ``bin/python -c pass`` and
``bin/zoo`` then start as a user's would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _copy_checkout(target: Path) -> None:
    """The checkout's tracked and untracked-but-not-ignored files (what a wheel would be built from), copied."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source, destination = ROOT / name, target / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted but not yet committed
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            destination.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, destination)


def wheel_venv(directory: Path) -> Path:
    """A venv in ``directory`` with flexzoo and the plugins installed from wheels; returns its ``bin`` folder."""
    source, wheels, venv = directory / "src", directory / "wheels", directory / "venv"
    _copy_checkout(source)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    projects = [str(source), *(str(p.parent) for p in sorted(source.glob("plugins/*/pyproject.toml")))]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels),
                    *projects], check=True, capture_output=True, env=env)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=env)
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(subprocess.run([venv / "bin" / "python", "-c", where], check=True, capture_output=True, text=True,
                               env=env).stdout.strip())
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():  # this interpreter's site-packages
        if entry.name.startswith(("flexzoo", "__editable__")) or entry.name == "__pycache__":
            continue  # flexzoo itself comes from the wheels
        (site / entry.name).symlink_to(entry)
    subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    *map(str, sorted(wheels.glob("*.whl")))], check=True, capture_output=True, env=env)
    return venv / "bin"


def startup_env(cache: Path) -> dict[str, str]:
    """The environment the start-up commands run in: no checkout on the path, flexzoo's cache in ``cache``, and
    compiled modules written and read as users have them."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONDONTWRITEBYTECODE")}
    return {**env, "FLEXZOO_CACHE_DIR": str(cache)}


if __name__ == "__main__":  # python bench/wheel_install.py: build one and print where
    print(wheel_venv(Path(tempfile.mkdtemp(prefix="flexzoo-wheels-"))))

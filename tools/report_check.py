"""``make report-check``: render a trained model's ``zoo report`` in headless Chromium and check the screenshot.

Trains a small model on digits (with a compression step, so every chart kind is there), writes its report
with the real CLI, screenshots it with ``chromium --headless`` and checks that the PNG shows a page with
charts: more than a few kilobytes, many colours, no colour covering almost all of it, and pixels in
matplotlib's first two series colours (the curves' and bars' blue and orange). Needs Chromium
(``apt-get install chromium``), so it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MANIFEST = """
[model]
name = "report-check"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [32]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "linear"
num_classes = 2

[[compress]]
use = "prune_l1"
amount = 0.5

[train]
data = "digits"
epochs = 3
batch_size = 128
lr = 0.01
"""

#: matplotlib's default first two series colours ("C0", "C1"): the curves', and the bars' before/after
SERIES = {"blue": (31, 119, 180), "orange": (255, 127, 14)}
WINDOW = (1280, 3000)


def _zoo(*args: str) -> dict:
    done = subprocess.run([sys.executable, "-m", "flexzoo", *args, "--json"], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"zoo {' '.join(args)} failed:\n{done.stderr}")
    return json.loads(done.stdout)


def _screenshot(browser: str, page: Path, png: Path) -> None:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--screenshot={png}", f"--window-size={WINDOW[0]},{WINDOW[1]}", page.resolve().as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode or not png.is_file():
        sys.exit(f"{browser} wrote no screenshot (exit {done.returncode}):\n{done.stderr[-2000:]}")


def measure(png: Path) -> dict:
    """Size, distinct colours, the commonest colour's share, and pixels near each series colour."""
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
    pixels = rgb.width * rgb.height
    colours = rgb.getcolors(maxcolors=pixels)
    assert colours is not None
    near = {name: sum(count for count, colour in colours if max(abs(a - b) for a, b in zip(colour, target)) <= 8)
            for name, target in SERIES.items()}
    return {"png": str(png), "bytes": png.stat().st_size, "width": rgb.width, "height": rgb.height,
            "distinct_colours": len(colours), "commonest_share": round(max(c for c, _ in colours) / pixels, 4),
            "series_pixels": near}


def problems(numbers: dict) -> list[str]:
    """What makes the screenshot trivial (blank, one colour, no charts drawn)."""
    found = []
    if numbers["bytes"] < 20_000:
        found.append(f"the PNG is only {numbers['bytes']} bytes")
    if numbers["distinct_colours"] < 100:
        found.append(f"only {numbers['distinct_colours']} distinct colours")
    if numbers["commonest_share"] > 0.97:
        found.append(f"one colour covers {numbers['commonest_share']:.1%} of the page")
    found += [f"no {name} chart pixels (matplotlib's series colour)" for name, count in numbers["series_pixels"].items()
              if count < 200]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="out/report-check", help="folder for the artifact, report, PNG")
    parser.add_argument("--browser", default="chromium", help="the Chromium executable")
    args = parser.parse_args()
    browser = shutil.which(args.browser)
    if browser is None:
        sys.exit(f"{args.browser} is not on PATH; install it (Debian: apt-get install -y chromium) or pass --browser")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        manifest = Path(folder) / "report-check.toml"
        manifest.write_text(MANIFEST)
        artifact = _zoo("train", str(manifest), "-o", str(out))["artifact"]
    page = Path(_zoo("report", artifact, "-o", str(out / "report.html"))["report"])
    png = out / "report.png"
    png.unlink(missing_ok=True)
    _screenshot(browser, page, png)
    numbers = measure(png)
    print(json.dumps(numbers, indent=2))
    found = problems(numbers)
    for problem in found:
        print(f"report-check: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``make docs-check``: build the site strictly, screenshot three pages in headless Chromium, check the pictures.

The home page, a tutorial and the generated manifest reference are screenshotted with ``chromium --headless``
and each PNG must show a rendered page: more than a few kilobytes, many distinct colours (text antialiasing,
the theme's header, code highlighting), no colour covering almost all of it, and pixels of the theme's
indigo header. Needs Chromium (``apt-get install chromium``), so it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_check import _screenshot

PAGES = {"home": "index.html", "tutorial": "tutorials/compress-and-export.html",
         "manifest-reference": "reference/manifest.html"}
#: mkdocs-material's default primary colour (indigo, #4051b5): the header bar of every page.
HEADER = (64, 81, 181)


def measure(png: Path) -> dict:
    from PIL import Image

    with Image.open(png) as image:
        rgb = image.convert("RGB")
    pixels = rgb.width * rgb.height
    colours = rgb.getcolors(maxcolors=pixels)
    assert colours is not None
    header = sum(count for count, colour in colours if max(abs(a - b) for a, b in zip(colour, HEADER)) <= 8)
    return {"png": str(png), "bytes": png.stat().st_size, "width": rgb.width, "height": rgb.height,
            "distinct_colours": len(colours), "commonest_share": round(max(c for c, _ in colours) / pixels, 4),
            "header_pixels": header}


def problems(numbers: dict) -> list[str]:
    found = []
    if numbers["bytes"] < 20_000:
        found.append(f"the PNG is only {numbers['bytes']} bytes")
    if numbers["distinct_colours"] < 100:
        found.append(f"only {numbers['distinct_colours']} distinct colours")
    if numbers["commonest_share"] > 0.97:
        found.append(f"one colour covers {numbers['commonest_share']:.1%} of the page")
    if numbers["header_pixels"] < 5_000:
        found.append(f"only {numbers['header_pixels']} pixels of the theme's header colour: unstyled page?")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="out/docs-check", help="folder for the site and the PNGs")
    parser.add_argument("--browser", default="chromium", help="the Chromium executable")
    args = parser.parse_args()
    browser = shutil.which(args.browser)
    if browser is None:
        sys.exit(f"{args.browser} is not on PATH; install it (Debian: apt-get install -y chromium) or pass --browser")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    site = out / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site.resolve())],
                          cwd=Path(__file__).resolve().parents[1], env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    if done.returncode:
        return done.returncode
    failed = False
    for name, page in PAGES.items():
        png = out / f"{name}.png"
        png.unlink(missing_ok=True)
        _screenshot(browser, site / page, png)
        numbers = measure(png)
        print(json.dumps({"page": page, **numbers}))
        for problem in problems(numbers):
            print(f"docs-check: {page}: {problem}", file=sys.stderr)
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Generate a small image folder of shapes (circle, square, triangle) for examples/timm_shapes.toml.

    python examples/make_shapes.py examples/shapes          # 3 classes x (100 train + 30 val) images

The layout is torchvision's ImageFolder (``root/train/<class>/*.png``, ``root/val/<class>/*.png``);
the same seed always gives the same images.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
SIZE = 32


def draw(shape: str, rng: random.Random) -> Image.Image:
    """One shape of random size, place and colours on a random background."""
    background = tuple(rng.randrange(0, 120) for _ in range(3))
    colour = tuple(rng.randrange(120, 256) for _ in range(3))
    image = Image.new("RGB", (SIZE, SIZE), background)
    pen = ImageDraw.Draw(image)
    radius = rng.randrange(6, 13)
    x, y = rng.randrange(radius, SIZE - radius), rng.randrange(radius, SIZE - radius)
    if shape == "circle":
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour)
    elif shape == "square":
        pen.rectangle((x - radius, y - radius, x + radius, y + radius), fill=colour)
    else:
        pen.polygon([(x, y - radius), (x - radius, y + radius), (x + radius, y + radius)], fill=colour)
    return image


def make_shapes(root: Path, train: int = 100, val: int = 30, seed: int = 0) -> Path:
    """Write ``train`` and ``val`` images per class under ``root``; return ``root``."""
    rng = random.Random(seed)
    for split, count in (("train", train), ("val", val)):
        for shape in CLASSES:
            folder = root / split / shape
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                draw(shape, rng).save(folder / f"{index:03d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=Path(__file__).parent / "shapes")
    parser.add_argument("--train", type=int, default=100, help="training images per class")
    parser.add_argument("--val", type=int, default=30, help="validation images per class")
    args = parser.parse_args()
    print(f"wrote {make_shapes(args.root, args.train, args.val)}")


if __name__ == "__main__":
    main()

"""Generate small images of shapes (circle, square, triangle): an image folder, or arrays with masks or boxes.

    python examples/make_shapes.py examples/shapes          # 3 classes x (100 train + 30 val) images
    python examples/make_shapes.py --masks examples/shapes_masks.npz   # 600 images with per-pixel masks
    python examples/make_shapes.py --boxes examples/shapes_boxes.npz   # 600 images with their shapes' boxes

The image folder (for examples/timm_shapes.toml) has torchvision's ImageFolder layout
(``root/train/<class>/*.png``, ``root/val/<class>/*.png``). The masks file (for
examples/shapes_segmentation.toml) is an uncompressed .npz: ``x`` (N, 3, 32, 32) float32 images in
[0, 1] holding one to three shapes each, and ``mask`` (N, 32, 32) uint8, one class per pixel:
0 background, then 1 + the index of the shape in CLASSES. The boxes file (for
examples/shapes_detection.toml) holds ``x`` as above, with one to three shapes that barely overlap, and
``boxes`` (N, 3, 5) float32, one row [class, x1, y1, x2, y2] per shape (class: the index in CLASSES;
x2, y2 exclusive pixel edges), rows of class -1 where an image has fewer shapes. The same seed always
gives the same data.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

CLASSES = ("circle", "square", "triangle")
SIZE = 32


def draw(shape: str, rng: random.Random) -> Image.Image:
    """One shape of random size, place and colours on a random background."""
    background = tuple(rng.randrange(0, 120) for _ in range(3))
    image = Image.new("RGB", (SIZE, SIZE), background)
    paint(ImageDraw.Draw(image), shape, rng, radii=(6, 13))
    return image


def paint(pen: ImageDraw.ImageDraw, shape: str, rng: random.Random, radii: tuple[int, int],
          mask: ImageDraw.ImageDraw | None = None) -> None:
    """Draw one shape of a radius in ``radii`` (half-open) at a random place in a random bright colour, and its
    class on ``mask``."""
    colour = tuple(rng.randrange(120, 256) for _ in range(3))
    radius = rng.randrange(*radii)
    x, y = rng.randrange(radius, SIZE - radius), rng.randrange(radius, SIZE - radius)
    for target, fill in ((pen, colour), (mask, 1 + CLASSES.index(shape))):
        if target is not None:
            outline(target, shape, x, y, radius, fill)


def outline(pen: ImageDraw.ImageDraw, shape: str, x: int, y: int, radius: int, fill: Any) -> None:
    """Fill ``shape`` centred at (x, y), reaching ``radius`` pixels from the centre either way."""
    if shape == "circle":
        pen.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)
    elif shape == "square":
        pen.rectangle((x - radius, y - radius, x + radius, y + radius), fill=fill)
    else:
        pen.polygon([(x, y - radius), (x - radius, y + radius), (x + radius, y + radius)], fill=fill)


def overlap(a: list[int], b: list[int]) -> float:
    """Intersection over union of two boxes [x1, y1, x2, y2]."""
    width = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - width * height
    return width * height / union


def draw_with_boxes(rng: random.Random, tries: int = 20) -> tuple[Image.Image, list[list[int]]]:
    """One to three shapes, each placed (within ``tries``) to overlap the others' boxes by an IoU of 0.1 at most,
    and their rows [class, x1, y1, x2, y2]."""
    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randrange(0, 120) for _ in range(3)))
    pen, rows = ImageDraw.Draw(image), []
    for _ in range(rng.randrange(1, 4)):
        shape, colour = rng.choice(CLASSES), tuple(rng.randrange(120, 256) for _ in range(3))
        for _ in range(tries):
            radius = rng.randrange(4, 10)
            x, y = rng.randrange(radius, SIZE - radius), rng.randrange(radius, SIZE - radius)
            box = [x - radius, y - radius, x + radius + 1, y + radius + 1]
            if all(overlap(box, row[1:]) <= 0.1 for row in rows):
                outline(pen, shape, x, y, radius, colour)
                rows.append([CLASSES.index(shape), *box])
                break
    return image, rows


def draw_with_mask(rng: random.Random) -> tuple[Image.Image, Image.Image]:
    """One to three shapes (later ones on top) on a random background, and the mask of their classes."""
    image = Image.new("RGB", (SIZE, SIZE), tuple(rng.randrange(0, 120) for _ in range(3)))
    mask = Image.new("L", (SIZE, SIZE), 0)
    pen, mask_pen = ImageDraw.Draw(image), ImageDraw.Draw(mask)
    for _ in range(rng.randrange(1, 4)):
        paint(pen, rng.choice(CLASSES), rng, (4, 10), mask_pen)
    return image, mask


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


def make_shape_masks(path: Path, count: int = 600, seed: int = 0) -> Path:
    """Write ``count`` images with their per-pixel masks to the .npz file ``path``; return ``path``."""
    import numpy as np

    rng = random.Random(seed)
    pairs = [draw_with_mask(rng) for _ in range(count)]
    images = np.stack([np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255 for image, _ in pairs])
    masks = np.stack([np.asarray(mask, dtype=np.uint8) for _, mask in pairs])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as stream:
        np.savez(stream, x=images, mask=masks)
    partial.replace(path)  # never a half-written file where the data was expected
    return path


def make_shape_boxes(path: Path, count: int = 600, seed: int = 0) -> Path:
    """Write ``count`` images with their shapes' boxes to the .npz file ``path``; return ``path``."""
    import numpy as np

    rng = random.Random(seed)
    pairs = [draw_with_boxes(rng) for _ in range(count)]
    images = np.stack([np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 255 for image, _ in pairs])
    boxes = np.full((count, 3, 5), -1, dtype=np.float32)
    for index, (_, rows) in enumerate(pairs):
        boxes[index, :len(rows)] = rows
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as stream:
        np.savez(stream, x=images, boxes=boxes)
    partial.replace(path)  # never a half-written file where the data was expected
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, nargs="?", default=Path(__file__).parent / "shapes")
    parser.add_argument("--train", type=int, default=100, help="training images per class")
    parser.add_argument("--val", type=int, default=30, help="validation images per class")
    parser.add_argument("--masks", type=Path, help="write this .npz of images and per-pixel masks instead")
    parser.add_argument("--boxes", type=Path, help="write this .npz of images and their shapes' boxes instead")
    parser.add_argument("--count", type=int, default=600, help="images in the masks or boxes file")
    args = parser.parse_args()
    if args.boxes:
        print(f"wrote {make_shape_boxes(args.boxes, args.count)}")
    elif args.masks:
        print(f"wrote {make_shape_masks(args.masks, args.count)}")
    else:
        print(f"wrote {make_shapes(args.root, args.train, args.val)}")


if __name__ == "__main__":
    main()

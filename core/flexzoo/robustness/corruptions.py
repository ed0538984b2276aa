"""The ImageNet-C corruptions (Hendrycks & Dietterich 2019), written once with the paper's parameters.

Each corruption takes a batch of images ``[N, C, H, W]`` in pixel space ``[0, 1]`` (float32), a severity
from 1 to 5 and a seeded generator, and gives a batch of the same shape and dtype, still in ``[0, 1]``.
The severities' parameters are those of the paper's ``make_imagenet_c.py``, for 224-pixel images;
lengths in pixels (blur radii, glass-blur displacement) are scaled by ``min(H, W) / 224``, as its
CIFAR-10-C and Tiny-ImageNet-C versions scale them, so that a corruption means the same on an 8-pixel
digit as on a photograph. Images of one channel are read as grey, of three as RGB.

Of the 15 corruptions, 12 are here. Motion blur stands in for ImageMagick's (the paper's tool): a
one-sided Gaussian along a random direction, with the paper's radius and sigma. Not here: ``snow`` (its
flakes need ImageMagick's motion blur of a layer), ``frost`` (the paper's frost photographs) and
``elastic_transform``.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

__all__ = ["CORRUPTIONS", "MISSING", "corrupt"]

#: The ImageNet-C corruptions not implemented here, and why.
MISSING = {"snow": "needs ImageMagick's motion blur of a snow layer",
           "frost": "needs the paper's frost photographs",
           "elastic_transform": "not implemented yet"}

REFERENCE_SIZE = 224  # the paper's image side: its lengths in pixels are for this size

Corruption = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]


def _scale(images: np.ndarray) -> float:
    return min(images.shape[-2:]) / REFERENCE_SIZE


def gaussian_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1]
    return images + rng.normal(size=images.shape, scale=c)


def shot_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [60, 25, 12, 5, 3][severity - 1]
    return rng.poisson(images * c) / c


def impulse_noise(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Salt and pepper (scikit-image's ``random_noise(mode="s&p")``): a share of pixels set to 0 or 1."""
    amount = [0.03, 0.06, 0.09, 0.17, 0.27][severity - 1]
    hit = rng.random(images.shape) < amount
    salt = rng.random(images.shape) < 0.5
    return np.where(hit, salt.astype(images.dtype), images)


def _disk(radius: float, alias_blur: float) -> np.ndarray:
    """The paper's aliased disk kernel, smoothed by a Gaussian of ``alias_blur``."""
    from scipy.ndimage import gaussian_filter

    reach = max(int(np.ceil(radius)), 1) + 1
    grid = np.arange(-reach, reach + 1)
    x, y = np.meshgrid(grid, grid)
    disk = ((x ** 2 + y ** 2) <= radius ** 2).astype(np.float64)
    if not disk.any():
        disk[reach, reach] = 1.0
    disk /= disk.sum()
    return gaussian_filter(disk, sigma=alias_blur, mode="constant")


def _filter_each(images: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    from scipy.ndimage import convolve

    return np.stack([np.stack([convolve(plane, kernel, mode="reflect") for plane in image]) for image in images])


def defocus_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    radius, alias_blur = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
    return _filter_each(images, _disk(radius * _scale(images), alias_blur))


def glass_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian blur, then pixels swapped with a random neighbour within ``delta``, then blur again."""
    from scipy.ndimage import gaussian_filter

    sigma, delta, iterations = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)][severity - 1]
    scale = _scale(images)
    sigma, delta = sigma * scale, max(round(delta * scale), 1)
    out = gaussian_filter(images, sigma=(0, 0, sigma, sigma))
    height, width = images.shape[-2:]
    for image in out:  # each pixel swapped in turn, as the paper does: a pixel can travel further than delta
        for _ in range(iterations):
            for h in range(height - delta, delta, -1):
                for w in range(width - delta, delta, -1):
                    dx, dy = rng.integers(-delta, delta, size=2)
                    hp, wp = h + dy, w + dx
                    if 0 <= hp < height and 0 <= wp < width:
                        image[:, h, w], image[:, hp, wp] = image[:, hp, wp].copy(), image[:, h, w].copy()
    return gaussian_filter(out, sigma=(0, 0, sigma, sigma))


def motion_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A one-sided Gaussian line kernel of the paper's radius and sigma, at a random angle in [-45, 45]."""
    radius, sigma = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1]
    scale = _scale(images)
    radius, sigma = max(radius * scale, 1.0), max(sigma * scale, 1e-3)
    out = np.empty_like(images)
    for index, image in enumerate(images):
        angle = np.deg2rad(rng.uniform(-45, 45))
        steps = np.arange(0, int(np.ceil(radius)) + 1)
        weights = np.exp(-steps ** 2 / (2 * sigma ** 2))
        reach = int(np.ceil(radius))
        kernel = np.zeros((2 * reach + 1, 2 * reach + 1))
        for step, weight in zip(steps, weights):
            kernel[reach + round(step * np.sin(angle)), reach + round(step * np.cos(angle))] += weight
        out[index] = _filter_each(image[None], kernel / kernel.sum())[0]
    return out


def _clipped_zoom(image: np.ndarray, factor: float) -> np.ndarray:
    """Zoom the centre of ``[C, H, W]`` by ``factor`` and crop back to its size."""
    from scipy.ndimage import zoom

    height, width = image.shape[-2:]
    crop_h, crop_w = int(np.ceil(height / factor)), int(np.ceil(width / factor))
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    zoomed = zoom(image[:, top:top + crop_h, left:left + crop_w], (1, factor, factor), order=1)
    trim_h, trim_w = (zoomed.shape[1] - height) // 2, (zoomed.shape[2] - width) // 2
    return zoomed[:, trim_h:trim_h + height, trim_w:trim_w + width]


def zoom_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    factors = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
               np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)][severity - 1]
    out = np.empty_like(images)
    for index, image in enumerate(images):
        total = np.zeros_like(image)
        for factor in factors:
            total += _clipped_zoom(image, float(factor))
        out[index] = (image + total) / (len(factors) + 1)
    return out


def _plasma_fractal(size: int, wibble_decay: float, rng: np.random.Generator) -> np.ndarray:
    """The paper's diamond-square height map of side ``size`` (a power of two), in [0, 1]."""
    grid = np.zeros((size, size))
    step, wibble = size, 100.0

    def wibbled_mean(total: np.ndarray) -> np.ndarray:
        return total / 4 + wibble * rng.uniform(-wibble, wibble, total.shape)

    while step >= 2:
        half = step // 2
        corners = grid[0:size:step, 0:size:step]
        squares = corners + np.roll(corners, -1, axis=0)
        squares = squares + np.roll(squares, -1, axis=1)
        grid[half:size:step, half:size:step] = wibbled_mean(squares)
        centres = grid[half:size:step, half:size:step]
        grid[0:size:step, half:size:step] = wibbled_mean(centres + np.roll(centres, 1, axis=0)
                                                         + corners + np.roll(corners, -1, axis=1))
        grid[half:size:step, 0:size:step] = wibbled_mean(centres + np.roll(centres, 1, axis=1)
                                                         + corners + np.roll(corners, -1, axis=0))
        step //= 2
        wibble /= wibble_decay
    grid -= grid.min()
    return grid / grid.max()


def fog(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A plasma fractal (the paper's 256-pixel map, resized to the image) added, and the contrast reduced."""
    from scipy.ndimage import zoom

    strength, decay = [(1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4)][severity - 1]
    height, width = images.shape[-2:]
    out = np.empty_like(images)
    for index, image in enumerate(images):
        fractal = _plasma_fractal(256, decay, rng)[:REFERENCE_SIZE, :REFERENCE_SIZE]
        fractal = zoom(fractal, (height / REFERENCE_SIZE, width / REFERENCE_SIZE), order=1)
        peak = image.max()
        out[index] = (image + strength * fractal[None]) * peak / (peak + strength)
    return out


def brightness(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """The HSV value raised by ``c`` (hue and saturation kept): each pixel's channels scaled alike."""
    c = [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1]
    value = images.max(axis=1, keepdims=True)
    raised = np.clip(value + c, 0, 1)
    safe = np.where(value > 0, value, 1.0)
    return np.where(value > 0, images * raised / safe, raised)


def contrast(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    c = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
    means = images.mean(axis=(1, 2, 3), keepdims=True) if images.shape[1] == 3 else \
        images.mean(axis=(2, 3), keepdims=True)
    return (images - means) * c + means


def _planes(images: np.ndarray, apply: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    return np.stack([np.stack([apply(plane) for plane in image]) for image in images])


def pixelate(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Box-downsampled to ``c`` of the side and box-upsampled back (PIL's BOX filter, as the paper)."""
    from PIL import Image

    c = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
    height, width = images.shape[-2:]
    small = (max(int(width * c), 1), max(int(height * c), 1))

    def apply(plane: np.ndarray) -> np.ndarray:
        image = Image.fromarray(plane.astype(np.float32), mode="F")
        return np.asarray(image.resize(small, Image.Resampling.BOX).resize((width, height), Image.Resampling.BOX))

    return _planes(images, apply)


def jpeg_compression(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Saved as JPEG at the paper's quality and read back (8-bit pixels, grey or RGB)."""
    from PIL import Image

    quality = [25, 18, 15, 10, 7][severity - 1]
    out = np.empty_like(images)
    for index, image in enumerate(images):
        pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
        rgb = image.shape[0] == 3
        picture = Image.fromarray(pixels.transpose(1, 2, 0) if rgb else pixels[0], mode="RGB" if rgb else "L")
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer), dtype=np.float32) / 255
        out[index] = decoded.transpose(2, 0, 1) if rgb else decoded[None]
    return out


#: Name -> corruption, in the paper's order (noise, blur, weather, digital).
CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise, "shot_noise": shot_noise, "impulse_noise": impulse_noise,
    "defocus_blur": defocus_blur, "glass_blur": glass_blur, "motion_blur": motion_blur, "zoom_blur": zoom_blur,
    "fog": fog, "brightness": brightness, "contrast": contrast,
    "pixelate": pixelate, "jpeg_compression": jpeg_compression,
}


def corrupt(images: np.ndarray, name: str, severity: int, seed: int = 0) -> np.ndarray:
    """``images`` ``[N, C, H, W]`` in ``[0, 1]`` under the corruption ``name`` at ``severity`` (1 to 5), seeded."""
    if name not in CORRUPTIONS:
        raise ValueError(f"unknown corruption `{name}`")
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1 to 5, got {severity}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"corruptions take images [N, 1 or 3, H, W], got shape {list(images.shape)}")
    rng = np.random.default_rng(seed)
    corrupted = CORRUPTIONS[name](images.astype(np.float64), severity, rng)
    return np.clip(corrupted, 0, 1).astype(np.float32)

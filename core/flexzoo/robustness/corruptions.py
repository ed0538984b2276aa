"""The ImageNet-C corruptions (Hendrycks & Dietterich 2019), written once with the paper's parameters.

Each corruption takes a batch of images ``[N, C, H, W]`` in pixel space ``[0, 1]`` (float32), a severity
from 1 to 5 and a seeded generator, and gives a batch of the same shape and dtype, still in ``[0, 1]``.
The severities' parameters are those of the paper's ``make_imagenet_c.py``, for 224-pixel images;
lengths in pixels (blur radii, glass-blur displacement, elastic warps) are scaled by ``min(H, W) / 224``, as its
CIFAR-10-C and Tiny-ImageNet-C versions scale them, so that a corruption means the same on an 8-pixel
digit as on a photograph. Images of one channel are read as grey, of three as RGB.

All 15 corruptions are here. Two parts stand in for a tool and files of the paper's: motion blur (and the
streaks of snow) is a one-sided Gaussian line kernel with the paper's radius and sigma, in place of
ImageMagick's motion blur; frost lays textures drawn from fixed seeds
(:mod:`flexzoo.robustness.frost_texture`), in place of the paper's frost photographs.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np

__all__ = ["CORRUPTIONS", "corrupt"]

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


def _line_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
    """A one-sided Gaussian line of ``radius`` pixels and ``sigma`` at ``angle`` (radians): a motion blur's kernel."""
    reach = int(np.ceil(radius))
    steps = np.arange(0, reach + 1)
    kernel = np.zeros((2 * reach + 1, 2 * reach + 1))
    for step, weight in zip(steps, np.exp(-steps ** 2 / (2 * sigma ** 2))):
        kernel[reach + round(step * np.sin(angle)), reach + round(step * np.cos(angle))] += weight
    return kernel / kernel.sum()


def _motion_lengths(radius: float, sigma: float, scale: float) -> tuple[float, float]:
    return max(radius * scale, 1.0), max(sigma * scale, 1e-3)


def motion_blur(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A one-sided Gaussian line kernel of the paper's radius and sigma, at a random angle in [-45, 45]."""
    radius, sigma = _motion_lengths(*[(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)][severity - 1], _scale(images))
    out = np.empty_like(images)
    for index, image in enumerate(images):
        kernel = _line_kernel(radius, sigma, np.deg2rad(rng.uniform(-45, 45)))
        out[index] = _filter_each(image[None], kernel)[0]
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


def _grey(images: np.ndarray) -> np.ndarray:
    """Each image's luma ``[N, 1, H, W]`` (ITU-R 601, as OpenCV's RGB to grey); a grey image is its own."""
    if images.shape[1] == 1:
        return images
    return np.tensordot(np.array([0.299, 0.587, 0.114]), images, axes=([0], [1]))[:, None]


def snow(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """Flakes (thresholded, zoomed noise) streaked by a motion blur falling at -135 to -45 degrees, laid over
    the image twice (once turned half round), on an image whitened towards its brightened grey."""
    mean, spread, zoom_factor, threshold, radius, sigma, kept = [
        (0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)][severity - 1]
    radius, sigma = _motion_lengths(radius, sigma, _scale(images))
    height, width = images.shape[-2:]
    whitened = kept * images + (1 - kept) * np.maximum(images, _grey(images) * 1.5 + 0.5)
    out = np.empty_like(images)
    for index, image in enumerate(whitened):
        flakes = _clipped_zoom(rng.normal(mean, spread, size=(1, height, width)), zoom_factor)
        flakes = np.clip(np.where(flakes < threshold, 0, flakes), 0, 1)
        flakes = _filter_each(flakes[None], _line_kernel(radius, sigma, np.deg2rad(rng.uniform(-135, -45))))[0]
        out[index] = image + flakes + np.rot90(flakes, k=2, axes=(1, 2))
    return out


def frost(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """The image dimmed and a random crop of a frost texture added, with the paper's two weights.

    The textures are drawn by :mod:`flexzoo.robustness.frost_texture`, not the paper's photographs; a crop of
    224 pixels (the paper's) is resized to the image, and read as grey for a grey image.
    """
    from scipy.ndimage import zoom

    from flexzoo.robustness.frost_texture import SIDE, TEXTURES, frost_texture

    kept, added = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)][severity - 1]
    height, width = images.shape[-2:]
    out = np.empty_like(images)
    for index, image in enumerate(images):
        texture = frost_texture(int(rng.integers(TEXTURES)))
        top, left = rng.integers(0, SIDE - REFERENCE_SIZE, size=2)
        crop = texture[:, top:top + REFERENCE_SIZE, left:left + REFERENCE_SIZE]
        crop = zoom(crop, (1, height / REFERENCE_SIZE, width / REFERENCE_SIZE), order=1)
        out[index] = kept * image + added * (_grey(crop[None])[0] if image.shape[0] == 1 else crop)
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


def _random_affine(image: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """``[C, H, W]`` warped by the affine map that moves three points around its centre by up to ``jitter``."""
    from scipy.ndimage import affine_transform

    height, width = image.shape[-2:]
    side = min(height, width) // 3
    if side == 0:
        return image
    centre = np.array([width // 2, height // 2], dtype=np.float64)  # points are (x, y)
    points = np.array([centre + side, [centre[0] + side, centre[1] - side], centre - side])
    moved = points + rng.uniform(-jitter, jitter, size=points.shape)
    # the map from an output pixel back to the input: moved -> points, in (x, y)
    back = np.linalg.solve(np.hstack([moved, np.ones((3, 1))]), points).T
    matrix = np.array([[back[1, 1], back[1, 0]], [back[0, 1], back[0, 0]]])  # (row, col) order
    offset = np.array([back[1, 2], back[0, 2]])
    return np.stack([affine_transform(plane, matrix, offset, order=1, mode="mirror") for plane in image])


def elastic_transform(images: np.ndarray, severity: int, rng: np.random.Generator) -> np.ndarray:
    """A random affine warp, then each pixel moved by a smooth random field (uniform noise, Gaussian-filtered).

    The paper's (strength, smoothness, affine jitter) are multiples of 244 pixels (``244 should have been
    224, but ultimately nothing is incorrect``, says its code); scaled here like every length.
    """
    from scipy.ndimage import gaussian_filter, map_coordinates

    strength, smoothness, jitter = (244 * share * _scale(images) for share in [
        (2, 0.7, 0.1), (2, 0.08, 0.2), (0.05, 0.01, 0.02), (0.07, 0.01, 0.02), (0.12, 0.01, 0.02)][severity - 1])
    height, width = images.shape[-2:]
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    out = np.empty_like(images)
    for index, image in enumerate(images):
        warped = _random_affine(image, jitter, rng)
        shift_cols, shift_rows = (
            gaussian_filter(rng.uniform(-1, 1, size=(height, width)), smoothness, mode="reflect", truncate=3)
            * strength for _ in range(2))
        where = np.stack([rows + shift_rows, cols + shift_cols])
        out[index] = np.stack([map_coordinates(plane, where, order=1, mode="reflect") for plane in warped])
    return out


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
    "snow": snow, "frost": frost, "fog": fog, "brightness": brightness,
    "contrast": contrast, "elastic_transform": elastic_transform, "pixelate": pixelate,
    "jpeg_compression": jpeg_compression,
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

"""The ImageNet-C corruptions: images in, images out (shape, dtype, range), seeded, and worse with severity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from flexzoo.robustness.corruptions import CORRUPTIONS, MISSING, corrupt

#: Glass blur's severities differ in their swap iterations (2, 1, 3, 2, 2) as much as in their reach, and the swaps
#: carry pixels along: with the paper's parameters the change it makes does not grow with severity, even at 224
#: pixels (it degrades a classifier more with severity; the pixel change is no measure of that).
NOT_MONOTONIC = {"glass_blur"}


def _images(channels: int, size: int = 48) -> np.ndarray:
    """Two smooth images with edges, in [0, 1]."""
    y, x = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y) + 0.15 * (x > 0.5)
    return np.clip(np.stack([[base * (0.8 + 0.1 * c) for c in range(channels)], [1 - base] * channels]),
                   0, 1).astype(np.float32)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("channels", [1, 3])
def test_a_corruption_keeps_shape_dtype_and_the_pixel_range(name, channels):
    images = _images(channels, 24)
    for severity in (1, 5):
        out = corrupt(images, name, severity)
        assert out.shape == images.shape and out.dtype == np.float32
        assert out.min() >= 0 and out.max() <= 1
        assert not np.array_equal(out, images) or name in ("defocus_blur", "motion_blur")


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corruption_is_seeded(name):
    images = _images(3, 16)
    np.testing.assert_array_equal(corrupt(images, name, 3, seed=7), corrupt(images, name, 3, seed=7))


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_higher_severity_changes_the_image_more(name):
    images = _images(3)
    change = [float(np.abs(corrupt(images, name, severity, seed=1) - images).mean()) for severity in range(1, 6)]
    assert change[4] > 0, change
    if name not in NOT_MONOTONIC:
        assert change[4] > change[0], change
        assert all(later >= earlier - 1e-3 for earlier, later in itertools.pairwise(change)), change


def test_brightness_raises_the_hsv_value_and_keeps_hue_and_saturation():
    pixel = np.array([0.2, 0.4, 0.1], dtype=np.float32).reshape(1, 3, 1, 1)
    out = corrupt(pixel, "brightness", 1).reshape(3)  # V 0.4 -> 0.5: every channel scaled by 0.5 / 0.4
    np.testing.assert_allclose(out, [0.25, 0.5, 0.125], rtol=1e-6)


def test_contrast_pulls_each_image_towards_its_mean_by_the_papers_factor():
    images = _images(1, 8)
    out = corrupt(images, "contrast", 1)
    means = images.mean(axis=(2, 3), keepdims=True)
    np.testing.assert_allclose(out, (images - means) * 0.4 + means, atol=1e-6)


@pytest.mark.parametrize(("name", "severity", "shape", "message"), [
    ("rain", 1, (1, 1, 8, 8), "unknown corruption"), ("fog", 6, (1, 1, 8, 8), "severity must be 1 to 5"),
    ("fog", 1, (1, 2, 8, 8), "images [N, 1 or 3, H, W]")])
def test_a_bad_request_is_refused(name, severity, shape, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        corrupt(np.zeros(shape, np.float32), name, severity)


def test_the_missing_corruptions_are_named_and_the_rest_make_fifteen():
    assert set(MISSING) == {"snow", "frost", "elastic_transform"}
    assert len(CORRUPTIONS) + len(MISSING) == 15

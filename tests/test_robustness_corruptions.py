"""The ImageNet-C corruptions: images in, images out (shape, dtype, range), seeded, and worse with severity."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from flexzoo.robustness.corruptions import CORRUPTIONS, corrupt
from flexzoo.robustness.frost_texture import TEXTURES, frost_texture

#: Where the paper's severities do not make the pixel change grow, and the order they do keep (severity pairs).
#: Glass blur's severities differ in their swap iterations (2, 1, 3, 2, 2) as much as in their reach, and the swaps
#: carry pixels along: with the paper's parameters the change it makes does not grow with severity, even at 224
#: pixels (it degrades a classifier more with severity; the pixel change is no measure of that). Snow's severity 3
#: raises the flakes' threshold from 0.5 to 0.9 (fewer, larger flakes): it changes a little less than severity 2.
#: Elastic transform's severities 1-2 are a large affine warp (jitter 24 and 49 of 224 pixels) and 3-5 a fine local
#: field whose strength grows (12, 17, 29 pixels): two ladders.
NOT_MONOTONIC = {"glass_blur": [], "snow": [(1, 2), (3, 4), (4, 5), (1, 5)],
                 "elastic_transform": [(1, 2), (3, 4), (4, 5)]}


def _decorrelation(corrupted: np.ndarray, images: np.ndarray) -> float:
    """1 - each image's Pearson correlation with its corrupted self, averaged: how much of its structure is lost."""
    return float(np.mean([1 - np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(corrupted, images)]))


def _pixel_change(corrupted: np.ndarray, images: np.ndarray) -> float:
    return float(np.abs(corrupted - images).mean())


#: Frost dims the image while it adds a texture: the two cancel in the pixel difference, so its growth is measured
#: by the structure of the image it hides.
CHANGE = {"frost": _decorrelation}


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
    measure = CHANGE.get(name, _pixel_change)
    change = [measure(corrupt(images, name, severity, seed=1), images) for severity in range(1, 6)]
    assert change[4] > 0, change
    if name in NOT_MONOTONIC:
        for lower, higher in NOT_MONOTONIC[name]:
            assert change[higher - 1] > change[lower - 1], (lower, higher, change)
    else:
        assert change[4] > change[0], change
        assert all(later >= earlier - 1e-3 for earlier, later in itertools.pairwise(change)), change


def test_the_frost_textures_are_drawn_the_same_each_time_and_differ_from_each_other():
    textures = [frost_texture(index) for index in range(TEXTURES)]
    assert all(t.shape == textures[0].shape and t.min() >= 0 and t.max() <= 1 for t in textures)
    assert 0.3 < float(np.mean(textures)) < 0.6  # as bright as the paper's photographs, about
    assert all(not np.array_equal(a, b) for a, b in itertools.combinations(textures, 2))
    frost_texture.cache_clear()
    np.testing.assert_array_equal(frost_texture(0), textures[0])


def test_frost_on_a_grey_image_adds_the_textures_grey_and_keeps_the_papers_share_of_the_image():
    black = np.zeros((2, 1, 32, 32), np.float32)
    out = corrupt(black, "frost", 1, seed=3)  # severity 1: the image kept whole, 0.4 of a texture added
    assert 0.4 * 0.2 < float(out.mean()) < 0.4 * 0.7
    white = np.ones((1, 3, 32, 32), np.float32)
    assert float(corrupt(white, "frost", 5).min()) >= 0.6  # 0.6 of the image kept, the texture on top


def test_elastic_transform_moves_pixels_and_keeps_their_values():
    images = _images(1, 32)
    out = corrupt(images, "elastic_transform", 2, seed=0)
    assert _pixel_change(out, images) > 0.02
    assert images.min() - 1e-6 <= out.min() and out.max() <= images.max() + 1e-6  # interpolated, not made up


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


def test_the_fifteen_corruptions_of_the_paper_are_all_here():
    assert set(CORRUPTIONS) == {
        "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur", "zoom_blur",
        "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate", "jpeg_compression"}

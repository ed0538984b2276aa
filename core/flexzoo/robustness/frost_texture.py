"""Frost textures for the ``frost`` corruption, drawn from fixed seeds (no picture is read or downloaded).

The paper lays a crop of one of its frost photographs over the image. Those photographs ship only with
the ``imagecorruptions`` package, which also requires OpenCV and scikit-image; flexzoo draws its own
stand-ins instead: ice needles that branch at 60 degrees (as frost crystals grow) over a soft multi-scale
haze, pale blue-white, with a mean brightness near the photographs' (about 0.4). Each of the
:data:`TEXTURES` textures comes from its own fixed seed, so every machine draws the same ones.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["SIDE", "TEXTURES", "frost_texture"]

TEXTURES = 5  # the paper draws one of five photographs
SIDE = 320  # texture side in pixels; a corruption crops 224 (the paper's image side) at a random place
CRYSTALS = 170
TINT = (0.82, 0.91, 1.0)  # RGB: frost is a pale blue-white
NEEDLE_SAMPLES = 80
HAZE_FALLOFF = 1.6
SEED = 20190328  # ImageNet-C's publication date: any fixed number would do


def _needles(rows: np.ndarray, cols: np.ndarray, angles: np.ndarray, lengths: np.ndarray,
             weights: np.ndarray) -> np.ndarray:
    """A canvas of straight needles, fading along their length (wrapping at the edges, so that it tiles)."""
    along = np.linspace(0, 1, NEEDLE_SAMPLES, endpoint=False)
    reach = lengths[:, None] * along
    pixel_rows = np.round(rows[:, None] + reach * np.sin(angles)[:, None]).astype(int) % SIDE
    pixel_cols = np.round(cols[:, None] + reach * np.cos(angles)[:, None]).astype(int) % SIDE
    density = lengths / NEEDLE_SAMPLES  # samples per pixel alike, however long the needle
    canvas = np.zeros((SIDE, SIDE))
    np.add.at(canvas, (pixel_rows, pixel_cols), (weights * density)[:, None] * np.sqrt(1 - along))
    return canvas


def _crystals(rng: np.random.Generator) -> np.ndarray:
    """Crystals of six arms, each arm with three side branches at 60 degrees."""
    rows, cols = rng.uniform(0, SIDE, size=(2, CRYSTALS))
    turns = rng.uniform(0, np.pi / 3, CRYSTALS)
    weights = rng.uniform(0.3, 1.0, CRYSTALS)
    arm_angles = (turns[:, None] + np.arange(6) * np.pi / 3).ravel()
    arm_lengths = rng.uniform(6, 40, arm_angles.size)
    arm_rows, arm_cols, arm_weights = (np.repeat(value, 6) for value in (rows, cols, weights))
    at = rng.uniform(0.2, 0.9, (arm_angles.size, 3)) * arm_lengths[:, None]
    branch_rows = (arm_rows[:, None] + at * np.sin(arm_angles)[:, None]).ravel()
    branch_cols = (arm_cols[:, None] + at * np.cos(arm_angles)[:, None]).ravel()
    branch_angles = np.repeat(arm_angles, 3) + rng.choice([-1, 1], at.size) * np.pi / 3
    branch_lengths = np.repeat(arm_lengths, 3) * rng.uniform(0.15, 0.4, at.size)
    return (_needles(arm_rows, arm_cols, arm_angles, arm_lengths, arm_weights)
            + _needles(branch_rows, branch_cols, branch_angles, branch_lengths, 0.7 * np.repeat(arm_weights, 3)))


def _haze(rng: np.random.Generator) -> np.ndarray:
    """Soft clouds: noise whose spectrum falls as a power of the frequency (it tiles, as the FFT wraps)."""
    frequency = np.hypot(*np.meshgrid(np.fft.fftfreq(SIDE), np.fft.rfftfreq(SIDE), indexing="ij"))
    spectrum = rng.normal(size=frequency.shape) + 1j * rng.normal(size=frequency.shape)
    haze = np.fft.irfft2(spectrum / np.maximum(frequency, 1 / SIDE) ** HAZE_FALLOFF, s=(SIDE, SIDE))
    haze -= haze.min()
    return haze / haze.max()


@functools.cache
def frost_texture(index: int) -> np.ndarray:
    """Texture ``index`` (0 to :data:`TEXTURES` - 1): RGB ``[3, SIDE, SIDE]`` in [0, 1], the same on every call."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng([SEED, index])
    crystals = gaussian_filter(_crystals(rng), 0.7, mode="wrap")
    crystals = np.clip(crystals / np.quantile(crystals, 0.995), 0, 1)
    grey = np.clip(0.12 + 0.5 * _haze(rng) + 0.75 * crystals, 0, 1)
    texture = np.stack([grey * tint for tint in TINT])
    texture.setflags(write=False)
    return texture

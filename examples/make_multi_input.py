"""Write digits_two_inputs.npz: a task that needs both of its inputs (an image and a row of table features).

Each sample is one of scikit-learn's 8x8 digits (``image``, shape [1, 8, 8], scaled to [0, 1]) and a
row of 4 table features (``table``): a one-hot code of a shift k in 0..3, plus a little noise. The
target ``label`` is (digit + k) mod 10, so the image alone leaves k unknown (at best about 1 in 4
right) and the table alone leaves the digit unknown (about 1 in 10); only the two together can
name it. Run: python examples/make_multi_input.py [OUT.npz]
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

SHIFTS = 4


def make_two_inputs(path: str | Path, seed: int = 0) -> Path:
    """Write the arrays ``image``, ``table`` and ``label`` (one entry per digit) to ``path``."""
    rng = np.random.default_rng(seed)
    digits = load_digits()
    count = len(digits.target)
    shift = rng.integers(0, SHIFTS, count)
    table = np.eye(SHIFTS, dtype=np.float32)[shift] + rng.normal(0, 0.1, (count, SHIFTS)).astype(np.float32)
    image = (digits.images / 16.0).astype(np.float32)[:, None]
    label = ((digits.target + shift) % 10).astype(np.int64)
    path = Path(path)
    np.savez(path, image=image, table=table, label=label)
    return path


if __name__ == "__main__":
    print(make_two_inputs(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("digits_two_inputs.npz")))

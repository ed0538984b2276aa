"""``zoo predict ... -o DIR [--nproc N]``: sharded batch prediction, the same with 2 ranks as with 1, resumable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import flexzoo
from conftest import TINY_MANIFEST

pytestmark = [pytest.mark.slow, pytest.mark.processes]


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict[str, Path]:
    from sklearn.datasets import load_digits

    tmp = tmp_path_factory.mktemp("shards")
    manifest = tmp / "tiny.toml"
    manifest.write_text(textwrap.dedent(TINY_MANIFEST))
    artifact = flexzoo.save(flexzoo.build(manifest), tmp / "out", export=False)
    images = tmp / "images"
    images.mkdir()
    for index, image in enumerate(load_digits().images[:1100]):
        Image.fromarray((image * 15).astype(np.uint8)).save(images / f"{index:05d}.png")
    return {"tmp": tmp, "artifact": artifact, "images": images}


def _predict(place, out: Path, *extra: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "flexzoo", "predict", str(place["artifact"]), str(place["images"]),
                           "-o", str(out), *extra], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for shard in sorted(out.glob("shard-*.jsonl")) for line in shard.read_text().splitlines()]


def test_two_processes_give_the_results_of_one(place):
    _predict(place, place["tmp"] / "one")
    done = _predict(place, place["tmp"] / "two", "--nproc", "2")
    one, two = _results(place["tmp"] / "one"), _results(place["tmp"] / "two")
    assert len(one) == 1100 and [r["input"] for r in one] == sorted(str(p) for p in place["images"].glob("*.png"))
    assert one == two
    assert "samples/s" in done.stderr and "rank 1:" in done.stderr  # both ranks worked, and said how fast


def test_a_rerun_skips_the_shards_already_written(place):
    out = place["tmp"] / "resumed"
    _predict(place, out)
    kept = out / "shard-00000.jsonl"
    (out / "shard-00001.jsonl").unlink()  # as if the run had been killed before writing it
    before = kept.stat().st_mtime_ns
    done = _predict(place, out)
    assert "wrote 1 shard(s)" in done.stdout and "skipped 2 already there" in done.stdout
    assert kept.stat().st_mtime_ns == before and len(_results(out)) == 1100


def test_nproc_without_an_output_folder_is_one_clear_error(place):
    done = subprocess.run([sys.executable, "-m", "flexzoo", "predict", str(place["artifact"]), str(place["images"]),
                           "--nproc", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "needs -o DIR" in done.stderr and "Traceback" not in done.stderr

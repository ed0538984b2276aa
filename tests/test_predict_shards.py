"""``zoo predict ... -o DIR [--nproc N] [--nnodes ...] [--format parquet]``: sharded batch prediction, the same with
2 ranks (on one node or two) as with 1, resumable, as JSON lines or Parquet.

A command that starts ranks runs in a subprocess (the launcher and its ranks are what it tests); one process's
runs and the errors found before any rank starts run in this process (no interpreter and torch import to pay)."""

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
from conftest import TINY_MANIFEST, CliResult, zoo_in_process

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
    """``zoo predict`` with ranks (``--nproc``, ``--nnodes``), in a subprocess: the launcher starts them."""
    done = subprocess.run([sys.executable, "-m", "flexzoo", "predict", str(place["artifact"]), str(place["images"]),
                           "-o", str(out), *extra], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _predict_here(place, out: Path, *extra: str) -> CliResult:
    """``zoo predict`` in one process, in this one."""
    done = zoo_in_process("predict", str(place["artifact"]), str(place["images"]), "-o", str(out), *extra)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _results(out: Path) -> list[dict]:
    return [json.loads(line) for shard in sorted(out.glob("shard-*.jsonl")) for line in shard.read_text().splitlines()]


@pytest.fixture(scope="module")
def one_process(place) -> list[dict]:
    """The results of one process, as JSON lines: what every other way of running must give."""
    _predict_here(place, place["tmp"] / "one")
    return _results(place["tmp"] / "one")


def test_two_processes_give_the_results_of_one(place, one_process):
    done = _predict(place, place["tmp"] / "two", "--nproc", "2")
    one, two = one_process, _results(place["tmp"] / "two")
    assert len(one) == 1100 and [r["input"] for r in one] == sorted(str(p) for p in place["images"].glob("*.png"))
    assert one == two
    assert "samples/s" in done.stderr and "rank 1:" in done.stderr  # both ranks worked, and said how fast


def test_a_rerun_skips_the_shards_already_written(place):
    out = place["tmp"] / "resumed"
    _predict_here(place, out)
    kept = out / "shard-00000.jsonl"
    (out / "shard-00001.jsonl").unlink()  # as if the run had been killed before writing it
    before = kept.stat().st_mtime_ns
    done = _predict_here(place, out)
    assert "wrote 1 shard(s)" in done.stdout and "skipped 2 already there" in done.stdout
    assert kept.stat().st_mtime_ns == before and len(_results(out)) == 1100


def test_nproc_without_an_output_folder_is_one_clear_error(place):
    done = zoo_in_process("predict", str(place["artifact"]), str(place["images"]), "--nproc", "2")
    assert done.returncode == 1 and "needs -o DIR" in done.stderr and "Traceback" not in done.stderr


def _parquet_results(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(out).to_pylist()  # the folder of shards read as one dataset, shards in name order


def test_parquet_shards_read_back_as_the_results_of_one_process_and_resume(place, one_process):
    out = place["tmp"] / "parquet"
    _predict(place, out, "--format", "parquet", "--nproc", "2")
    assert sorted(p.name for p in out.iterdir()) == [f"shard-0000{n}.parquet" for n in range(3)]  # nothing partial
    assert _parquet_results(out) == one_process
    (out / "shard-00002.parquet").unlink()  # as if the run had been killed before writing it
    done = _predict_here(place, out, "--format", "parquet")
    assert "wrote 1 shard(s)" in done.stdout and "skipped 2 already there" in done.stdout
    assert _parquet_results(out) == one_process


def test_parquet_keeps_each_head_kind_with_one_schema(tmp_path):
    """Classification, regression, segmentation and detection results written and read back (pixels: a map)."""
    import pyarrow.parquet as pq

    from flexzoo.prediction.heads import HeadSpec, describe
    from flexzoo.prediction.result_files import write_results

    heads = {"digit": HeadSpec("digit", "classification", [3], ["a", "b", "c"]),
             "size": HeadSpec("size", "regression", [2]),
             "mask": HeadSpec("mask", "segmentation", [2, 2, 2], ["ground", "sky"]),
             "boxes": HeadSpec("boxes", "detection", [6, 4, 4], input_size=(16, 16))}
    rng = np.random.default_rng(0)
    heatmap = np.zeros((2, 6, 4, 4), np.float32) - 10
    heatmap[0, 1, 2, 1] = 10  # one confident box of class 1 in the first sample, none in the second
    outputs = {"digit": rng.normal(size=(2, 3)), "size": rng.normal(size=(2, 2)),
               "mask": rng.normal(size=(2, 2, 2, 2)), "boxes": heatmap}
    results = describe(outputs, heads, top_k=2)
    assert len(results[0]["boxes"]["boxes"]) == 1 and results[1]["boxes"]["boxes"] == []
    write_results(tmp_path / "results.parquet", ["x", "y"], results, "parquet", heads)
    back = pq.read_table(tmp_path / "results.parquet").to_pylist()
    for record in back:
        record["outputs"]["mask"]["pixels"] = dict(record["outputs"]["mask"]["pixels"])
    assert back == [{"input": name, "outputs": result} for name, result in zip(["x", "y"], results)]


def _free_port() -> int:
    import random
    import socket

    for port in random.sample(range(20000, 32000), 200):  # below the ephemeral range, where bind(0) takes ports
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port")


def test_one_node_with_nnodes_gives_the_results_of_one_process(place, one_process):
    out = place["tmp"] / "nnodes1"
    _predict(place, out, "--nproc", "2", "--nnodes", "1")
    assert _results(out) == one_process


def test_two_nodes_through_the_rendezvous_give_the_results_of_one_process(place, one_process):
    """Two launchers on 127.0.0.1 (node ranks 0 and 1, one rank each) meet at a c10d rendezvous and share the
    shards: a world of 2 ranks writing into one output folder."""
    out, port = place["tmp"] / "nodes", _free_port()
    nodes = [subprocess.Popen([sys.executable, "-m", "flexzoo", "predict", str(place["artifact"]), str(place["images"]),
                               "-o", str(out), "--nnodes", "2", "--node-rank", str(rank), "--rdzv-endpoint",
                               f"127.0.0.1:{port}", "--rdzv-id", "two-nodes"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for rank in (0, 1)]
    try:
        finished = [node.communicate(timeout=240) for node in nodes]
    finally:
        for node in nodes:
            if node.poll() is None:
                node.kill()
                node.communicate()
    for node, (_, stderr) in zip(nodes, finished):
        assert node.returncode == 0, stderr[-3000:]
    stderr = "".join(err for _, err in finished)
    assert "rank 0:" in stderr and "rank 1:" in stderr  # each node's rank predicted its share
    assert _results(out) == one_process


@pytest.mark.parametrize(("extra", "status", "message"), [
    (["--nnodes", "2"], 1, "--nnodes needs -o DIR"),
    (["-o", "OUT", "--nnodes", "2"], 1, "--nnodes 2 needs --rdzv-endpoint HOST:PORT"),
    (["-o", "OUT", "--format", "csv"], 2, "invalid choice: 'csv'"),  # a usage error, as argparse's others
])
def test_bad_sharding_options_are_one_clear_error(place, tmp_path, extra, status, message):
    extra = [str(tmp_path / "out") if item == "OUT" else item for item in extra]
    done = zoo_in_process("predict", str(place["artifact"]), str(place["images"]), *extra)
    assert done.returncode == status and message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_a_missing_input_is_one_message_before_any_rank_starts(place, tmp_path):
    done = subprocess.run([sys.executable, "-m", "flexzoo", "predict", str(place["artifact"]), str(tmp_path / "nope"),
                           "-o", str(tmp_path / "out"), "--nproc", "2"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and f"{tmp_path / 'nope'}: no such file or folder" in done.stderr
    assert "rank" not in done.stderr and "Traceback" not in done.stderr

"""The dynamic batcher alone (no HTTP): what it merges, when it waits, whom an error reaches, what each caller gets."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from flexzoo.serving.batcher import Batcher


class Model:
    """Doubles its input; records the size of every call; raises on a negative sample."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.calls.append(len(batch))
        if (batch < 0).any():
            raise ValueError(f"negative input in a batch of {len(batch)}")
        return {"double": batch * 2, "total": batch.reshape(len(batch), -1).sum(1)}


def _run(model: Model, requests: list[np.ndarray], **settings) -> tuple[list, list[int]]:
    """Submit every request at once; each caller's result (outputs or exception) and the batch sizes reported."""
    reported: list[int] = []

    async def main() -> list:
        with ThreadPoolExecutor(1) as executor:
            batcher = Batcher(model, executor, on_batch=reported.append, **settings)
            results = await asyncio.gather(*(batcher.submit(r) for r in requests), return_exceptions=True)
            await batcher.close()
            return results

    return asyncio.run(main()), reported


def _samples(*values: float) -> list[np.ndarray]:
    return [np.full((1, 2), value, dtype=np.float32) for value in values]


def test_concurrent_requests_are_merged_up_to_the_max_batch_size():
    model = Model()
    results, reported = _run(model, _samples(*range(10)), max_batch_size=4)
    assert model.calls == [4, 4, 2]
    assert reported == [4, 4, 2]
    assert all(isinstance(result, dict) for result in results)


def test_a_request_is_never_split_and_a_batch_never_exceeds_the_max():
    model = Model()
    requests = [np.ones((3, 2), np.float32), np.ones((3, 2), np.float32), np.ones((1, 2), np.float32)]
    _run(model, requests, max_batch_size=4)
    assert model.calls == [3, 4]  # the second 3 does not fit beside the first; the 1 joins it


def test_a_lone_request_is_not_delayed_by_max_wait():
    started = time.perf_counter()
    results, _ = _run(Model(), _samples(1.0), max_wait=5.0, in_flight=lambda: 1)
    assert time.perf_counter() - started < 2.0
    np.testing.assert_array_equal(results[0]["double"], [[2.0, 2.0]])


def test_a_batch_waits_up_to_max_wait_while_other_requests_are_in_flight():
    started = time.perf_counter()
    _run(Model(), _samples(1.0), max_wait=0.3, in_flight=lambda: 2)  # one more is being read, never arrives
    assert time.perf_counter() - started >= 0.3


def test_an_exception_fails_only_the_request_that_caused_it():
    model = Model()
    results, reported = _run(model, _samples(1.0, -1.0, 2.0, 3.0), max_batch_size=2)
    assert isinstance(results[1], ValueError) and str(results[1]) == "negative input in a batch of 1"
    assert [r["total"].tolist() for i, r in enumerate(results) if i != 1] == [[2.0], [4.0], [6.0]]
    assert model.calls == [2, 1, 1, 2]  # the failed merged batch is rerun one request at a time
    assert reported == [1, 2]  # batches that answered: the good request alone, then the next batch


def test_each_caller_gets_its_own_rows_in_order():
    rng = np.random.default_rng(0)
    requests = [rng.random((size, 3), dtype=np.float32) for size in (1, 3, 2, 1, 4, 2, 1)]
    model = Model()
    results, _ = _run(model, requests, max_batch_size=5)
    assert len(model.calls) < len(requests)  # requests were merged, so rows had to be split back
    for request, result in zip(requests, results):
        np.testing.assert_array_equal(result["double"], request * 2)
        np.testing.assert_allclose(result["total"], request.sum(1), rtol=1e-6)


@pytest.mark.parametrize("max_batch_size", [1, 2])
def test_every_request_is_answered_whatever_the_max(max_batch_size):
    results, reported = _run(Model(), _samples(*range(5)), max_batch_size=max_batch_size)
    assert [r["total"].tolist() for r in results] == [[0.0], [2.0], [4.0], [6.0], [8.0]]
    assert sum(reported) == 5 and max(reported) <= max_batch_size

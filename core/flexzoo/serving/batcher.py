"""Dynamic batching: requests for one model version are merged into one batch per model call.

A batch takes every request already waiting, up to ``max_batch_size`` samples. It waits up to
``max_wait`` seconds for more only while other requests for the model are in flight (being read or
parsed), so a lone request is never delayed. Calls run one at a time on a worker thread, so the event
loop keeps accepting requests meanwhile; those queue up and form the next batch. When a merged batch
raises, each request in it is run alone, so a failure is an error for the request that causes it only.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Batcher"]

Outputs = dict[str, np.ndarray]


@dataclass
class _Job:
    batch: np.ndarray
    future: asyncio.Future = field(repr=False)


class Batcher:
    """Runs ``run`` on merged batches on ``executor``; ``submit`` awaits one request's share of the outputs."""

    def __init__(self, run: Callable[[np.ndarray], Outputs], executor: Executor, *, max_batch_size: int = 32,
                 max_wait: float = 0.005, in_flight: Callable[[], int] = lambda: 0,
                 on_batch: Callable[[int], None] = lambda size: None) -> None:
        self.run = run
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait
        self.in_flight = in_flight
        self.on_batch = on_batch
        self._queue: collections.deque[_Job] = collections.deque()
        self._arrived: asyncio.Event | None = None
        self._task: asyncio.Task | None = None

    async def submit(self, batch: np.ndarray) -> Outputs:
        """The model's outputs for ``batch`` (raises what the model raised on it)."""
        loop = asyncio.get_running_loop()
        if self._task is None:
            self._arrived = asyncio.Event()
            self._task = loop.create_task(self._serve())
        job = _Job(batch, loop.create_future())
        self._queue.append(job)
        self._arrived.set()
        return await job.future

    async def close(self) -> None:
        """Stop after the queued requests are answered."""
        if self._task is not None:
            while self._queue:
                await asyncio.sleep(0.01)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _next_jobs(self) -> list[_Job]:
        while not self._queue:
            self._arrived.clear()
            await self._arrived.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        jobs = [self._queue.popleft()]
        size = len(jobs[0].batch)
        while size < self.max_batch_size:
            if not self._queue:
                remaining = deadline - loop.time()
                if remaining <= 0 or self.in_flight() <= len(jobs):
                    break  # nobody else is coming soon: run now
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
                continue
            if size + len(self._queue[0].batch) > self.max_batch_size:
                break
            job = self._queue.popleft()
            jobs.append(job)
            size += len(job.batch)
        return jobs

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = await self._next_jobs()
            jobs = [job for job in jobs if not job.future.cancelled()]
            if not jobs:
                continue
            merged = jobs[0].batch if len(jobs) == 1 else np.concatenate([job.batch for job in jobs])
            try:
                outputs = await loop.run_in_executor(self.executor, self.run, merged)
            except Exception as exc:
                if len(jobs) == 1:
                    _settle(jobs[0], exception=exc)
                else:
                    for job in jobs:  # find the request that fails; the others get their answers
                        await self._run_alone(job)
                continue
            self.on_batch(len(merged))
            start = 0
            for job in jobs:
                end = start + len(job.batch)
                _settle(job, {name: value[start:end] for name, value in outputs.items()})
                start = end

    async def _run_alone(self, job: _Job) -> None:
        try:
            outputs = await asyncio.get_running_loop().run_in_executor(self.executor, self.run, job.batch)
        except Exception as exc:
            _settle(job, exception=exc)
        else:
            self.on_batch(len(job.batch))
            _settle(job, outputs)


def _settle(job: _Job, outputs: Outputs | None = None, exception: BaseException | None = None) -> None:
    if job.future.done():
        return
    if exception is not None:
        job.future.set_exception(exception)
    else:
        job.future.set_result(outputs)

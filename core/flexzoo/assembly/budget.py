"""The dry run's budget: how many modules, parameters, how much memory and time building a model may take.

A factory builds on the meta device, where weights cost nothing, but modules, Python objects and
time are real: one number (``depth = 29142903``) can ask for millions of modules and tens of
gigabytes. While the dry run builds, :func:`watched` counts every module constructed (a hook on
``nn.Module.__init__``), every parameter and buffer declared (torch's global registration hooks)
and, from those same hooks and from every forward call, the CPU seconds spent and the resident
memory grown. Crossing a limit raises :class:`BudgetExceeded` from inside the factory that crossed
it, so a factory that loops forever creating modules is stopped too; the builder turns it into one
manifest error naming the component being built. Time is the CPU time of the dry run's thread: a
factory waiting for a download of its pretrained weights is not charged for the wait; one that loops is.

The limits (:class:`~flexzoo.manifest.budget.Budget`: ``[budget]`` in the manifest, else
``FLEXZOO_BUDGET_*``, else defaults that let every real model through) are held as they are, except
memory grown, which is also held to half the memory available when the dry run starts, so the dry
run never pushes the machine into swap.
"""

from __future__ import annotations

import contextlib
import os
import resource
import threading
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from flexzoo.manifest.budget import ENVIRONMENT, Budget
from flexzoo.manifest.resolved import ComponentSpec

__all__ = ["ENVIRONMENT", "Budget", "BudgetExceeded", "Watch", "available_memory", "charged_to", "resident_memory",
           "watched"]

_MEMORY_EVERY = 256  # events between two reads of the resident memory (a read is a file read)


class BudgetExceeded(BaseException):
    """The dry run crossed its budget while building ``spec`` (None: outside any component).

    A ``BaseException``, as ``KeyboardInterrupt`` is: a factory's ``except Exception`` does not swallow it.
    """

    def __init__(self, spec: ComponentSpec | None, measured: str, limit: str, setting: str, spent: str) -> None:
        super().__init__(f"{measured}, over the budget of {limit}, {spent}")
        self.spec = spec
        self.measured = measured
        self.limit = limit
        self.setting = setting  # the [budget] key that raises the limit crossed
        self.spent = spent  # time and memory when it stopped


class Watch:
    """What one dry run has spent so far; raises :class:`BudgetExceeded` when a limit is crossed."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.thread = threading.get_ident()
        self.started = time.thread_time()
        self.resident_at_start = resident_memory()
        self.memory_limit = min(budget.memory_mib * 2**20, available_memory() // 2)
        self.modules = 0
        self.elements = 0
        self.events = 0
        self.spec: ComponentSpec | None = None  # the component being built, to charge
        self.exceeded: BudgetExceeded | None = None

    def summary(self) -> str:
        """``after 2.1 s of CPU time and 310 MiB grown``: what the dry run had spent when it stopped."""
        grown = max(resident_memory() - self.resident_at_start, 0)
        return f"after {time.thread_time() - self.started:,.1f} s of CPU time and {grown / 2**20:,.0f} MiB grown"

    def module_made(self) -> None:
        self.modules += 1
        if self.modules > self.budget.modules:
            self.stop(f"{self.modules:,} modules constructed", f"{self.budget.modules:,}", "modules")
        self.check()

    def declared(self, tensor: torch.Tensor | None) -> None:
        # A lazy module's parameter has no size until its first forward; it is counted when materialized.
        if tensor is not None and not torch.nn.parameter.is_lazy(tensor):
            self.elements += tensor.numel()
            if self.elements > self.budget.parameters:
                self.stop(f"{self.elements:,} parameter and buffer elements declared",
                          f"{self.budget.parameters:,}", "parameters")
        self.check()

    def check(self) -> None:
        """Stop on time, and every few events on memory; once stopped, stop every later event too."""
        if self.exceeded is not None:
            raise self.exceeded
        self.events += 1
        seconds = time.thread_time() - self.started
        if seconds > self.budget.seconds:
            self.stop(f"{seconds:,.1f} s of CPU time spent", f"{self.budget.seconds:,g} s", "seconds")
        if self.events % _MEMORY_EVERY == 0:
            grown = resident_memory() - self.resident_at_start
            if grown > self.memory_limit:
                self.stop(f"{grown / 2**20:,.0f} MiB of memory grown", f"{self.memory_limit / 2**20:,.0f} MiB "
                          "(half the memory available, at most)", "memory_mib")

    def stop(self, measured: str, limit: str, setting: str) -> None:
        self.exceeded = BudgetExceeded(self.spec, measured, limit, setting, self.summary())
        raise self.exceeded


_active: Watch | None = None


@contextlib.contextmanager
def watched(budget: Budget) -> Iterator[Watch]:
    """Hold what runs inside to ``budget`` (a dry run inside a dry run shares the outer one's watch)."""
    global _active
    if _active is not None:
        yield _active
        return
    watch = _active = Watch(budget)
    original_init = nn.Module.__init__

    def counting_init(module: nn.Module, *args: Any, **kwargs: Any) -> None:
        original_init(module, *args, **kwargs)
        if threading.get_ident() == watch.thread:
            watch.module_made()

    def declared(module: nn.Module, name: str, tensor: torch.Tensor | None) -> None:
        if threading.get_ident() == watch.thread:
            watch.declared(tensor)

    def forward_called(module: nn.Module, args: Any) -> None:
        if threading.get_ident() == watch.thread:
            watch.check()

    nn.Module.__init__ = counting_init  # type: ignore[method-assign]
    handles = [torch.nn.modules.module.register_module_parameter_registration_hook(declared),
               torch.nn.modules.module.register_module_buffer_registration_hook(declared),
               torch.nn.modules.module.register_module_forward_pre_hook(forward_called)]
    try:
        yield watch
    finally:
        nn.Module.__init__ = original_init  # type: ignore[method-assign]
        for handle in handles:
            handle.remove()
        _active = None


@contextlib.contextmanager
def charged_to(spec: ComponentSpec) -> Iterator[None]:
    """Charge what runs inside to ``spec`` (the component a crossing names); nothing without a watch."""
    watch = _active
    if watch is None or watch.thread != threading.get_ident():
        yield
        return
    before, watch.spec = watch.spec, spec
    try:
        yield
    finally:
        watch.spec = before


def resident_memory() -> int:
    """This process's resident memory in bytes (its peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_memory() -> int:
    """Bytes of memory available to a new allocation (MemAvailable on Linux)."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")

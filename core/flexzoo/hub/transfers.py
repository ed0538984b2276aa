"""What a download or an upload shows, by the display its verb set (:mod:`flexzoo.display`).

huggingface_hub and torch.hub draw their own tqdm bars, with the MB/s, elapsed time and ETA a user of
those libraries knows; rather than imitate them, a transfer lets them draw on a terminal when its verb
draws bars. Anywhere else (a pipe or a file, ``--quiet``) their bars are turned off and the transfer
ends in one plain line of ours: what moved, its size, its seconds and MB/s. With ``--json``, and on
ranks other than 0, nothing is shown. Outside a verb (a library call) the libraries are left as they are.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from flexzoo.display import current_display, on_terminal, rate


@dataclass
class Transfer:
    """One transfer as the code doing it sees it: whether the library may draw its bar, and what moved."""

    bars: bool = False  #: the library's own bar may be drawn (``progress=`` of torch.hub)
    size: int = 0  #: bytes moved; 0 (a file already in the cache) prints no line


@contextlib.contextmanager
def transferring(action: str, what: str) -> Iterator[Transfer]:
    """The block moves ``what``; the caller sets the yielded transfer's ``size`` when bytes did move.

    ``action`` begins the plain line: ``downloaded timm/resnet18.a1_in1k model.safetensors  46.8 MB in
    3.1 s (15.1 MB/s)``.
    """
    display = current_display()
    transfer = Transfer(bars=display == "bars" and on_terminal())
    if display is None:
        yield Transfer()
        return
    started = time.monotonic()
    with contextlib.nullcontext() if transfer.bars else _hub_bars_off():
        yield transfer
    seconds = time.monotonic() - started
    if display != "off" and not transfer.bars and transfer.size:
        print(f"{action} {what}  {transfer.size / 1e6:,.1f} MB in {seconds:.1f} s "
              f"({rate(transfer.size / max(seconds, 1e-9), 'B')})", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _hub_bars_off() -> Iterator[None]:
    """huggingface_hub's bars off for the block (they are on again after it, unless they were off before)."""
    try:
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    except ImportError:  # no huggingface_hub: nothing of it to turn off
        yield
        return
    was_off = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_off:
            enable_progress_bars()

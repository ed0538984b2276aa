"""The compressor check: the step as the host runs it at build time, then as it rebuilds it on load.

A step follows :class:`flexzoo.plugin.CompressionStep`; one with ``record`` follows
:class:`~flexzoo.plugin.RestorableStep`, one with ``pack`` :class:`~flexzoo.plugin.PackingStep`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from flexzoo.plugin.components import RegisteredComponent
from flexzoo.plugin.protocols import CompressionStep, PackingStep, RestorableStep
from flexzoo.testing.inputs import TINY_INPUT, declared, example_arguments, tiny_model


def make_step(entry: RegisteredComponent, example: Mapping[str, Any] | None, *, restoring: bool = False) -> Any:
    """Call the factory as the host does, filling ``input_shape`` and ``context`` when it declares them."""
    from flexzoo.plugin.steps import StepContext

    kwargs = example_arguments(entry, example)
    names = declared(entry)
    if "input_shape" in names:
        kwargs["input_shape"] = TINY_INPUT
    if "context" in names:
        kwargs["context"] = StepContext(input_shape=TINY_INPUT, base_dir=None, restoring=restoring,
                                        has_training_data=False)
    return entry.component.factory(**kwargs)


def check_compressor(entry: RegisteredComponent, example: Mapping[str, Any] | None = None) -> None:
    """The step maps a model to one with the same layout, and the host can store and rebuild its result.

    The compressed model keeps ``backbone`` and ``heads`` and gives outputs of the same shapes; a
    ``record()`` comes with ``restore()`` and is JSON; ``pack``/``unpack`` come together; and a fresh
    model, restored (or the step replayed) and loaded with the stored tensors as ``flexzoo.load``
    does, computes what the compressed model computes.
    """
    import torch

    where = entry.qualified_name
    step = make_step(entry, example)
    _check_members(where, step)
    model, x = tiny_model(seed=0), torch.randn(4, *TINY_INPUT)
    with torch.no_grad():
        expected = {k: v.shape for k, v in model(x).items()}
    compressed = step(model)
    assert isinstance(compressed, torch.nn.Module), \
        f"{where}: the step returned {type(compressed).__name__}; it must return the compressed nn.Module"
    assert isinstance(getattr(compressed, "backbone", None), torch.nn.Module) and \
        isinstance(getattr(compressed, "heads", None), torch.nn.ModuleDict), \
        f"{where}: the compressed model lost its `backbone` or `heads` (an nn.ModuleDict); compress them in place " \
        "or return a model with the same layout"
    with torch.no_grad():
        out = compressed.eval()(x)
    assert isinstance(out, dict), \
        f"{where}: the compressed model returns {type(out).__name__}, not the dict of head outputs"
    got = {k: v.shape for k, v in out.items()}
    assert got == expected, f"{where}: outputs changed shape: {expected} became {got}"
    _check_rebuilds(entry, example, step, compressed, x, out)


def _check_members(where: str, step: Any) -> None:
    assert isinstance(step, CompressionStep), \
        f"{where}: the factory returned {type(step).__name__}, which is not callable as step(model) -> model"
    if hasattr(step, "record"):
        assert isinstance(step, RestorableStep), f"{where}: the step has record() but no restore(model, record); " \
            "the host stores the record so that restore() can rebuild the structure on load: add restore(), " \
            "or drop record() if replaying the step rebuilds it"
    has_pack, has_unpack = hasattr(step, "pack"), hasattr(step, "unpack")
    assert has_pack == has_unpack, f"{where}: the step has {'pack' if has_pack else 'unpack'}() but not " \
        f"{'unpack' if has_pack else 'pack'}(); the host packs before writing and unpacks after reading: add both"
    if has_pack:
        assert isinstance(step, PackingStep), f"{where}: the step does not follow flexzoo.plugin.PackingStep"


def _check_rebuilds(entry: RegisteredComponent, example: Mapping[str, Any] | None, step: Any, compressed: Any,
                    x: Any, out: dict[str, Any]) -> None:
    """Store the compressed model as the artifact does, rebuild it as ``flexzoo.load`` does, compare outputs."""
    import torch

    where = entry.qualified_name
    record = step.record() if hasattr(step, "record") else {}
    assert isinstance(record, dict), f"{where}: record() returned {type(record).__name__}; it must return a dict"
    try:
        stored_record = json.loads(json.dumps(record))
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{where}: record() is not JSON-serializable ({exc}); the artifact stores it as JSON"
                             ) from None
    tensors, packing = compressed.state_dict(), None
    if hasattr(step, "pack"):
        tensors, packing = step.pack(tensors)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in dict(packing).items()), \
            f"{where}: pack() must return its packing as a dict of strings"
    odd = sorted(name for name, t in tensors.items() if type(t) is not torch.Tensor)
    assert not odd, f"{where}: the compressed weights {odd[:3]} are not plain tensors, which safetensors cannot " \
        "store; make the step a PackingStep (pack() them into plain tensors, unpack() them back)"

    rebuilt_step = make_step(entry, example, restoring=True)
    fresh = tiny_model(seed=1)  # other weights: the rebuilt structure must not depend on them
    restorable = hasattr(rebuilt_step, "restore")
    rebuilt = rebuilt_step.restore(fresh, stored_record) if restorable else rebuilt_step(fresh)
    if packing is not None:
        tensors = rebuilt_step.unpack(dict(tensors), dict(packing))
    how = "restore(model, record)" if restorable else "replaying the step on a fresh model"
    try:
        rebuilt.load_state_dict(tensors, strict=True, assign=packing is not None)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise AssertionError(f"{where}: the model rebuilt by {how} does not take the stored weights ({first}); "
                             "record() what the structure depends on and rebuild it from that in restore()"
                             ) from None
    with torch.no_grad():
        again = rebuilt.eval()(x)
    for name, value in out.items():
        torch.testing.assert_close(again[name], value, rtol=1e-4, atol=1e-4, msg=lambda text, name=name: (
            f"{where}: the model rebuilt by {how} and loaded with the stored weights computes a different "
            f"`{name}` than the compressed model: {text}"))
    if restorable and hasattr(rebuilt_step, "record"):
        assert rebuilt_step.record() == stored_record, \
            f"{where}: after restore(), record() must return the record it was given (a loaded model saves again)"

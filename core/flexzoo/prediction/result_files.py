"""The files batch prediction writes its results to: JSON lines, or Parquet with a schema fixed by the heads.

Either way a file holds one record per input, ``{"input": NAME, "outputs": {HEAD: RESULT}}`` as
:func:`~flexzoo.prediction.heads.describe` gives it. In Parquet, ``outputs`` is a struct column with one field
per head, whose type follows the head's kind (so every shard of a run has the same schema, and a folder of shards
reads as one dataset):

============== ==============================================================================================
classification ``struct<label: string, top_k: list<struct<label: string, probability: double>>>``
detection      ``struct<boxes: list<struct<label: string, score: double, x1, y1, x2, y2: double>>>``
segmentation   ``struct<mask: list<list<int64>>, pixels: map<string, int64>>``
regression     ``struct<values: list<double>>``
============== ==============================================================================================

pyarrow is imported only when Parquet is written (``pip install 'flexzoo[parquet]'``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flexzoo.errors import FlexzooError
from flexzoo.prediction.heads import HeadSpec

__all__ = ["FORMATS", "parquet_schema", "write_results"]

FORMATS = ("jsonl", "parquet")


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet  # the submodule, for pyarrow.parquet.write_table
    except ImportError:
        raise FlexzooError("writing Parquet needs pyarrow: pip install 'flexzoo[parquet]' (or choose "
                           "--format jsonl)") from None
    return pyarrow


def parquet_schema(heads: dict[str, HeadSpec]) -> Any:
    """The Parquet schema of the results of a model with ``heads`` (see the module's docstring)."""
    pa = _pyarrow()
    corners = [pa.field(edge, pa.float64()) for edge in ("x1", "y1", "x2", "y2")]
    kinds = {
        "classification": pa.struct([("label", pa.string()), ("top_k", pa.list_(pa.struct(
            [("label", pa.string()), ("probability", pa.float64())])))]),
        "detection": pa.struct([("boxes", pa.list_(pa.struct(
            [pa.field("label", pa.string()), pa.field("score", pa.float64()), *corners])))]),
        "segmentation": pa.struct([("mask", pa.list_(pa.list_(pa.int64()))),
                                   ("pixels", pa.map_(pa.string(), pa.int64()))]),
        "regression": pa.struct([("values", pa.list_(pa.float64()))]),
    }
    return pa.schema([("input", pa.string()),
                      ("outputs", pa.struct([(name, kinds[spec.kind]) for name, spec in heads.items()]))])


def write_results(partial: Path, names: Sequence[str], results: Sequence[dict[str, Any]], file_format: str,
                  heads: dict[str, HeadSpec]) -> None:
    """Write one record per input to ``partial`` (a path :func:`~flexzoo.atomic.write_atomically` hands out)."""
    records = [{"input": name, "outputs": result} for name, result in zip(names, results)]
    if file_format == "jsonl":
        partial.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
        return
    pa = _pyarrow()
    table = pa.Table.from_pylist(records, schema=parquet_schema(heads))
    pa.parquet.write_table(table, partial)

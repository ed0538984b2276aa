"""Loading a ``save_pretrained`` directory's safetensors weights into an encoder, with every mismatch named.

The directory's config.json must describe the architecture the manifest describes (the artifact
records the manifest, not the directory). The config and the files' headers are checked in the
host's dry run, before anything is allocated; the tensors are read in the real build.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from flexzoo.plugin import ArtifactError, ParameterError
from flexzoo.plugin.helpers import fetch_pretrained, safetensors_shapes
from flexzoo_plugin_transformers.sizes import SIZE_KEYS
from flexzoo_plugin_transformers.sources import CONFIG, config_preprocessing, pretrained_source

if TYPE_CHECKING:
    from torch import nn

#: config.json entries that say nothing about the architecture.
_NOT_ARCHITECTURE = {"architectures", "transformers_version", "dtype", "torch_dtype", "id2label", "label2id",
                     "output_hidden_states", "output_attentions", "return_dict", "use_cache", "problem_type"}
_SHOWN = 5
_HINT = "give a directory written by save_pretrained (config.json and model.safetensors)"


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return f"{shown} and {len(items) - _SHOWN} more" if len(items) > _SHOWN else shown


def _weight_files(directory: Path) -> list[Path]:
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        return [directory / shard for shard in shards]
    single = directory / "model.safetensors"
    if single.is_file():
        return [single]
    found = ", ".join(sorted(p.name for p in directory.iterdir())[:_SHOWN]) or "nothing"
    raise ParameterError("pretrained", f"{directory} has no model.safetensors (it holds {found})", _HINT)


def check_config(model: nn.Module, directory: Path) -> None:
    """Refuse a directory whose config.json describes another architecture than the manifest's."""
    path = directory / "config.json"
    try:
        stored = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ParameterError("pretrained", f"cannot read {path}: {exc}", _HINT) from None
    ours = json.loads(model.config.to_json_string())  # type: ignore[operator]
    if stored.get("model_type") != ours["model_type"]:
        raise ParameterError("pretrained", f"{directory} holds a {stored.get('model_type')!r} model, not "
                             f"{ours['model_type']!r}", f"use transformers:{stored.get('model_type')}")
    differing = sorted(key for key, value in stored.items() if key in ours and not key.startswith("_")
                       and key not in _NOT_ARCHITECTURE and ours[key] != value)
    if differing:
        found = [f"{key} (directory {stored[key]!r}, manifest {ours[key]!r})" for key in differing]
        settings = [f"{key} = {json.dumps(stored[key])}" for key in differing if key in SIZE_KEYS]
        others = [f"{key} = {json.dumps(stored[key])}" for key in differing if key not in SIZE_KEYS]
        hint = "describe the directory's model in [backbone]: " + "; ".join(
            [*settings, *([f"config = {{ {', '.join(others)} }}"] if others else [])])
        raise ParameterError("pretrained", f"{path} differs from the manifest's config: {_listing(found)}", hint)


def load_reference(model: nn.Module, reference: str) -> None:
    """Load a repository's weights (fetched and checked by the host) or a local directory's into ``model``.

    A repository's files sit in one snapshot folder of the cache, which is loaded as a directory; on
    the real build its weights are read (hashed and checked against the lock) first.
    """
    source = pretrained_source(reference)
    if source is None:
        load_pretrained(model, reference)
        return
    weights = fetch_pretrained(source)
    if not any(t.is_meta for t in model.state_dict().values()):
        weights.describe(config_preprocessing(weights.config(CONFIG)))
        weights.read()
    load_pretrained(model, str(weights.path().parent))


def load_pretrained(model: nn.Module, directory: str) -> None:
    """Check ``directory`` against ``model`` and load its weights (only the checks run on the meta device).

    transformers reads the files (it maps the names older checkpoints use to the current modules);
    a tensor the model needs that the directory lacks, or one of another shape, is refused.
    """
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise ParameterError("pretrained", f"{path}: no such directory", _HINT)
    check_config(model, path)
    files = _weight_files(path)
    try:
        for file in files:
            safetensors_shapes(file)
    except ArtifactError as exc:
        raise ParameterError("pretrained", str(exc), _HINT) from None
    if any(t.is_meta for t in model.state_dict().values()):
        return
    from transformers import AutoModel

    try:
        loaded, info = AutoModel.from_pretrained(path, config=model.config, local_files_only=True,
                                                 use_safetensors=True, output_loading_info=True)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ParameterError("pretrained", f"transformers cannot load {path}: {str(exc).strip().splitlines()[0]}",
                             _HINT) from None
    problems = [f"{label} {len(keys)}: {_listing(sorted(map(str, keys)))}" for label, keys in
                (("missing", info["missing_keys"]), ("misshapen", info["mismatched_keys"])) if keys]
    if problems:
        raise ParameterError("pretrained", f"{path} does not fit this model: " + "; ".join(problems),
                             "use weights saved from this model type with this config")
    model.load_state_dict(loaded.state_dict())

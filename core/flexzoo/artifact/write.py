"""Writing an artifact: weights as safetensors, metadata in its header, atomically."""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.func import functional_call

from flexzoo._version import PLUGIN_API_VERSION, __version__
from flexzoo.artifact.aligned import save_aligned
from flexzoo.artifact.digest import CHUNK_BYTES, TREE_KEYS, tree_root
from flexzoo.artifact.format import FORMAT, artifact_path, canonical_json, metadata_digest
from flexzoo.atomic import write_atomically
from flexzoo.compression.steps import Compression
from flexzoo.inputs.dtypes import input_dtype
from flexzoo.plugin.safetensors_header import tensor_digest_prefix
from flexzoo.tasks import GENERIC, kind_of, tasks_of

if TYPE_CHECKING:
    from flexzoo.host.registry import Registry
    from flexzoo.manifest.resolved import ResolvedManifest

__all__ = ["artifact_metadata", "model_card", "weights_of", "weights_sha256", "write_artifact"]

#: torch dtype -> safetensors dtype code, as written in the file's header.
SAFETENSORS_DTYPES = {
    torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
    torch.bool: "BOOL",
}


def weights_of(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict as independent, contiguous CPU tensors (safetensors refuses shared storage)."""
    tensors: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, tensor in state.items():
        tensor = tensor.detach().to("cpu").contiguous()
        if tensor.untyped_storage().data_ptr() in seen:
            tensor = tensor.clone()
        seen.add(tensor.untyped_storage().data_ptr())
        tensors[name] = tensor
    return tensors


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> list[tuple[str, str, list[int], memoryview]]:
    return [(name, SAFETENSORS_DTYPES[tensor.dtype], list(tensor.shape),
             tensor.reshape(-1).view(torch.uint8).numpy().data) for name, tensor in sorted(tensors.items())]


def weights_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """The same digest as ``hash_file_tensors`` computes from a written file."""
    digest = hashlib.sha256()
    for name, dtype, shape, data in _tensor_bytes(tensors):
        digest.update(tensor_digest_prefix(name, dtype, shape))
        digest.update(data)
    return digest.hexdigest()


def weights_digests(tensors: dict[str, torch.Tensor]) -> dict[str, str]:
    """The header's weight digests: the sequential ``weights_sha256`` that names the weights, and the tree
    root that loads verify on every core (:mod:`flexzoo.artifact.digest`)."""
    sequential = weights_sha256(tensors)
    root = tree_root(_tensor_bytes(tensors), sequential)
    return {"weights_sha256": sequential, TREE_KEYS[0]: root, TREE_KEYS[1]: str(CHUNK_BYTES)}


def _shapes_of(model: torch.nn.Module, sample: Any) -> tuple[Any, dict[str, torch.Tensor]]:
    """The backbone's features and each head's output for one sample, for their shapes.

    Run on the meta device (no arithmetic: a resnet50 at 224 px costs a second of CPU for real) with
    meta copies of the weights, when the model is in eval mode (so no buffer would change either way);
    a model that cannot run on meta (``.item()``, numpy inside) runs for real, as does one in train mode,
    whose batch-norm statistics the real pass has always updated.
    """
    if not model.training:
        try:
            with torch.no_grad():
                meta = {name: torch.empty_like(value, device="meta") for name, value in
                        [*model.named_parameters(remove_duplicate=False), *model.named_buffers(remove_duplicate=False)]}
                features = functional_call(model.backbone, _under(meta, "backbone."), (_on_meta(sample),))
                return features, {name: functional_call(head, _under(meta, f"heads.{name}."), (features,))
                                  for name, head in model.heads.items()}
        except Exception:  # any failure on meta: the real pass below says what is wrong
            pass
    with torch.no_grad():
        features = model.backbone(sample)
        return features, {name: head(features) for name, head in model.heads.items()}


def _under(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {name.removeprefix(prefix): value for name, value in state.items() if name.startswith(prefix)}


def _on_meta(sample: Any) -> Any:
    if isinstance(sample, dict):
        return {name: value.to("meta") for name, value in sample.items()}
    return sample.to("meta")


def model_card(model: torch.nn.Module, manifest: ResolvedManifest, tensors: dict[str, torch.Tensor],
               data: dict[str, Any] | None = None, registry: Registry | None = None) -> dict[str, Any]:
    """Parameters, bytes, each head's output shape for one sample, its kind (the name of its task, which
    decodes its output for ``zoo predict``) and class names, and the preprocessing.

    :param registry: where each head's component declares its tasks (default: none declared, the generic ones).
    :param data: from the training data: ``preprocessing`` (how a raw image becomes an input: input size,
        resize, interpolation, channel order, scale, mean and std) and ``labels`` (class names per target).
    """
    heads: dict[str, Any] = {}
    feature_size = None
    feature_maps = None
    shapes = manifest.input_shapes()
    if manifest.model.input_shape is not None or shapes is not None:
        dtype = input_dtype(model)
        sample = ({name: torch.zeros((1, *shape), dtype=dtype) for name, shape in shapes.items()}
                  if shapes is not None else torch.zeros((1, *(manifest.model.input_shape or ())), dtype=dtype))
        features, outputs = _shapes_of(model, sample)
        if isinstance(features, dict):  # feature maps: name -> [channels, height, width]
            feature_maps = {name: list(value.shape[1:]) for name, value in features.items()}
        else:
            feature_size = int(features.shape[-1])
        for name in model.heads:
            output = list(outputs[name].shape)
            heads[name] = {"use": manifest.heads[name].use, "output_shape": output,
                           "kind": _kind(manifest, name, output, registry)}
    else:
        heads = {name: {"use": spec.use, "output_shape": None} for name, spec in manifest.heads.items()}
    labels = (data or {}).get("labels") or {}
    train_heads = (manifest.train or {}).get("heads", {})
    for name, head in heads.items():
        target = train_heads.get(name, {}).get("target", name)
        if target in labels:
            head["labels"] = list(labels[target])
    dtypes = sorted({str(t.dtype).removeprefix("torch.") for t in tensors.values()})
    card = {
        "input_shape": list(manifest.model.input_shape) if manifest.model.input_shape else None,
        "backbone": manifest.backbone.use,
        **({"inputs": {name: {"shape": list(spec.shape), "backbone": spec.backbone.use}
                       for name, spec in manifest.inputs.items()}} if manifest.inputs else {}),
        "feature_size": feature_size,
        **({"feature_maps": feature_maps} if feature_maps else {}),
        "parameters": sum(p.numel() for p in model.parameters()),
        "bytes": sum(t.numel() * t.element_size() for t in tensors.values()),
        "dtype": ", ".join(dtypes),
        "heads": heads,
    }
    if data and data.get("preprocessing"):
        card["preprocessing"] = data["preprocessing"]
    return card


def _kind(manifest: ResolvedManifest, head: str, output_shape: list[int], registry: Registry | None) -> str:
    """The name of head ``head``'s task: the one its loss picks among its component's tasks."""
    spec = manifest.heads[head]
    tasks = tasks_of(registry, spec.use) if registry is not None else GENERIC
    loss = ((manifest.train or {}).get("heads", {}).get(head) or {}).get("loss")
    return kind_of(tasks, spec.params, loss, output_shape).name


def _plugin_metadata(model: torch.nn.Module, manifest: ResolvedManifest, registry: Registry) -> dict[str, Any]:
    """What each plugin's ``flexzoo_artifact_metadata`` adds, keyed by plugin name (called through pluggy)."""
    manager = registry.manager
    implementers = [impl.plugin_name for impl in manager.hook.flexzoo_artifact_metadata.get_hookimpls()]
    extra = {}
    for name in implementers:
        others = [manager.get_plugin(other) for other in implementers if other != name]
        call = manager.subset_hook_caller("flexzoo_artifact_metadata", remove_plugins=others)
        added = [entry for entry in call(model=model, manifest=manifest) if entry]
        if added:
            extra[name] = dict(added[0])
    return extra


def artifact_metadata(model: torch.nn.Module, manifest: ResolvedManifest, registry: Registry,
                      tensors: dict[str, torch.Tensor], compression: list[dict[str, Any]],
                      report: dict[str, Any] | None = None, training: dict[str, Any] | None = None,
                      data: dict[str, Any] | None = None, adapters: dict[str, Any] | None = None,
                      pretrained: list[dict[str, Any]] | None = None, profile: dict[str, Any] | None = None
                      ) -> dict[str, str]:
    """The header metadata: format, the JSON document, and the hashes that protect both.

    :param compression: each [[compress]] step's record and packing (see ``Compression.pack``).
    :param report: the compression report (sizes, latency, metrics before and after), if measured.
    :param training: what a training run records (data fingerprint, final metrics, metrics as JSON lines).
    :param adapters: an adapter artifact's record (base path and sha256, rank, alpha, layers).
    :param pretrained: each pretrained source the build read: reference, library, files (repository,
        commit, file, size, sha256) and the preprocessing its config declares (see :mod:`flexzoo.hub.weights`).
    :param profile: the reference profile drift monitoring compares served inputs with (:mod:`flexzoo.monitoring`).
    """
    plugins = {}
    for name in manifest.plugins():
        plugin = registry.plugin(name)
        plugins[name] = {"distribution": plugin.distribution, "version": plugin.version} if plugin else {}
    info = {
        "manifest": manifest.to_dict(),
        "plugins": plugins,
        "versions": {"flexzoo": __version__, "plugin_api": PLUGIN_API_VERSION,
                     "torch": torch.__version__, "python": platform.python_version()},
        "card": model_card(model, manifest, tensors, data, registry),
        "extra": _plugin_metadata(model, manifest, registry),
    }
    if compression:
        info["compression"] = {"steps": compression}
        if report:
            info["compression"]["report"] = report
    if training is not None:
        info["training"] = training
    if adapters is not None:
        info["adapters"] = adapters
    if pretrained:
        info["pretrained"] = pretrained
    if profile is not None:
        info["profile"] = profile
    document = canonical_json(info)
    return {"format": FORMAT, "flexzoo": document, "metadata_sha256": metadata_digest(document),
            **weights_digests(tensors)}


def write_artifact(model: torch.nn.Module, manifest: ResolvedManifest, out_dir: str | Path, registry: Registry, *,
                   compression: Compression | None = None, training: dict[str, Any] | None = None,
                   data: dict[str, Any] | None = None,
                   adapters: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
                   pretrained: list[dict[str, Any]] | None = None, profile: dict[str, Any] | None = None) -> Path:
    """Write ``<out_dir>/<model name>.safetensors`` atomically and return its path.

    The weights are hashed once, from the tensors written.

    :param adapters: what an adapter artifact stores in place of the model's state, and its record
        (:func:`flexzoo.features.lora.adapters.adapter_state`).
    """
    state, records = compression.pack(model) if compression else (model.state_dict(), [])
    if adapters is not None:
        state = adapters[0]
    tensors = weights_of(state)
    metadata = artifact_metadata(model, manifest, registry, tensors, records,
                                 compression.report if compression else None, training, data,
                                 adapters[1] if adapters is not None else None, pretrained, profile)
    target = artifact_path(out_dir, manifest.model.name)
    return write_atomically(target, lambda partial: save_aligned(tensors, partial, metadata, SAFETENSORS_DTYPES))

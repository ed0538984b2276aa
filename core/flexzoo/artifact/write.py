"""Writing an artifact: weights as safetensors, metadata in its header, atomically.

The weights are hashed while they are written (:class:`~flexzoo.artifact.digest.WeightDigests`), from the
tensors written, and their digests fill the header's placeholders once both are known.
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch.func import functional_call

from flexzoo._version import PLUGIN_API_VERSION, __version__
from flexzoo.artifact.aligned import save_aligned
from flexzoo.artifact.digest import WeightDigests, sequential_sha256
from flexzoo.artifact.format import FORMAT, artifact_path, canonical_json, metadata_digest
from flexzoo.atomic import write_atomically
from flexzoo.compression.steps import Compression
from flexzoo.inputs.dtypes import input_dtype
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
    return sequential_sha256(_tensor_bytes(tensors))


def weights_digests(tensors: dict[str, torch.Tensor]) -> WeightDigests:
    """The header's weight digests, hashing in threads from now on: the sequential ``weights_sha256`` that names
    the weights, and the tree root that loads verify on every core (:mod:`flexzoo.artifact.digest`)."""
    return WeightDigests(_tensor_bytes(tensors))


def _shapes_of(model: torch.nn.Module, sample: Any, features: Any = None) -> tuple[Any, dict[str, torch.Tensor]]:
    """The backbone's features and each head's output for one sample, for their shapes.

    Run on the meta device (no arithmetic: a resnet50 at 224 px costs a second of CPU for real) with
    meta copies of the weights, when the model is in eval mode (so no buffer would change either way);
    a model that cannot run on meta (``.item()``, numpy inside) runs for real, as does one in train mode,
    whose batch-norm statistics the real pass has always updated.

    :param features: the backbone's output for a meta batch, as a dry run of this architecture measured it
        (batch first): only the heads run, on one sample of its shape (the backbone's meta pass is most of
        the cost: batch norm on meta runs in Python).
    """
    if not model.training:
        try:
            with torch.no_grad():
                on_meta = _one_sample(features) if features is not None else \
                    functional_call(model.backbone, _meta_state(model.backbone), (_on_meta(sample),))
                return on_meta, {name: functional_call(head, _meta_state(head), (on_meta,))
                                 for name, head in model.heads.items()}
        except Exception:  # any failure on meta: the backbone's meta pass, then the real pass, say what is wrong
            if features is not None:
                return _shapes_of(model, sample)
    with torch.no_grad():
        features = model.backbone(sample)
        return features, {name: head(features) for name, head in model.heads.items()}


def _meta_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Meta copies of ``module``'s parameters and buffers (every name of a shared one)."""
    return {name: torch.empty_like(value, device="meta") for name, value in
            [*module.named_parameters(remove_duplicate=False), *module.named_buffers(remove_duplicate=False)]}


def _one_sample(features: Any) -> Any:
    """Empty meta tensors shaped like ``features`` (a tensor, or maps by name) for a batch of one."""
    if isinstance(features, dict):
        return {name: _one_sample(value) for name, value in features.items()}
    return torch.empty((1, *features.shape[1:]), dtype=features.dtype, device="meta")


def _on_meta(sample: Any) -> Any:
    if isinstance(sample, dict):
        return {name: value.to("meta") for name, value in sample.items()}
    return sample.to("meta")


def model_card(model: torch.nn.Module, manifest: ResolvedManifest, tensors: dict[str, torch.Tensor],
               data: dict[str, Any] | None = None, registry: Registry | None = None, features: Any = None
               ) -> dict[str, Any]:
    """Parameters, bytes, each head's output shape for one sample, its kind (the name of its task, which
    decodes its output for ``zoo predict``) and class names, and the preprocessing.

    :param registry: where each head's component declares its tasks (default: none declared, the generic ones).
    :param data: from the training data: ``preprocessing`` (how a raw image becomes an input: input size,
        resize, interpolation, channel order, scale, mean and std) and ``labels`` (class names per target).
    :param features: the backbone's output for a meta batch, as the build's dry run measured it on this
        architecture (None: the backbone runs on meta here).
    """
    heads: dict[str, Any] = {}
    feature_size = None
    feature_maps = None
    shapes = manifest.input_shapes()
    if manifest.model.input_shape is not None or shapes is not None:
        dtype = input_dtype(model)
        sample = ({name: torch.zeros((1, *shape), dtype=dtype) for name, shape in shapes.items()}
                  if shapes is not None else torch.zeros((1, *(manifest.model.input_shape or ())), dtype=dtype))
        features, outputs = _shapes_of(model, sample, features)
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
                      pretrained: list[dict[str, Any]] | None = None, profile: dict[str, Any] | None = None,
                      features: Any = None) -> dict[str, str]:
    """The header metadata: format, the JSON document and its hash, and placeholders for the weights' digests
    (:meth:`WeightDigests.placeholder`, filled in as the weights are written).

    :param compression: each [[compress]] step's record and packing (see ``Compression.pack``).
    :param report: the compression report (sizes, latency, metrics before and after), if measured.
    :param training: what a training run records (data fingerprint, final metrics, metrics as JSON lines).
    :param adapters: an adapter artifact's record (base path and sha256, rank, alpha, layers).
    :param pretrained: each pretrained source the build read: reference, library, files (repository,
        commit, file, size, sha256) and the preprocessing its config declares (see :mod:`flexzoo.hub.weights`).
    :param profile: the reference profile drift monitoring compares served inputs with (:mod:`flexzoo.monitoring`).
    :param features: the backbone's output the dry run measured, for the card (see :func:`model_card`).
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
        "card": model_card(model, manifest, tensors, data, registry, features),
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
            **WeightDigests.placeholder()}


def write_artifact(model: torch.nn.Module, manifest: ResolvedManifest, out_dir: str | Path, registry: Registry, *,
                   compression: Compression | None = None, training: dict[str, Any] | None = None,
                   data: dict[str, Any] | None = None,
                   adapters: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None,
                   pretrained: list[dict[str, Any]] | None = None, profile: dict[str, Any] | None = None,
                   features: Any = None) -> Path:
    """Write ``<out_dir>/<model name>.safetensors`` atomically and return its path.

    The weights are hashed once, from the tensors written, while they are written.

    :param adapters: what an adapter artifact stores in place of the model's state, and its record
        (:func:`flexzoo.features.lora.adapters.adapter_state`).
    :param features: the backbone's output the dry run measured, for the card (see :func:`model_card`).
    """
    state, records = compression.pack(model) if compression else (model.state_dict(), [])
    if adapters is not None:
        state = adapters[0]
    tensors = weights_of(state)
    metadata = artifact_metadata(model, manifest, registry, tensors, records,
                                 compression.report if compression else None, training, data,
                                 adapters[1] if adapters is not None else None, pretrained, profile, features)
    target = artifact_path(out_dir, manifest.model.name)

    def write(partial: Path) -> None:
        digests = weights_digests(tensors)  # nothing changes the tensors from here on
        save_aligned(tensors, partial, metadata, SAFETENSORS_DTYPES, digests.metadata)

    return write_atomically(target, write)

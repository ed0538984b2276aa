"""Assembling a model from a resolved manifest: a dry run on the meta device, then the real build.

The dry run allocates nothing, yet runs every factory and a forward pass, so a value a factory
rejects, an ``input_shape`` the model cannot take, an ``[[init]]`` pattern that matches nothing,
and a model too large for this machine are all refused before any memory is spent. It runs within
a budget of modules, parameters, memory and seconds (:mod:`flexzoo.assembly.budget`), so no
manifest can make the dry run itself exhaust the machine.
"""

from __future__ import annotations

import fnmatch
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from flexzoo.assembly.budget import ENVIRONMENT as BUDGET_ENVIRONMENT
from flexzoo.assembly.budget import Budget, BudgetExceeded, available_memory, charged_to, watched
from flexzoo.assembly.meta_shortcuts import meta_shortcuts
from flexzoo.compression.steps import Compression
from flexzoo.errors import ManifestError, ParameterError, Problem
from flexzoo.host.registry import Registry, closest, default_registry
from flexzoo.inputs.dtypes import declared_input_dtype
from flexzoo.manifest import schema
from flexzoo.manifest.resolved import ComponentSpec, EnsembleMember, ResolvedManifest
from flexzoo.plugin.components import host_arguments
from flexzoo.plugin.protocols import DataDependentInitializer, FeatureMap, Strategy
from flexzoo.plugin.steps import StepContext

__all__ = ["BuildPlan", "ZooModel", "assemble", "available_memory", "compression_steps", "declared_preprocessing",
           "ensemble_members",
           "initialize", "instantiate", "plan", "same_architecture", "strategy"]


class ZooModel(nn.Module):
    """A backbone and named heads; ``forward`` returns a dict of head outputs keyed by head name.

    ``manifest`` is the resolved manifest the model was built from and ``compression`` its
    ``[[compress]]`` steps with their report: what ``flexzoo.save`` records. The pipeline sets both.
    """

    manifest: ResolvedManifest | None
    compression: Compression | None

    def __init__(self, backbone: nn.Module, heads: dict[str, nn.Module]) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleDict(heads)
        self.manifest = None
        self.compression = None

    def forward(self, *inputs: Any) -> dict[str, torch.Tensor]:
        """One batch (a tensor), or for a model of several ``[inputs]`` one tensor per input in their
        order, or one dict of them keyed by input name."""
        features = self.backbone(*inputs)
        return {name: head(features) for name, head in self.heads.items()}

    def _repr_html_(self) -> str:
        """The model card in Jupyter: name, components with their parameters, sizes, compression."""
        import html

        manifest = self.manifest
        title = f"{manifest.model.name} {manifest.model.version}" if manifest else type(self).__name__
        rows = []
        if manifest is not None:
            rows.append(("input shape", str(list(manifest.model.input_shape or []))))
            rows.append(("backbone", f"{manifest.backbone.use} {manifest.backbone.params}"))
            rows += [(f"head {name}", f"{spec.use} {spec.params}") for name, spec in manifest.heads.items()]
            rows += [(f"compress {i}", f"{spec.use} {spec.params}") for i, spec in enumerate(manifest.compress)]
        rows.append(("parameters", f"{sum(p.numel() for p in self.parameters()):,}"))
        rows.append(("bytes", f"{sum(t.numel() * t.element_size() for t in self.state_dict().values()):,}"))
        body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        about = f"<p>{html.escape(manifest.model.description)}</p>" if manifest and manifest.model.description else ""
        return f"<div><strong>{html.escape(title)}</strong>{about}<table>{body}</table></div>"


@dataclass(frozen=True)
class BuildPlan:
    """What the dry run learned: what heads receive (a feature size, or feature maps) and the model's size.

    ``meta_model`` is the model it built on the meta device (no weights), and ``meta_features`` its backbone's
    output for a meta batch of ``[model] input_shape`` (None for a model of several inputs or without a shape):
    a model of the same architecture has the same shapes, which the model card records without running the
    backbone again.
    """

    in_features: int
    parameters: int
    bytes: int
    feature_maps: tuple[FeatureMap, ...] = ()
    preprocessing: dict[str, Any] | None = None  # what its pretrained weights expect (declared_preprocessing)
    meta_model: ZooModel | None = field(default=None, repr=False, compare=False)
    meta_features: Any = field(default=None, repr=False, compare=False)

    @property
    def head_input(self) -> int | tuple[FeatureMap, ...]:
        """What the backbone returns to the heads: the pooled feature size, or the maps it declares."""
        return self.feature_maps or self.in_features


class _Builder:
    def __init__(self, manifest: ResolvedManifest, registry: Registry, context: StepContext | None = None) -> None:
        self.manifest = manifest
        self.registry = registry
        self.source = manifest.where()
        self.context = context or dry_run_context(manifest)
        self.shape_key = "model.input_shape"  # where a rejected input shape is reported
        self._meta_outputs: dict[tuple[int, tuple[int, ...]], tuple[nn.Module, Any]] = {}  # see ``forward``

    def fail(self, key: str, message: str, hint: str = "") -> ManifestError:
        return ManifestError(self.source.file, [self.source.problem(key, message, hint)])

    def factory(self, spec: ComponentSpec) -> Callable[..., Any]:
        return self.registry.resolve(spec.kind, spec.use).component.factory

    def call(self, spec: ComponentSpec, **host: Any) -> Any:
        """Call a component's factory; a value it rejects becomes a manifest error at its key."""
        factory = self.factory(spec)
        annotations = {p.name: p.annotation for p in schema.parameters(factory)}
        kwargs = {name: schema.to_python(value, annotations.get(name)) for name, value in spec.params.items()}
        try:
            with charged_to(spec):
                return factory(**kwargs, **host)
        except ParameterError as exc:
            key = self.shape_key if exc.parameter == "input_shape" else f"{spec.key}.{exc.parameter}"
            raise self.fail(key, f"{spec.use}: {exc}", exc.hint) from exc
        except (ValueError, TypeError, AssertionError) as exc:
            raise self.fail(spec.key, f"{spec.use} rejected its parameters: {exc}") from exc

    def call_with_host_values(self, spec: ComponentSpec, given: tuple[str, ...] = (), **supply: Callable[[], Any]
                              ) -> Any:
        """Call a factory with the host's values for the parameters it declares (``HOST_PARAMETERS``).

        ``supply`` adds what only the call site knows (a head's ``in_features``); ``given`` names the ones
        passed whether or not the factory declares them (what a head consumes).
        """
        supplied: dict[str, Callable[[], Any]] = {
            "input_shape": lambda: self.input_shape(spec), "context": lambda: self.context,
            "members": self.members, "returns": lambda: "maps" if self.map_heads() else "pooled",
            "manifest": lambda: self.api_1_manifest(spec), **supply}
        declared = {*(p.name for p in schema.parameters(self.factory(spec))), *given}
        return self.call(spec, **host_arguments(spec.kind, declared, supplied))

    def input_shape(self, spec: ComponentSpec) -> tuple[int, ...]:
        """``[model] input_shape``, for a factory that declares it."""
        if self.manifest.model.input_shape is None:
            raise self.fail("model.input_shape", f"{spec.use} needs [model] input_shape",
                            "add input_shape = [...] (one sample, no batch dimension)")
        return self.manifest.model.input_shape

    def api_1_manifest(self, spec: ComponentSpec) -> ResolvedManifest:
        """The whole manifest, for a plugin API 1 factory that asks for it (deprecated)."""
        warnings.warn(f"{spec.use}: a factory parameter `manifest` is plugin API 1, deprecated; take "
                      "`context: StepContext` instead (docs/plugins.md)", DeprecationWarning, stacklevel=2)
        return self.manifest

    def takes_maps(self, spec: ComponentSpec) -> bool:
        """Whether a head consumes feature maps (its factory declares ``feature_maps``), not pooled features."""
        return any(p.name == "feature_maps" for p in schema.parameters(self.factory(spec)))

    def map_heads(self) -> list[str]:
        return [name for name, spec in self.manifest.heads.items() if self.takes_maps(spec)]

    def backbone(self) -> nn.Module:
        """The backbone, asked for feature maps when the heads take them; a backbone that cannot is refused."""
        if self.manifest.inputs:
            return self.fusion()
        spec, map_heads = self.manifest.backbone, self.map_heads()
        if not map_heads:
            return self.call_with_host_values(spec)
        pooled = [name for name in self.manifest.heads if name not in map_heads]
        if pooled:
            raise self.fail(f"heads.{pooled[0]}", f"head `{pooled[0]}` ({self.manifest.heads[pooled[0]].use}) takes "
                            f"pooled features, but head `{map_heads[0]}` ({self.manifest.heads[map_heads[0]].use}) "
                            f"takes feature maps; the backbone {spec.use} returns one or the other",
                            "give every head of this model the same kind of input")
        if not any(p.name == "returns" for p in schema.parameters(self.factory(spec))):
            raise self.fail(f"heads.{map_heads[0]}", f"head `{map_heads[0]}` ({self.manifest.heads[map_heads[0]].use}) "
                            f"takes feature maps, but the backbone {spec.use} returns pooled features (batch, "
                            "features) only", "use a backbone that returns feature maps, e.g. cnn, or timm with "
                            "features_only = true")
        try:
            return self.call_with_host_values(spec)
        except ManifestError as exc:
            note = f" (head `{map_heads[0]}` takes feature maps)"
            raise ManifestError(exc.file, [replace(p, message=p.message + note) for p in exc.problems]) from exc

    def fusion(self) -> nn.Module:
        """The ``[fusion]`` over one backbone per ``[inputs]`` entry, each built on its own shape.

        Each branch's feature size is measured on the meta device first (as an ensemble's members' are).
        """
        assert self.manifest.inputs is not None
        branches: dict[str, nn.Module] = {}
        features: dict[str, int] = {}
        for name, spec in self.manifest.inputs.items():
            branch = replace(self.manifest, model=replace(self.manifest.model, input_shape=spec.shape),
                             backbone=spec.backbone, inputs=None)
            builder = _Builder(branch, self.registry, self.context)
            builder.shape_key = f"inputs.{name}.shape"
            with torch.device("meta"):
                features[name] = builder.feature_size(builder.backbone())
            branches[name] = builder.backbone()
        return self.call(self.manifest.backbone, **host_arguments("backbone", ("branches", "features"), {
            "branches": lambda: branches, "features": lambda: features}))

    def members(self) -> list[ZooModel]:
        """The [ensemble] members, each built from its stored manifest with only the head being combined.

        Their weights are whatever the factories make: the transfer stage (or ``flexzoo.load``) replaces them.
        """
        ensemble = self.manifest.ensemble
        assert ensemble is not None, "validation refuses a backbone taking members without [ensemble]"
        built = []
        for member in ensemble.members:
            builder = _Builder(member_manifest(member, ensemble.output), self.registry)
            with torch.device("meta"):
                head_input = builder.head_input(builder.backbone())
            model = builder.assemble(head_input)
            model.manifest = member.manifest
            built.append(model)
        return built

    def head_input(self, backbone: nn.Module) -> int | tuple[FeatureMap, ...]:
        """What the heads will receive: the pooled feature size, or the feature maps the backbone declares."""
        return self.maps_of(backbone) if self.map_heads() else self.feature_size(backbone)

    def maps_of(self, backbone: nn.Module) -> tuple[FeatureMap, ...]:
        """The backbone's declared feature maps, checked against what it returns for ``input_shape``."""
        use = self.manifest.backbone.use
        declared = tuple(getattr(backbone, "feature_maps", None) or ())
        if not declared or not all(isinstance(m, FeatureMap) for m in declared):
            raise self.fail("backbone", f"{use} was asked for feature maps but sets no `feature_maps` "
                            "(a tuple of FeatureMap)", "the backbone's plugin must declare its maps "
                            "(docs/plugins.md, Backbone)")
        shape = self.manifest.model.input_shape
        if shape is None:
            return declared
        maps = self.forward(backbone, shape)
        names = [m.name for m in declared]
        if not isinstance(maps, dict) or list(maps) != names:
            got = list(maps) if isinstance(maps, dict) else type(maps).__name__
            raise self.fail("backbone", f"{use} declares feature maps {names} but returned {got}")
        for declared_map in declared:
            got = tuple(maps[declared_map.name].shape)
            if len(got) != 4 or got[1] != declared_map.channels:
                raise self.fail("backbone", f"{use}: map `{declared_map.name}` has shape {list(got)}; it declares "
                                f"{declared_map.channels} channels (batch, channels, height, width)")
        return declared

    def forward(self, backbone: nn.Module, shape: tuple[int, ...]) -> Any:
        """The backbone on an empty meta batch of two samples of ``shape``; a failure names input_shape.

        Run once per backbone and shape: the feature size and every head's check read the same meta
        output (it holds no data), instead of running the backbone again for each head.
        """
        key = (id(backbone), tuple(shape))
        if key in self._meta_outputs:  # the backbone is kept with its output, so its id is not reused
            return self._meta_outputs[key][1]
        try:
            backbone.eval()
            with charged_to(self.manifest.backbone):
                output = backbone(torch.empty((2, *shape), device="meta", dtype=declared_input_dtype(backbone)))
            self._meta_outputs[key] = (backbone, output)
            return output
        except Exception as exc:
            raise self.fail(self.shape_key,
                            f"the backbone {self.manifest.backbone.use} cannot take input of shape {list(shape)}: "
                            f"{_first_line(exc)}",
                            "set input_shape to what this backbone takes, or change its parameters") from exc

    def feature_size(self, backbone: nn.Module) -> int:
        shape = self.manifest.model.input_shape
        shapes = self.manifest.input_shapes()
        if shapes is not None:
            return self.fused_feature_size(backbone, shapes)
        if shape is None:
            size = getattr(backbone, "num_features", None)
            if not isinstance(size, int):
                raise self.fail("model.input_shape", "cannot tell the backbone's feature size",
                                "add input_shape = [...] to [model]")
            return size
        features = self.forward(backbone, shape)
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise self.fail("backbone", f"{self.manifest.backbone.use} returned features of shape {got}; "
                            "heads need (batch, features)")
        return int(features.shape[1])

    def fused_feature_size(self, backbone: nn.Module, shapes: dict[str, tuple[int, ...]]) -> int:
        """The fusion's feature size, from a forward pass of one meta batch per input."""
        branches = getattr(backbone, "branches", {})
        sample = {name: torch.empty((2, *shape), device="meta",
                                    dtype=declared_input_dtype(branches[name]) if name in branches else None)
                  for name, shape in shapes.items()}
        try:
            backbone.eval()
            with charged_to(self.manifest.backbone):
                features = backbone(sample)
        except Exception as exc:
            raise self.fail("fusion", f"the fusion {self.manifest.backbone.use} cannot join the inputs' features: "
                            f"{_first_line(exc)}", "check [fusion] and each input's backbone") from exc
        if not isinstance(features, torch.Tensor) or features.ndim != 2:
            got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
            raise self.fail("fusion", f"{self.manifest.backbone.use} returned features of shape {got}; "
                            "heads need (batch, features)")
        return int(features.shape[1])

    def head(self, spec: ComponentSpec, head_input: int | tuple[FeatureMap, ...]) -> nn.Module:
        """Call a head's factory with what it consumes: ``in_features`` or ``feature_maps`` (and ``input_shape``)."""
        if isinstance(head_input, tuple):
            return self.call_with_host_values(spec, ("feature_maps",), feature_maps=lambda: list(head_input))
        return self.call_with_host_values(spec, ("in_features",), in_features=lambda: head_input)

    def assemble(self, head_input: int | tuple[FeatureMap, ...]) -> ZooModel:
        heads = {name: self.head(spec, head_input) for name, spec in self.manifest.heads.items()}
        return ZooModel(self.backbone(), heads)

    def dry_run(self) -> BuildPlan:
        """Run every factory and a forward pass on the meta device; raise one ManifestError with every problem.

        Independent checks all run: each head, each ``[[init]]`` step and pattern, each ``[[compress]]``
        step, and the size check. Only what needs a part that failed (the heads and patterns need the
        backbone) is skipped. Crossing the budget stops the dry run at once, naming the component.
        """
        try:
            with watched(Budget.of(self.manifest.budget)):
                return self.checked_plan()
        except BudgetExceeded as exc:
            raise self.over_budget(exc) from None

    def over_budget(self, exc: BudgetExceeded) -> ManifestError:
        """The error for a crossed budget: the component (at its largest size parameter), the measured size."""
        spec = exc.spec
        variable = BUDGET_ENVIRONMENT[exc.setting]
        fix = f"raise the budget if the model is meant to be this large: [budget] {exc.setting} = ... (or {variable})"
        if spec is None:
            return self.fail("model", f"the dry run crossed its budget: {exc.measured}, over the budget of "
                             f"{exc.limit}, {exc.spent}", fix)
        largest = _largest_size(spec.params)
        key = f"{spec.key}.{largest[0]}" if largest else spec.key
        sizes = f"; its largest size is {largest[1]}" if largest else ""
        return self.fail(key, f"{spec.use}: building it crossed the dry-run budget: {exc.measured}, over the budget "
                         f"of {exc.limit}, {exc.spent}{sizes}", f"make it smaller, or {fix}")

    def checked_plan(self) -> BuildPlan:
        """The dry run's checks, every problem collected (see :meth:`dry_run`)."""
        problems: list[Problem] = []
        with torch.device("meta"), meta_shortcuts():
            backbone = self.attempt(problems, self.backbone)
            head_input = self.attempt(problems, self.head_input, backbone) if backbone is not None else None
            heads: dict[str, nn.Module] = {}
            if head_input is not None:
                for name, spec in self.manifest.heads.items():
                    head = self.attempt(problems, self.head, spec, head_input)
                    if head is not None and self.attempt(problems, self.head_takes, name, head, backbone):
                        heads[name] = head
        model = ZooModel(backbone, heads) if backbone is not None else None
        module_names = [name for name, _ in model.named_modules() if name] if model is not None else []
        for index, step in enumerate(self.manifest.init):
            self.attempt(problems, self.call_with_host_values, step)
            if model is not None and len(heads) == len(self.manifest.heads):
                self.attempt(problems, self.pattern_matches, index, step, module_names)
        for step in self.manifest.compress:
            self.attempt(problems, self.call_with_host_values, step)
        size = count = 0
        if model is not None:
            count = sum(p.numel() for p in model.parameters())
            size = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])
            self.attempt(problems, self.fits_in_memory, count, size)
        if problems:
            raise ManifestError(self.source.file, problems)
        assert head_input is not None and model is not None
        measured = {"preprocessing": declared_preprocessing(model), "meta_model": model,
                    "meta_features": self.measured_features(backbone)}
        if isinstance(head_input, tuple):
            return BuildPlan(in_features=0, parameters=count, bytes=size, feature_maps=head_input, **measured)
        return BuildPlan(in_features=head_input, parameters=count, bytes=size, **measured)

    def measured_features(self, backbone: nn.Module) -> Any:
        """The backbone's output for the meta batch of ``[model] input_shape``, if the dry run ran it."""
        shape = self.manifest.model.input_shape
        if shape is None or self.manifest.input_shapes() is not None:
            return None
        return self._meta_outputs.get((id(backbone), tuple(shape)), (None, None))[1]

    def attempt(self, problems: list[Problem], check: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one check of the dry run; on a ManifestError keep its problems and return None."""
        try:
            return check(*args, **kwargs)
        except ManifestError as exc:
            problems.extend(exc.problems)
            return None

    def head_takes(self, name: str, head: nn.Module, backbone: nn.Module) -> bool:
        """Refuse a head that cannot take the backbone's output (run on the meta device)."""
        shape, shapes = self.manifest.model.input_shape, self.manifest.input_shapes()
        if shape is None and shapes is None:
            return True
        if shapes is not None:  # a fusion: pooled features of its measured size
            features = torch.empty((2, self.fused_feature_size(backbone, shapes)), device="meta")
        else:  # on the meta device, as the head is (a backbone may ignore the device, as keras does)
            features = _meta_like(self.forward(backbone, shape))
        try:
            with charged_to(self.manifest.heads[name]):
                head.eval()(features)
        except Exception as exc:
            what = f"features of size {features.shape[1]}" if isinstance(features, torch.Tensor) else \
                "feature maps " + ", ".join(f"{k} {list(v.shape[1:])}" for k, v in features.items())
            raise self.fail(f"heads.{name}", f"head `{name}` ({self.manifest.heads[name].use}) cannot take the "
                            f"{what} of the backbone {self.manifest.backbone.use}: {_first_line(exc)}") from exc
        return True

    def pattern_matches(self, index: int, step: ComponentSpec, module_names: list[str]) -> None:
        """Refuse an ``[[init]]`` pattern that matches no module of the model."""
        if not any(fnmatch.fnmatchcase(name, step.match or "*") for name in module_names):
            near = closest(step.match or "", module_names) or module_names[:3]
            raise self.fail(f"init[{index}].match", f"`{step.match}` matches no module of the model",
                            "module names look like " + ", ".join(f"`{n}`" for n in near))

    def fits_in_memory(self, count: int, size: int) -> None:
        """Refuse a model larger than the memory free here now (nothing has been allocated yet).

        ``zoo build`` and ``zoo train`` check again before they build: a manifest that validated when the
        machine had the memory is refused, with the estimate and the free memory, when it no longer has.
        """
        available = available_memory()
        if size > available:
            raise self.fail("model", f"the model has {count:,} parameters ({_gib(size)} GiB of weights and "
                            f"buffers), more than the {_gib(available)} GiB of memory free here (MemAvailable); "
                            "nothing was allocated", "make the backbone or heads smaller, or free memory")

    def initialize(self, model: ZooModel) -> None:
        for step in self.manifest.init:
            init = self.call_with_host_values(step)
            pattern = step.match or "*"
            selected = [name for name, _ in model.named_modules() if name and fnmatch.fnmatchcase(name, pattern)]
            if isinstance(init, DataDependentInitializer):
                init.initialize(model, selected)
            else:
                for name in selected:
                    init(model.get_submodule(name))

    def compression(self) -> Compression:
        specs = self.manifest.compress
        return Compression(specs, [self.call_with_host_values(spec) for spec in specs])


def member_manifest(member: EnsembleMember, output: str) -> ResolvedManifest:
    """A member's manifest as the ensemble builds it: the combined head only, nothing to initialize or compress."""
    manifest = member.manifest
    return replace(manifest, heads={output: manifest.heads[output]}, init=[], compress=[])


def same_architecture(model: nn.Module, other: nn.Module) -> bool:
    """Whether two models have the same modules (names and types) and tensors (names, shapes and dtypes)."""
    return _architecture(model) == _architecture(other)


def _architecture(model: nn.Module) -> tuple[list[tuple[str, type]], list[tuple[str, tuple[int, ...], torch.dtype]]]:
    return ([(name, type(module)) for name, module in model.named_modules()],
            [(name, tuple(tensor.shape), tensor.dtype) for name, tensor in
             [*model.named_parameters(), *model.named_buffers()]])


def ensemble_members(module: nn.Module) -> list[ZooModel]:
    """The member models inside an ensemble's backbone, in [ensemble] order (not the members' own members)."""
    found: list[ZooModel] = []
    for child in module.children():
        found += [child] if isinstance(child, ZooModel) else ensemble_members(child)
    return found


def _meta_like(output: Any) -> Any:
    """Empty meta tensors shaped like ``output`` (a tensor, or feature maps by name)."""
    if isinstance(output, dict):
        return {name: _meta_like(value) for name, value in output.items()}
    return torch.empty(output.shape, dtype=output.dtype, device="meta") if isinstance(output, torch.Tensor) else output


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _gib(size: int) -> str:
    return f"{size / 2**30:,.1f}"


def _largest_size(params: dict[str, Any]) -> tuple[str, str] | None:
    """(name, text) of the parameter most likely to make a component large: its largest integer or longest list."""
    sizes = {name: (value, f"{name} = {value:,}") for name, value in params.items()
             if isinstance(value, int) and not isinstance(value, bool) and value > 1}
    sizes |= {name: (len(value), f"{name} ({len(value):,} items)") for name, value in params.items()
              if isinstance(value, list) and len(value) > 1}
    if not sizes:
        return None
    name = max(sizes, key=lambda n: sizes[n][0])
    return name, sizes[name][1]


def declared_preprocessing(model: nn.Module) -> dict[str, Any] | None:
    """Mean, std and interpolation the backbone's pretrained weights expect, if it declares them.

    A backbone (or a module inside it, such as one branch of a multi-input model) declares them as
    ``preprocessing`` (see :class:`flexzoo.plugin.Backbone`); the timm plugin sets it from timm's
    ``pretrained_cfg``. The dry run reads them, so a run knows them before any model is built.
    """
    backbone = getattr(model, "backbone", model)
    for module in backbone.modules():
        config = getattr(module, "preprocessing", None)
        if isinstance(config, dict) and config.get("mean") and config.get("std"):
            interpolation = config.get("interpolation")
            return {"mean": [float(v) for v in config["mean"]], "std": [float(v) for v in config["std"]],
                    "interpolation": interpolation if interpolation in ("bilinear", "bicubic", "nearest") else None}
    return None


def dry_run_context(manifest: ResolvedManifest) -> StepContext:
    """The context factories get when nothing will run: they may check their parameters, no more."""
    return StepContext(input_shape=manifest.model.input_shape, base_dir=manifest.base_dir(), restoring=False,
                       has_training_data=manifest.train is not None)


def plan(manifest: ResolvedManifest, registry: Registry | None = None, context: StepContext | None = None
         ) -> BuildPlan:
    """Dry-run the manifest on the meta device; raise ManifestError for anything that would fail."""
    return _Builder(manifest, registry or default_registry(), context).dry_run()


def assemble(manifest: ResolvedManifest, registry: Registry, build_plan: BuildPlan) -> ZooModel:
    """Call the backbone and head factories for real (under the caller's seed)."""
    return _Builder(manifest, registry).assemble(build_plan.head_input)


def initialize(model: ZooModel, manifest: ResolvedManifest, registry: Registry, context: StepContext | None = None
               ) -> None:
    """Apply the ``[[init]]`` steps, in order, to the modules they match (under the caller's seed).

    ``context`` is what a data-dependent initializer reads its batches through (the pipeline's).
    """
    _Builder(manifest, registry, context).initialize(model)


def compression_steps(manifest: ResolvedManifest, registry: Registry, context: StepContext) -> Compression:
    """The ``[[compress]]`` steps, made by their factories with ``context`` (not applied yet)."""
    return _Builder(manifest, registry, context).compression()


def strategy(manifest: ResolvedManifest, registry: Registry) -> Strategy:
    """The ``[distributed]`` strategy (``single`` when the manifest has none)."""
    assert manifest.distributed is not None
    return instantiate(manifest.distributed, manifest, registry)


def instantiate(spec: ComponentSpec, manifest: ResolvedManifest, registry: Registry | None = None) -> Any:
    """Call one component's factory with its resolved parameters (a rejected value names its manifest key)."""
    return _Builder(manifest, registry or default_registry()).call(spec)

"""Checking a parsed manifest against the registry, before anything is built (no torch here).

Every problem found is collected, so one run of ``zoo validate`` shows them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from annotated_types import Gt, MinLen

from flexzoo.errors import ManifestError, Problem
from flexzoo.host.registry import Registry, UnknownComponent, default_registry, did_you_mean
from flexzoo.manifest import schema
from flexzoo.manifest.budget import BUDGET_KEYS
from flexzoo.manifest.defaults import DEFAULT_OPSET, DEFAULT_STRATEGY, EXPORT_FORMATS
from flexzoo.manifest.defaults import EXPORT_TOLERANCE as EXPORT_TOLERANCE  # re-exported: its users import it here
from flexzoo.manifest.ensemble import ENSEMBLE_BACKBONE, Resolved, resolve_ensemble
from flexzoo.manifest.multi_input import check_inputs, takes_branches
from flexzoo.manifest.resolved import (
    ComponentSpec,
    EnsembleSection,
    ManifestSource,
    ModelSection,
    ResolvedManifest,
    read_manifest,
)
from flexzoo.manifest.sections import REQUIRED, Key, KeyTable, Report
from flexzoo.manifest.train import DATA_FORMS, data_source, validate_train
from flexzoo.manifest.transfer import TRANSFER_KEYS, TransferProblem, backbone_from_artifact, check_freeze
from flexzoo.plugin.components import HOST_PARAMETERS
from flexzoo.plugin.tracking import RUN_HOOKS
from flexzoo.tasks import tasks_of

SECTIONS = ("model", "backbone", "inputs", "fusion", "heads", "init", "compress", "distributed", "train", "export",
            "track", "ensemble", "budget")
PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")


def _plain_name(name: str) -> str:
    return "" if PLAIN_NAME.match(name) else f"`{name}` is not a plain name (it names the artifact file)"


def _seed_in_range(seed: int) -> str:
    return "" if 0 <= seed < 2**63 else f"seed {seed} is out of range"


def _opset_in_range(opset: int) -> str:
    return "" if 13 <= opset <= 23 else f"ONNX opset {opset} is out of range"


MODEL_KEYS = KeyTable(
    Key("name", str, REQUIRED, 'the artifact\'s name, e.g. "my-model"', _plain_name,
        fix="use letters, digits, '.', '_' and '-', starting with a letter or digit; no '/'"),
    Key("version", str, "0.1.0", "the model's version"),
    Key("seed", int, 0, "seed of the build: same manifest, seed and plugins give bit-identical weights",
        _seed_in_range, fix="use an integer in [0, 2**63)"),
    Key("input_shape", Annotated[list[Annotated[int, Gt(0)]], MinLen(1)], None,
        "one sample's shape, without the batch dimension",
        fix="give one sample's shape without the batch dimension, e.g. [1, 8, 8]"),
    Key("description", str, "", "what the model is for"),
)
EXPORT_KEYS = KeyTable(
    Key("formats", list[str], [], f"what `zoo build` exports the artifact to: {', '.join(EXPORT_FORMATS)}"),
    Key("opset", int, DEFAULT_OPSET, "the ONNX opset to export with", _opset_in_range,
        fix="use an opset from 13 to 23"),
)
TRACK_KEYS = KeyTable(
    Key("use", list[str], [], 'the tracker plugins that log this run, e.g. ["tensorboard", "mlflow"]'),
    Key("experiment", str, "", "the experiment (or study) runs are grouped under; default: the model's name"),
    Key("tracking_uri", str, "", "where a tracker sends runs (an MLflow tracking URI); default: a local store "
        "under the output directory"),
    Key("log_artifact", bool, True, "whether trackers that keep files also keep the artifact"),
)


def check_track(table: Any, trackers: Iterable[str], report: Report, failures: str = "") -> dict[str, Any] | None:
    """Check ``[track]``'s own keys, and that each name in ``use`` is a tracker or a plugin with run hooks.

    ``failures`` names the plugins that failed to load (:meth:`Registry.failures`): a tracker asked for may be one.
    The ``[track.<name>]`` tables (a tracker's settings) are checked by the caller, against the tracker's signature.
    """
    resolved = TRACK_KEYS.check({k: v for k, v in table.items() if not isinstance(v, dict)}, "track", report)
    if resolved is None:
        return None
    known = sorted(trackers)
    unknown = [name for name in resolved["use"] if name not in known]
    for name in unknown:
        hint = did_you_mean(name, known) or (f"trackers installed here: {', '.join(known)}" if known else
                                             "install one, e.g. pip install flexzoo-plugin-tensorboard")
        report(Problem("track.use", f"no installed plugin `{name}` implements the run hooks",
                       f"{failures}; otherwise: {hint}" if failures else hint))
    return None if unknown else resolved


HEAD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


class _Checker:
    def __init__(self, source: ManifestSource, registry: Registry, data: dict[str, Any]) -> None:
        self.data = data
        self.source = source
        self.registry = registry
        self.problems: list[Problem] = []

    def report(self, key: str, message: str, hint: str = "") -> None:
        self.problems.append(self.source.problem(key, message, hint))

    def train_layout(self, model: ModelSection | None, train: dict[str, Any] | None) -> None:
        """``channels_last`` needs image inputs: one sample of shape [channels, height, width]."""
        if not train or not train.get("channels_last") or model is None or model.input_shape is None:
            return
        if len(model.input_shape) != 3:
            self.report("train.channels_last", f"channels_last needs image inputs of shape [channels, height, "
                        f"width], but [model] input_shape is {list(model.input_shape)}",
                        "remove channels_last: it only changes the layout of 4-D batches")

    def lora_base(self, backbone: ComponentSpec | None, train: dict[str, Any] | None, compress: list[Any]) -> None:
        """``[train.lora]`` freezes the backbone's own weights itself: ``freeze`` would say it twice, or differently.

        Storing only the adapters needs a base artifact to put them on, and a backbone no step changes.
        """
        if not train or "lora" not in train:
            return
        if backbone is not None and backbone.freeze:
            self.report("backbone.freeze", "`freeze` and [train.lora] both choose what of the backbone trains: "
                        "with LoRA its own weights are frozen and only the adapters train",
                        "remove `freeze` (or [train.lora] to train without adapters)")
        if (train["lora"] or {}).get("store") != "adapters":
            return
        if backbone is not None and backbone.weights_from is None:
            self.report("train.lora.store", 'store = "adapters" keeps only the adapters, to be loaded onto the '
                        "backbone's base artifact, and this backbone does not come from one",
                        'set [backbone] from = "<base artifact>", or store = "merged"')
        if compress:
            self.report("train.lora.store", 'store = "adapters" keeps the base backbone as it is, and '
                        "[[compress]] steps change it", 'use store = "merged" to compress the merged model')

    def add(self, problem: Problem) -> None:
        """Record a problem found without the source (a section's key check): its line is added here."""
        self.report(problem.key, problem.message, problem.hint)

    def table(self, data: dict[str, Any], key: str, *, required: bool) -> dict[str, Any] | None:
        value = data.get(key.rpartition(".")[2])
        if value is None:
            if required:
                self.report(key, f"missing [{key}] table", f"add a [{key}] table")
            return None
        if not isinstance(value, dict):
            self.report(key, f"`{key}` must be a table, got {schema.describe(value)}", f"write it as [{key}]")
            return None
        return value

    def model(self, data: dict[str, Any]) -> ModelSection | None:
        table = self.table(data, "model", required=True)
        if table is None:
            return None
        resolved = MODEL_KEYS.check(table, "model", self.add)
        if resolved is None:
            return None
        shape = resolved["input_shape"]
        return ModelSection(name=resolved["name"], version=resolved["version"], seed=resolved["seed"],
                            input_shape=tuple(shape) if shape is not None else None,
                            description=resolved["description"])

    def component(self, kind: str, table: dict[str, Any], key: str, match: str | None = None,
                  default_use: str | None = None, transfer: bool = False) -> ComponentSpec | None:
        """One component table; ``transfer`` lets it hold the host's ``from`` and ``freeze`` (the backbone)."""
        use = table.get("use", default_use)
        if use is None:
            self.report(f"{key}.use", f"missing `use` in [{key}]", f'name the {kind}: use = "<name>" '
                        f"(`zoo list {kind}s` shows them)")
            return None
        if not isinstance(use, str):
            self.report(f"{key}.use", f"`use` must be a string, got {schema.describe(use)}")
            return None
        try:
            found = self.registry.resolve(kind, use)
        except UnknownComponent as exc:
            self.report(f"{key}.use", exc.message, exc.hint)
            return None
        factory = found.component.factory
        specs = {p.name: p for p in schema.parameters(factory)}
        host_supplied = HOST_PARAMETERS.get(kind, {})
        host_keys = {"use", *(["match"] if match is not None else []), *(TRANSFER_KEYS if transfer else [])}
        given = {k: v for k, v in table.items() if k not in host_keys}
        settable = [n for n in specs if n not in host_supplied]
        params: dict[str, Any] = {}
        ok = True
        for name, value in given.items():
            where = f"{key}.{name}"
            if name in host_supplied:
                self.report(where, f"`{name}` is not set in a manifest: it is {host_supplied[name]}",
                            f"remove `{name}`")
                ok = False
            elif name not in specs:
                if schema.accepts_any_keyword(factory):
                    params[name] = value
                    continue
                hint = did_you_mean(name, settable) or (
                    f"parameters of `{found.qualified_name}`: {', '.join(settable) or 'none'}")
                self.report(where, f"unknown parameter `{name}` for {kind} `{found.qualified_name}`", hint)
                ok = False
            elif not schema.matches(value, specs[name].annotation):
                self.report(where, f"`{name}` expects {specs[name].type_text}, got {schema.describe(value)}",
                            f"`zoo info {found.qualified_name}` documents it")
                ok = False
            elif broken := schema.violations(value, specs[name].annotation, name):
                for message in broken:
                    self.report(where, message, f"change `{name}`: it must be {specs[name].constraints} "
                                f"(`zoo info {found.qualified_name}` documents it)")
                ok = False
            else:
                params[name] = value
        for name, spec in specs.items():
            if name in host_supplied or name in params:
                continue
            if spec.required:
                if name not in given:
                    self.report(key, f"missing required parameter `{name}` ({spec.type_text}) "
                                f"for {kind} `{found.qualified_name}`", f"add {name} = <{spec.type_text}>")
                    ok = False
            else:
                params[name] = schema.to_toml(spec.default)
        if not ok:
            return None
        reuse = {name: table[name] for name in TRANSFER_KEYS if transfer and name in table}
        return ComponentSpec(kind=kind, use=found.qualified_name, params=params, key=key, match=match,
                             weights_from=reuse.get("from"), freeze=reuse.get("freeze", False))

    def data_source(self, table: dict[str, Any], train: dict[str, Any]) -> dict[str, Any] | None:
        """The data source ``[train] data`` names, with its ``[train.source]`` parameters checked like a component's."""
        name, _ = data_source(train["data"], self.registry.names("dataset"))
        try:
            found = self.registry.resolve("dataset", name)
        except UnknownComponent as exc:
            self.report("train.data", f"`data` `{name}` is not a data source I know",
                        f"{exc.hint}; {DATA_FORMS}")
            return None
        given = table.get("source", {})
        if not isinstance(given, dict):
            self.report("train.source", f"`train.source` must be a table, got {schema.describe(given)}",
                        "write it as [train.source]")
            return None
        if "use" in given:
            self.report("train.source.use", "the source is chosen by [train] data", "remove `use`")
            return None
        settable = {p.name for p in schema.parameters(found.component.factory)}
        defaults = {"inputs": train["inputs"]} if "inputs" in settable else {}
        if "inputs" in self.data and "inputs" not in settable:
            self.report("train.data", f"a model of several [inputs] reads one array per input, which data source "
                        f"`{found.qualified_name}` does not give", 'use data = "arrays:FILE.npz" (one array per '
                        "input name, and one per target)")
            return None
        spec = self.component("dataset", {"use": found.qualified_name, **defaults, **given}, "train.source")
        return None if spec is None else {"use": spec.use, **spec.params}

    def track(self, data: dict[str, Any]) -> dict[str, Any] | None:
        """``[track]``: its keys, the trackers in ``use``, and each tracker component's settings table
        ``[track.<name>]`` checked against its factory's signature (defaults filled, also without a table)."""
        table = self.table(data, "track", required=False)
        if table is None:
            return None
        known = trackers(self.registry)
        resolved = check_track(table, known, self.add, self.registry.failures())
        settings = {name: value for name, value in table.items() if isinstance(value, dict)}
        used = resolved["use"] if resolved else []
        for name in settings:
            if name not in used:
                self.report(f"track.{name}", f"[track.{name}] sets a tracker that [track] use does not name",
                            f'add "{name}" to [track] use, or remove [track.{name}]')
        if resolved is None:
            return None
        for name in used:
            if name not in self.registry.names("tracker"):
                if name in settings:
                    self.report(f"track.{name}", f"`{name}` logs through the run hooks and declares no settings",
                                f"remove [track.{name}] (its plugin declares no `flexzoo_trackers` tracker)")
                continue
            spec = self.component("tracker", {**settings.get(name, {}), "use": name}, f"track.{name}")
            if spec is not None:
                resolved[name] = spec.params
        return resolved

    def backbone(self, data: dict[str, Any]) -> ComponentSpec | None:
        """[backbone]: a component, or one reused from an artifact (``from``), optionally frozen.

        An ensemble's backbone (``ensemble`` when [backbone] is left out) takes the members the host
        builds; it is always frozen: the members were trained already.
        """
        table = self.table(data, "backbone", required="ensemble" not in data)
        if "ensemble" in data:
            return self.ensemble_backbone(table or {})
        if table is None:
            return None
        try:
            if "freeze" in table:
                check_freeze(table["freeze"])
            if "from" in table and "use" not in table:
                table, input_shape = backbone_from_artifact(table, self.source.file)
                model = data.get("model")
                if isinstance(model, dict) and input_shape is not None:
                    model.setdefault("input_shape", input_shape)
        except TransferProblem as exc:
            self.report(exc.key, exc.message, exc.hint)
            return None
        spec = self.component("backbone", table, "backbone", transfer=True)
        if spec is not None and takes_branches(self.registry, spec.use):
            self.report("backbone.use", f"`{spec.use}` joins the backbones of several inputs, and the manifest has "
                        "no [inputs]", f'declare [inputs.<name>] tables and set [fusion] use = "{spec.name}"')
            return None
        if spec is not None and self.takes_members(spec):
            self.report("backbone.use", f"`{spec.use}` combines the members of an ensemble, and the manifest has "
                        "no [ensemble]", 'add [ensemble] with members = ["a.safetensors", "b.safetensors"]')
            return None
        return spec

    def ensemble_backbone(self, table: dict[str, Any]) -> ComponentSpec | None:
        if "from" in table:
            self.report("backbone.from", "an ensemble's backbone is its members; it reuses no other artifact",
                        "remove `from`")
            return None
        spec = self.component("backbone", {k: v for k, v in table.items() if k != "freeze"}, "backbone",
                              default_use=ENSEMBLE_BACKBONE, transfer=True)
        if spec is None:
            return None
        if not self.takes_members(spec):
            self.report("backbone.use", f"`{spec.use}` does not take ensemble members",
                        f'remove [backbone]: an ensemble\'s backbone is "{ENSEMBLE_BACKBONE}"')
            return None
        return ComponentSpec(kind=spec.kind, use=spec.use, params=spec.params, key=spec.key, freeze=True)

    def takes_members(self, spec: ComponentSpec) -> bool:
        factory = self.registry.resolve("backbone", spec.use).component.factory
        return "members" in {p.name for p in schema.parameters(factory)}

    def ensemble(self, data: dict[str, Any]) -> Resolved | None:
        """[ensemble]: its members resolved to their stored manifests; [model] input_shape defaults to theirs."""
        if "ensemble" not in data:
            return None
        resolved = resolve_ensemble(data["ensemble"], self.source.file,
                                    lambda member, where: validate(member, where, self.registry), self.add)
        model = data.get("model")
        if resolved is not None and isinstance(model, dict):
            model.setdefault("input_shape", resolved.input_shape)
            if model["input_shape"] != resolved.input_shape:
                self.report("model.input_shape", f"input_shape {model['input_shape']} is not the members' "
                            f"{resolved.input_shape}", "remove input_shape: an ensemble takes its members' input")
        return resolved

    def ensemble_heads(self, heads: dict[str, ComponentSpec], ensemble: Resolved) -> None:
        """Each head with ``num_classes`` has the members' classes."""
        for name, spec in heads.items():
            classes = spec.params.get("num_classes", ensemble.num_classes)
            if classes != ensemble.num_classes:
                self.report(f"heads.{name}.num_classes", f"num_classes = {classes}, but the members' head "
                            f"`{ensemble.section.output}` has {ensemble.num_classes} classes",
                            f"set num_classes = {ensemble.num_classes}")

    def steps(self, data: dict[str, Any], section: str, kind: str) -> list[ComponentSpec]:
        value = data.get(section, [])
        if isinstance(value, dict):
            self.report(section, f"`{section}` must be an array of tables", f"write each step as [[{section}]]")
            return []
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            self.report(section, f"`{section}` must be an array of tables, got {schema.describe(value)}",
                        f"write each step as [[{section}]]")
            return []
        specs = []
        for index, table in enumerate(value):
            key = f"{section}[{index}]"
            match = None
            if kind == "initializer":
                match = table.get("match", "*")
                if not isinstance(match, str) or not match:
                    self.report(f"{key}.match",
                                f"`match` must be a non-empty glob string, got {schema.describe(match)}",
                                'for example match = "backbone.*"')
                    continue
            spec = self.component(kind, table, key, match=match)
            if spec:
                specs.append(spec)
        return specs

    def heads(self, data: dict[str, Any]) -> dict[str, ComponentSpec]:
        table = self.table(data, "heads", required=True)
        if table is None:
            return {}
        if not table:
            self.report("heads", "no heads: a model needs at least one [heads.<name>] table",
                        'add [heads.out] with use = "linear" and num_classes = ...')
        heads = {}
        for name, head in table.items():
            key = f"heads.{name}"
            if not isinstance(head, dict):
                self.report(key, f"`{key}` must be a table, got {schema.describe(head)}", f"write it as [{key}]")
                continue
            if not HEAD_NAME.match(name):
                self.report(key, f"head name `{name}` is not an identifier (it names an output)",
                            "use letters, digits and '_', not starting with a digit")
                continue
            spec = self.component("head", head, key)
            if spec:
                heads[name] = spec
        return heads

    def compress_order(self, steps: list[ComponentSpec]) -> None:
        """Refuse a step placed after one whose result it cannot work on (pruning after int8)."""
        made: dict[str, ComponentSpec] = {}
        for spec in steps:
            component = self.registry.resolve("compressor", spec.use).component
            for word, reason in component.refuses_after.items():
                if word in made:
                    self.report(f"{spec.key}.use", f"`{spec.use}` cannot come after `{made[word].use}` "
                                f"({made[word].key}): {reason}", f"move `{spec.name}` before `{made[word].name}`")
            for word in component.makes:
                made.setdefault(word, spec)

    def export(self, data: dict[str, Any], steps: list[ComponentSpec]) -> dict[str, Any] | None:
        """Check [export]: known formats, each one every compression step can still be exported to."""
        table = self.table(data, "export", required=False)
        if table is None:
            return None
        resolved = EXPORT_KEYS.check(table, "export", self.add)
        formats = table.get("formats", [])
        formats = [name for name in formats if isinstance(name, str)] if isinstance(formats, list) else []
        for name in formats:
            if name not in EXPORT_FORMATS:
                self.report("export.formats", f"unknown export format {schema.describe(name)}",
                            did_you_mean(name, EXPORT_FORMATS) or f"formats: {', '.join(EXPORT_FORMATS)}")
        for message, hint in _format_conflicts(self.registry, steps, formats):
            self.report("export.formats", message, hint)
        return resolved


def _format_conflicts(registry: Registry, steps: list[ComponentSpec], formats: list[Any]) -> list[tuple[str, str]]:
    """(message, hint) for each export format that a compression step's result cannot be written in."""
    conflicts = []
    for spec in steps:
        allowed = registry.resolve("compressor", spec.use).component.export_formats
        for name in formats:
            if allowed is not None and name in EXPORT_FORMATS and name not in allowed:
                conflicts.append((f"format `{name}` cannot hold a model compressed by `{spec.use}` ({spec.key})",
                                  f"`{spec.name}` models export to: {', '.join(allowed) or 'no format'}"))
    return conflicts


def trackers(registry: Registry) -> list[str]:
    """What ``[track] use`` may name: tracker components (``name``, ``plugin:name``) and the loaded plugins that
    implement a run hook."""
    return sorted({impl.plugin_name for hook in RUN_HOOKS
                   for impl in getattr(registry.manager.hook, hook).get_hookimpls()} | registry.names("tracker"))


def check_export(manifest: ResolvedManifest, formats: list[str], registry: Registry | None = None) -> None:
    """Refuse export formats that the manifest's compression steps cannot be written in."""
    conflicts = _format_conflicts(registry or default_registry(), manifest.compress, formats)
    if conflicts:
        source = manifest.where()
        raise ManifestError(source.file, [source.problem("export.formats", m, h) for m, h in conflicts])


def validate(data: dict[str, Any], source: ManifestSource, registry: Registry | None = None) -> ResolvedManifest:
    """Check a parsed manifest; return it resolved, or raise ManifestError with every problem."""
    checker = _Checker(source, registry or default_registry(), data)
    for section in data:
        if section not in SECTIONS:
            checker.report(section, f"unknown section [{section}]",
                           did_you_mean(section, SECTIONS) or f"known sections: {', '.join(SECTIONS)}")
    ensemble = checker.ensemble(data)
    several = check_inputs(data, checker) if "inputs" in data else None
    backbone = several[1] if several else None if "inputs" in data else checker.backbone(data)
    if "fusion" in data and "inputs" not in data:
        checker.report("fusion", "[fusion] joins the backbones of several [inputs], and the manifest has none",
                       "declare [inputs.<name>] tables, or remove [fusion]")
    model = checker.model(data)
    heads = checker.heads(data)
    if ensemble is not None:
        checker.ensemble_heads(heads, ensemble)
    init = checker.steps(data, "init", "initializer")
    compress = checker.steps(data, "compress", "compressor")
    distributed_table = checker.table(data, "distributed", required=False) or {}
    distributed = checker.component("strategy", distributed_table, "distributed", default_use=DEFAULT_STRATEGY)
    train_table = checker.table(data, "train", required=False)
    head_names = list(data["heads"]) if isinstance(data.get("heads"), dict) else []
    tasks = {name: tasks_of(checker.registry, spec.use) for name, spec in heads.items()}
    train = validate_train(train_table, head_names, checker.add, tasks) if train_table is not None else None
    checker.train_layout(model, train)
    checker.lora_base(backbone, train, compress)
    if "inputs" in data and train and any((train.get("augment") or {}).get(k) for k in ("mixup", "cutmix")):
        checker.report("train.augment", "mixup and cutmix mix one input tensor; a model of several [inputs] "
                       "has more", "turn mixup and cutmix off")
    if train is not None and train_table is not None:
        data_spec = checker.data_source(train_table, train)
        if "source" in train_table:  # without [train.source], [train] data alone names it (as before the table)
            train["source"] = data_spec
        if "bootstrap" in train and data_spec and data_spec.get("streaming"):
            checker.report("train.bootstrap", "a streamed source reads its rows in passes, in its own order, so it "
                           "cannot train on a bootstrap sample (which repeats some rows and leaves others out)",
                           "remove bootstrap, or set streaming = false in [train.source]")
    checker.compress_order(compress)
    export = checker.export(data, compress)
    track = checker.track(data)
    budget_table = checker.table(data, "budget", required=False)
    budget = BUDGET_KEYS.check(budget_table, "budget", checker.add) if budget_table is not None else None
    if checker.problems:
        raise ManifestError(source.file, checker.problems)
    assert model and backbone and distributed
    return ResolvedManifest(file=source.file, model=model, backbone=backbone, heads=heads, init=init,
                            compress=compress, distributed=distributed, train=train, export=export, track=track,
                            ensemble=_section(ensemble), inputs=several[0] if several else None,
                            budget={k: v for k, v in budget.items() if v is not None} if budget else None,
                            source=source)


def _section(ensemble: Resolved | None) -> EnsembleSection | None:
    return ensemble.section if ensemble is not None else None


def load_manifest(path: str | Path, registry: Registry | None = None) -> ResolvedManifest:
    """Read and validate a manifest file (no torch is imported)."""
    data, source = read_manifest(path)
    return validate(data, source, registry)


def revalidate(data: dict[str, Any], file: str, registry: Registry | None = None) -> ResolvedManifest:
    """Validate a stored resolved manifest (from an artifact), where no line numbers exist."""
    return validate(data, ManifestSource(file=file, lines={}), registry)

"""The body of a Hub model card, section by section, from what the artifact records.

How to load it, the architecture (each component and the plugin that made it), the training data and
recipe, the metrics, compression, exports, the repository's files with their hashes, and limitations
drawn from the record (untrained weights, validation-only metrics, fixed input shape, plugins needed).
A section with nothing recorded is left out or says so plainly. Torch-free.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["body", "evaluated_model", "recorded_metrics"]

#: A repository file as the card lists it: path in the repository, bytes, sha256.
FileRow = tuple[str, int, str]


def recorded_metrics(info: dict[str, Any]) -> tuple[dict[tuple[str, str], float], str]:
    """Per-head metrics of the published weights, keyed (head, metric), and the split they were measured on.

    After ``[[compress]]`` steps that were measured, the values after compression (the weights
    published); otherwise the final validation of training. Losses are left out.
    """
    training = info.get("training")
    if not training:
        return {}, ""
    measured = dict(training.get("final_validation", {}))
    after = info.get("compression", {}).get("report", {}).get("accuracy")
    if after:
        measured = {name: pair["after"] for name, pair in after.items()}
    metrics = {}
    for name, value in sorted(measured.items()):
        head, _, metric = name.rpartition(".")
        if head and metric != "loss" and isinstance(value, (int, float)):
            metrics[(head, metric)] = float(value)
    return metrics, "validation"


def evaluated_model(info: dict[str, Any]) -> str:
    """Which weights the metrics describe, for the ``model-index`` source."""
    measured_after = bool(info.get("compression", {}).get("report", {}).get("accuracy"))
    return "flexzoo training record, after compression" if measured_after else "flexzoo training record"


def _value(value: Any) -> str:
    """A manifest value as TOML writes it (strings quoted, booleans lower-case, lists in brackets)."""
    return json.dumps(value)


def _release(record: dict[str, str | None]) -> str:
    """``distribution version`` as recorded (a plugin given in memory, not installed, records neither)."""
    return " ".join(part for part in (record.get("distribution"), record.get("version")) if part)


def _plugin(use: str, plugins: dict[str, dict[str, str]]) -> str:
    name = use.partition(":")[0] if ":" in use else "builtin"
    release = _release(plugins.get(name, {}))
    return f"{name} ({release})" if release else name


def _parameters(table: dict[str, Any], skip: tuple[str, ...] = ("use",)) -> str:
    shown = [f"`{key} = {_value(value)}`" for key, value in table.items() if key not in skip]
    return ", ".join(shown) or "defaults"


def _shape_example(card: dict[str, Any]) -> str:
    inputs = card.get("inputs")
    if inputs:
        return "{" + ", ".join(f'"{name}": torch.zeros(1, {", ".join(map(str, entry["shape"]))})'
                               for name, entry in inputs.items()) + "}"
    shape = card.get("input_shape")
    return f"torch.zeros(1, {', '.join(map(str, shape))})" if shape else "batch"


def _title(info: dict[str, Any], weights_sha256: str, reference: str) -> str:
    model, card = info["manifest"]["model"], info["card"]
    heads = ", ".join(f"`{name}`" for name in card["heads"])
    summary = model.get("description") or (f"A `{card['backbone']}` backbone with the heads {heads}, "
                                           "assembled by flexzoo from plugin components.")
    return "\n".join([
        f"# {model['name']}", "", summary, "",
        f"A [flexzoo](https://github.com/flexzoo/flexzoo) artifact, version {model.get('version') or 'unversioned'}: "
        f"{card['parameters']:,} parameters, {card['bytes']:,} bytes of weights ({card['dtype']}), weights sha256 "
        f"`{weights_sha256}`. `{reference}` names it everywhere flexzoo takes an artifact.",
    ])


def _usage(info: dict[str, Any], reference: str) -> str:
    plugins = info["plugins"]
    pinned = {record["distribution"]: record["version"] for record in plugins.values()
              if record.get("distribution") and record.get("version")}
    version = pinned.pop("flexzoo", None)
    packages = [f"'flexzoo[hub]=={version}'" if version else "'flexzoo[hub]'"]
    packages += [f"'{distribution}=={pin}'" for distribution, pin in sorted(pinned.items())]
    outputs = ", ".join(f'"{name}": {head.get("output_shape")}' for name, head in info["card"]["heads"].items())
    return "\n".join([
        "## How to use it", "",
        "Install flexzoo and the plugins the model was built with:", "",
        "```bash", f"pip install {' '.join(packages)}", "```", "",
        "Load it in Python (downloaded once into the Hugging Face cache, then verified against the sha256 the "
        "artifact records on every load):", "",
        "```python", "import torch", "import flexzoo", "",
        f'model = flexzoo.load("{reference}")',
        f"outputs = model({_shape_example(info['card'])})  # {{{outputs}}}", "```", "",
        "From the command line:", "",
        "```bash",
        f"zoo inspect {reference}              # this card, and the hashes checked",
        f"zoo predict {reference} INPUT...     # images, folders, .npy/.npz or .json",
        f"zoo serve {reference}                # an HTTP server with batching and metrics",
        "```", "",
        "Fine-tune it: a manifest whose backbone starts from these weights (heads of the same name and "
        "component keep theirs too):", "",
        "```toml", "[backbone]", f'from = "{reference}"', "```", "",
        "Pin a revision with `@REVISION` after the name. With `HF_HUB_OFFLINE=1` it is read from the cache only.",
    ])


def _architecture(info: dict[str, Any]) -> str:
    manifest, card, plugins = info["manifest"], info["card"], info["plugins"]
    rows = ["| part | component | plugin | parameters | output |", "|---|---|---|---|---|"]
    for name, entry in (card.get("inputs") or {}).items():
        backbone = manifest.get("inputs", {}).get(name, {}).get("backbone", {"use": entry["backbone"]})
        rows.append(f"| input `{name}` {entry['shape']} | `{entry['backbone']}` | {_plugin(entry['backbone'], plugins)}"
                    f" | {_parameters(backbone)} | |")
    maps = card.get("feature_maps")
    features = ", ".join(f"{n} {s}" for n, s in maps.items()) if maps else f"{card.get('feature_size')} features"
    part = "fusion" if card.get("inputs") else "backbone"
    rows.append(f"| {part} | `{manifest['backbone']['use']}` | {_plugin(manifest['backbone']['use'], plugins)} | "
                f"{_parameters(manifest['backbone'])} | {features} |")
    for name, head in card["heads"].items():
        spec = manifest["heads"].get(name, {"use": head["use"]})
        rows.append(f"| head `{name}` | `{head['use']}` | {_plugin(head['use'], plugins)} | {_parameters(spec)} | "
                    f"{head.get('output_shape')} |")
    lines = ["## Architecture", ""]
    if card.get("input_shape"):
        lines += [f"Input: one sample shaped `{card['input_shape']}` (a batch adds the first dimension).", ""]
    lines += rows
    labelled = {name: head["labels"] for name, head in card["heads"].items() if head.get("labels")}
    for name, labels in labelled.items():
        shown = ", ".join(map(str, labels[:20])) + (f", … ({len(labels)} in all)" if len(labels) > 20 else "")
        lines += ["", f"Labels of `{name}`: {shown}."]
    prep = card.get("preprocessing")
    if prep:
        norm = f"mean {prep.get('mean')}, std {prep.get('std')}" if prep.get("mean") else "no mean/std"
        lines += ["", f"Preprocessing (applied by `zoo predict` and `zoo serve`): {prep.get('channel_order')} "
                  f"{prep.get('input_size')}, resize {prep.get('resize')} ({prep.get('interpolation')}), "
                  f"scale {prep.get('scale')}, {norm}."]
    steps = manifest.get("init", [])
    if steps:
        lines += ["", "Initialized with " + "; then ".join(f"`{s['use']}` on `{s.get('match', '*')}`" for s in steps)
                  + (" before training." if info.get("training") else ".")]
    adapters = info.get("adapters")
    if adapters:
        lines += ["", f"LoRA adapters (rank {adapters['rank']}, alpha {adapters['alpha']}) on "
                  f"{len(adapters['layers'])} layers, over the base artifact `{adapters['base']['path']}` "
                  f"(weights sha256 `{adapters['base']['weights_sha256']}`), which this repository holds beside it."]
    return "\n".join(lines)


def _toml(prefix: str, table: dict[str, Any]) -> list[str]:
    """A table as TOML text: its values under ``[prefix]``, then each sub-table (a header only where it has values)."""
    nested = []
    lines = []
    for key, value in table.items():
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            lines.append(f"{key} = {_value(value)}")
    lines = [f"[{prefix}]", *lines] if lines or not nested else lines
    for key, value in nested:
        lines += ["", *_toml(f"{prefix}.{key}", value)]
    return lines[1:] if lines and lines[0] == "" else lines


def _training(info: dict[str, Any]) -> str:
    training, train = info.get("training"), info["manifest"].get("train")
    if not training or not train:
        return "## Training\n\nNot trained: the weights are as the `[[init]]` steps left them."
    data = training["data"]
    epochs = f"{training['epochs_run']} of {train.get('epochs')} epochs"
    stopped = " (stopped early)" if training.get("stopped_early") else ""
    return "\n".join([
        "## Training", "",
        f"Data: {data['description']} (`data = {_value(data['source'])}`, fingerprint sha256 `{data['sha256']}`): "
        f"{data['train_samples']:,} samples trained on, {data['validation_samples']:,} held out for validation"
        + (f", {data['skipped_samples']:,} skipped as unreadable" if data.get("skipped_samples") else "") + ".", "",
        f"Run: {epochs}{stopped}, strategy `{training.get('strategy')}` on {training.get('world_size', 1)} "
        "process(es)" + (", federated" if training.get("federation") else "")
        + (f", {len(training['growth'])} growth step(s)" if training.get("growth") else "") + ".", "",
        "The recipe, as the artifact stores it (every default filled in):", "",
        "```toml", *_toml("train", train), "```",
    ])


def _evaluation(info: dict[str, Any]) -> str:
    training = info.get("training")
    if not training:
        return ""
    final = training.get("final_validation", {})
    after = info.get("compression", {}).get("report", {}).get("accuracy", {})
    lines = ["## Evaluation", "",
             f"Measured on the validation split ({training['data']['validation_samples']:,} samples held out from "
             "the training data by a seeded split) at the end of training" +
             (", and again after compression." if after else "."), ""]
    if after:
        lines += ["| metric | trained | compressed (published) |", "|---|---|---|"]
        lines += [f"| {name} | {pair['before']:.4f} | {pair['after']:.4f} |" for name, pair in sorted(after.items())]
    else:
        lines += ["| metric | value |", "|---|---|"]
        lines += [f"| {name} | {value:.4f} |" for name, value in sorted(final.items())]
    return "\n".join(lines)


def _ratio(pair: dict[str, float]) -> str:
    before, after = pair["before"], pair["after"]
    return f"{after:,} (was {before:,}, ×{after / before:.3f})" if before else f"{after:,}"


def _compression(info: dict[str, Any]) -> str:
    compression = info.get("compression")
    if not compression:
        return ""
    specs = info["manifest"].get("compress", [])
    lines = ["## Compression", "", "Applied in order after " + ("training:" if info.get("training") else "init:"), ""]
    for index, step in enumerate(compression["steps"]):
        spec = specs[index] if index < len(specs) else {"use": step["use"]}
        lines.append(f"{index + 1}. `{step['use']}`, plugin {_plugin(step['use'], info['plugins'])}: "
                     f"{_parameters(spec)}")
    report = compression.get("report")
    if report:
        lines += ["", f"Parameters {_ratio(report['parameters'])}; stored bytes {_ratio(report['bytes'])}."]
        latency = report.get("latency", {})
        for mode in ("eager", "compiled"):
            if mode in latency:
                times = latency[mode]
                lines.append(f"Latency ({mode}, batch {latency['batch']}, on the machine that built it): "
                             f"{times['after_ms']:.3g} ms, was {times['before_ms']:.3g} ms.")
    return "\n".join(lines)


def _exports(info: dict[str, Any], files: list[FileRow]) -> str:
    formats = (info["manifest"].get("export") or {}).get("formats", [])
    exported = [path for path, _, _ in files if not path.endswith((".safetensors", ".md"))]
    if not formats and not exported:
        return ("## Exports\n\nNone published. `zoo export` writes ONNX, TorchScript or an exported program from "
                "the loaded artifact, each checked against the model.")
    lines = ["## Exports", ""]
    if formats:
        lines.append(f"The manifest exports to {', '.join(f'`{f}`' for f in formats)} (`[export] formats`), "
                     "each checked against the model when written.")
    lines.append("Published here: " + (", ".join(f"`{p}`" for p in exported) if exported else
                                       "none (`zoo export` writes them from the artifact)") + ".")
    return "\n".join(lines)


def _files(info: dict[str, Any], files: list[FileRow]) -> str:
    versions = info["versions"]
    plugins = ", ".join(_plugin(name + ":", info["plugins"]) for name in sorted(info["plugins"]))
    lines = ["## Files and provenance", "", "| file | bytes | sha256 |", "|---|---|---|"]
    lines += [f"| `{path}` | {size:,} | `{digest}` |" for path, size, digest in files if path != "README.md"]
    lines += ["", f"Built with flexzoo {versions['flexzoo']} (plugin API {versions.get('plugin_api')}), torch "
              f"{versions['torch']}, Python {versions['python']}; plugins {plugins}. The artifact's header holds the "
              "fully resolved manifest and the sha256 of its weights and metadata; `flexzoo.load` refuses a copy "
              "that does not match them."]
    return "\n".join(lines)


def _limitations(info: dict[str, Any], license: str | None, bases: list[str]) -> str:
    card, training = info["card"], info.get("training")
    items = []
    if not training:
        items.append("The weights were never trained: its outputs mean nothing until it is fine-tuned.")
    else:
        items.append(f"The metrics come from {training['data']['validation_samples']:,} validation samples drawn from "
                     "the training data itself, not from an independent test set: expect lower figures on data "
                     "gathered differently.")
        if training.get("stopped_early"):
            items.append("Training stopped early, when the monitored metric stopped improving.")
    if card.get("input_shape"):
        items.append(f"The model takes inputs shaped `{card['input_shape']}` per sample; other sizes were not "
                     "validated" + (" and the preprocessing above is part of the model's contract." if
                                    card.get("preprocessing") else "."))
    for name, head in card["heads"].items():
        if head.get("labels"):
            items.append(f"Head `{name}` knows only its {len(head['labels'])} classes; any input gets one of them.")
    compression = info.get("compression")
    if compression and training and not compression.get("report", {}).get("accuracy"):
        items.append("The weights were compressed after the metrics were measured, and not measured again.")
    needed = ", ".join(sorted(_plugin(name + ":", info["plugins"]) for name in info["plugins"]))
    items.append(f"Loading it needs the plugins it was built with ({needed}), in compatible versions; flexzoo "
                 "refuses it, naming the missing plugin, otherwise.")
    if bases:
        items.append("It starts from other published weights (" + ", ".join(f"`{b}`" for b in bases) +
                     "), and carries their licences and limitations.")
    if not license:
        items.append("No licence was stated when it was published (`zoo push --license`): ask the author before "
                     "reusing it.")
    return "## Limitations\n\n" + "\n".join(f"- {item}" for item in items)


def body(info: dict[str, Any], weights_sha256: str, reference: str, license: str | None,
         files: list[FileRow], bases: list[str] | None = None) -> str:
    """The card's Markdown body.

    :param reference: how users name the model (``hf-hub:ORG/NAME``).
    :param files: the repository's files (path, bytes, sha256), listed with their hashes.
    :param bases: the Hub repositories the model was built from.
    """
    sections = [_title(info, weights_sha256, reference), _usage(info, reference), _architecture(info),
                _training(info), _evaluation(info), _compression(info), _exports(info, files), _files(info, files),
                _limitations(info, license, bases or [])]
    return "\n\n".join(section for section in sections if section) + "\n"

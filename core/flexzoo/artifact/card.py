"""The model card: what a reader of an artifact wants to know at a glance."""

from __future__ import annotations

from typing import Any


def _backbone_output(card: dict[str, Any]) -> str:
    maps = card.get("feature_maps")
    if maps:
        return "feature maps " + ", ".join(f"{name} {shape}" for name, shape in maps.items())
    return f"{card['feature_size']} features"


def render_card(info: dict[str, Any], weights_sha256: str) -> str:
    """The card as text, for ``zoo inspect`` and ``zoo build``."""
    card = info["card"]
    model = info["manifest"]["model"]
    versions = info["versions"]
    lines = [
        f"{model['name']} {model.get('version', '')}".rstrip(),
        *([model["description"]] if model.get("description") else []),
        *_input_lines(card),
        f"  parameters    {card['parameters']:,}",
        f"  weights       {card['bytes']:,} bytes ({card['dtype']})",
        "  heads",
    ]
    width = max(len(name) for name in card["heads"]) if card["heads"] else 0
    for name, head in card["heads"].items():
        lines.append(f"    {name:<{width}}  {head['use']:<20} output {head['output_shape']}")
        if head.get("labels"):
            shown = head["labels"][:10]
            more = f", ... ({len(head['labels'])} classes)" if len(head["labels"]) > 10 else ""
            lines.append(f"    {'':<{width}}  labels: {', '.join(map(str, shown))}{more}")
    prep = card.get("preprocessing")
    if prep:
        norm = (f"mean {prep['mean']} std {prep['std']} ({prep['normalization']})" if prep.get("mean")
                else "no mean/std")
        lines.append(f"  preprocessing {prep['channel_order']} {prep['input_size']}, {prep['resize']} "
                     f"{prep['interpolation']}, scale {prep['scale']}, {norm}")
    lines += _compression_lines(info.get("compression"))
    adapters = info.get("adapters")
    if adapters:
        lines.append(f"  adapters      LoRA rank {adapters['rank']} on {len(adapters['layers'])} layers of the base "
                     f"{adapters['base']['path']} (sha256 {adapters['base']['weights_sha256'][:12]}…)")
    lines += _pretrained_lines(info.get("pretrained"))
    plugins = ", ".join(f"{n} {p.get('version')}" for n, p in sorted(info["plugins"].items()))
    lines += [
        f"  plugins       {plugins}",
        f"  built with    flexzoo {versions['flexzoo']}, torch {versions['torch']}, python {versions['python']}",
        f"  sha256        {weights_sha256}",
    ]
    training = info.get("training")
    if training:
        final = ", ".join(f"{k} {v:.4g}" for k, v in training["final_validation"].items())
        lines += [f"  trained on    {training['data']['description']} (sha256 {training['data']['sha256'][:12]}…)",
                  f"  epochs        {training['epochs_run']}{' (stopped early)' if training['stopped_early'] else ''}",
                  f"  validation    {final}"]
    return "\n".join(lines)


def _input_lines(card: dict[str, Any]) -> list[str]:
    """The input shape and backbone; for a model of several inputs, each input's shape and backbone, and the fusion."""
    inputs = card.get("inputs")
    if not inputs:
        return [f"  input shape   {card.get('input_shape')}",
                f"  backbone      {card['backbone']} -> {_backbone_output(card)}"]
    width = max(len(name) for name in inputs)
    lines = ["  inputs"]
    lines += [f"    {name:<{width}}  {entry['shape']}  backbone {entry['backbone']}" for name, entry in inputs.items()]
    return [*lines, f"  fusion        {card['backbone']} -> {_backbone_output(card)}"]


def _number(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:.3g}"


def _ratio(pair: dict[str, float], unit: str) -> str:
    before, after = pair["before"], pair["after"]
    text = f"{_number(after)}{unit}"
    return f"{text} (was {_number(before)}{unit}, x{after / before:.3f})" if before else text


def _compression_lines(compression: dict[str, Any] | None) -> list[str]:
    if not compression:
        return []
    lines = ["  compression   " + " -> ".join(step["use"].partition(":")[2] for step in compression["steps"])]
    report = compression.get("report")
    if report:
        lines.append(f"    parameters  {_ratio(report['parameters'], '')}")
        lines.append(f"    bytes       {_ratio(report['bytes'], ' B')}")
        latency = report.get("latency", {})
        for mode in ("eager", "compiled"):
            if mode in latency:
                times = {"before": latency[mode]["before_ms"], "after": latency[mode]["after_ms"]}
                lines.append(f"    {mode:<10}  {_ratio(times, ' ms')} at batch {latency['batch']}")
        for metric, pair in report.get("accuracy", {}).items():
            lines.append(f"    {metric:<16}  {pair['after']:.4f} (was {pair['before']:.4f})")
    return lines


def _pretrained_lines(sources: list[dict[str, Any]] | None) -> list[str]:
    """Each pretrained source: where its files came from (commit or URL), their size and sha256."""
    lines = []
    for source in sources or []:
        library = f" ({source['library']})" if source.get("library") else ""
        lines.append(f"  pretrained    {source['reference']}{library}")
        for file in source["files"]:
            origin = (f"{file['repository']}@{(file.get('commit') or file['revision'])[:12]}" if file.get("repository")
                      else file["url"])
            lines.append(f"    {file['file']}  {origin}  {file['size']:,} bytes  sha256 {file['sha256']}")
        prep = source.get("preprocessing") or {}
        shown = [f"{k} {prep[k]}" for k in ("input_size", "interpolation", "mean", "std") if prep.get(k) is not None]
        if prep.get("label_names"):
            shown.append(f"{len(prep['label_names'])} label names")
        if shown:
            lines.append(f"    declares    {', '.join(shown)}")
    return lines

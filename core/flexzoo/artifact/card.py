"""The model card: what a reader of an artifact wants to know at a glance."""

from __future__ import annotations

from typing import Any


def render_card(info: dict[str, Any], weights_sha256: str) -> str:
    """The card as text, for ``zoo inspect`` and ``zoo build``."""
    card = info["card"]
    model = info["manifest"]["model"]
    versions = info["versions"]
    lines = [
        f"{model['name']} {model.get('version', '')}".rstrip(),
        *([model["description"]] if model.get("description") else []),
        f"  input shape   {card.get('input_shape')}",
        f"  backbone      {card['backbone']} -> {card['feature_size']} features",
        f"  parameters    {card['parameters']:,}",
        f"  weights       {card['bytes']:,} bytes ({card['dtype']})",
        "  heads",
    ]
    width = max(len(name) for name in card["heads"]) if card["heads"] else 0
    for name, head in card["heads"].items():
        lines.append(f"    {name:<{width}}  {head['use']:<20} output {head['output_shape']}")
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

"""Step orders and export formats that cannot work together are refused at validation, with the reason."""

from __future__ import annotations

import pytest

import flexzoo
from flexzoo import ManifestError

BASE = """
[model]
name = "tiny"
input_shape = [1, 8, 8]

[backbone]
use = "cnn"

[heads.out]
use = "linear"
num_classes = 10
"""


def problems(tmp_path, registry, text: str) -> str:
    path = tmp_path / "model.toml"
    path.write_text(BASE + text)
    with pytest.raises(ManifestError) as caught:
        flexzoo.load_manifest(path, registry)
    return str(caught.value)


def test_structured_pruning_after_int8_is_refused_with_the_fix(tmp_path, registry):
    text = problems(tmp_path, registry, '[[compress]]\nuse = "quantize_int8"\n[[compress]]\nuse = "prune_channels"\n')
    assert ("[compress[1].use] `compress:prune_channels` cannot come after `compress:quantize_int8` "
            "(compress[0])") in text
    assert "fix: move `prune_channels` before `quantize_int8`" in text
    assert "model.toml:15:" in text  # the line of its `use`


def test_int8_to_onnx_is_refused(tmp_path, registry):
    text = problems(tmp_path, registry, '[[compress]]\nuse = "quantize_int8"\nmode = "static"\n'
                    '[export]\nformats = ["onnx", "exported-program"]\n')
    assert "[export.formats] format `onnx` cannot hold a model compressed by `compress:quantize_int8`" in text
    assert "exported-program` cannot" not in text


def test_bad_parameter_values_name_their_key(tmp_path, registry):
    path = tmp_path / "model.toml"
    path.write_text(BASE + '[[compress]]\nuse = "prune_channels"\namount = 1.5\n')
    from flexzoo.assembly.builder import plan

    with pytest.raises(ManifestError, match=r"\[compress\[0\]\.amount\] compress:prune_channels: `amount` must be"):
        plan(flexzoo.load_manifest(path, registry), registry)


def test_valid_pipeline_resolves_with_defaults(tmp_path, registry):
    path = tmp_path / "model.toml"
    path.write_text(BASE + '[[compress]]\nuse = "prune_channels"\n[[compress]]\nuse = "quantize_int8"\n'
                    '[export]\nformats = ["exported-program"]\n')
    manifest = flexzoo.load_manifest(path, registry)
    assert manifest.compress[1].params == {"mode": "dynamic", "calibration_batches": 8, "batch_size": 8}
    assert manifest.export == {"formats": ["exported-program"], "opset": 18}


def test_the_compression_example_is_valid():
    from pathlib import Path

    example = Path(__file__).resolve().parents[3] / "examples" / "digits-compressed.toml"
    manifest = flexzoo.load_manifest(example)
    assert [step.use for step in manifest.compress] == ["compress:prune_channels", "compress:quantize_int8"]
    assert manifest.export == {"formats": ["exported-program"], "opset": 18}

"""Transfer learning: `[backbone] from` reuses a trained backbone, `freeze` fixes it, heads are added or removed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import flexzoo
from flexzoo import ManifestError, load_manifest
from flexzoo.pipeline.stages import train
from flexzoo.testing import registry_of

SOURCE = """
[model]
name = "source"
seed = 1
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [24]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "linear"
num_classes = 2

[train]
data = "digits"
epochs = 1
lr = 0.01
"""

REUSE = """
[model]
name = "reuse"
seed = 2

[backbone]
from = "trained/source.safetensors"
freeze = {freeze}

[heads.digit]
use = "linear"
num_classes = 10

[heads.big]
use = "linear"
num_classes = 2

[train]
data = "digits"
epochs = 1
lr = 0.01

[train.heads.big]
target = "parity"
"""


@pytest.fixture(scope="module")
def trained_source(tmp_path_factory) -> tuple[flexzoo.ZooModel, Path]:
    """The source model, trained once for the module, and its artifact (tests only read them)."""
    folder = tmp_path_factory.mktemp("source")
    (folder / "source.toml").write_text(SOURCE)
    registry = registry_of()
    result = train(load_manifest(folder / "source.toml", registry), folder / "trained", registry, show_progress=False)
    return result.model, result.artifact


@pytest.fixture
def source(trained_source, tmp_path) -> flexzoo.ZooModel:
    """The trained source model, its artifact copied to ``tmp_path/trained/`` where the REUSE manifest names it."""
    model, artifact = trained_source
    (tmp_path / "trained").mkdir()
    shutil.copy(artifact, tmp_path / "trained" / "source.safetensors")
    return model


def part(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_backbone_and_unchanged_heads_keep_their_weights(source, manifest_file, registry):
    manifest = load_manifest(manifest_file(REUSE.format(freeze="false")), registry)
    assert manifest.backbone.use == "builtin:mlp" and manifest.backbone.params["widths"] == [24]
    assert manifest.model.input_shape == (1, 8, 8)  # taken from the artifact
    model = flexzoo.build(manifest, registry)
    assert same(part(model, "backbone."), part(source, "backbone."))
    assert same(part(model, "heads.digit."), part(source, "heads.digit."))
    assert "heads.parity.0.weight" not in model.state_dict()  # removed
    assert model.heads["big"](torch.zeros(1, 24)).shape == (1, 2)  # added, freshly initialized


def test_frozen_backbone_does_not_change_while_heads_train(source, manifest_file, registry, tmp_path):
    manifest = load_manifest(manifest_file(REUSE.format(freeze="true")), registry)
    result = train(manifest, tmp_path / "reused", registry, show_progress=False)
    assert same(part(result.model, "backbone."), part(source, "backbone."))
    assert not same(part(result.model, "heads.digit."), part(source, "heads.digit."))
    (tmp_path / "trained" / "source.safetensors").unlink()  # the new artifact stands on its own
    reloaded = flexzoo.load(result.artifact, registry)
    assert same(part(reloaded, ""), part(result.model, ""))


def test_freeze_patterns_select_backbone_parameters(source, manifest_file, registry, tmp_path):
    manifest = load_manifest(manifest_file(REUSE.format(freeze='["*.weight"]')), registry)
    result = train(manifest, tmp_path / "reused", registry, show_progress=False)
    trained, before = result.model.state_dict(), source.state_dict()
    assert torch.equal(trained["backbone.1.weight"], before["backbone.1.weight"])
    assert not torch.equal(trained["backbone.1.bias"], before["backbone.1.bias"])


def test_freeze_pattern_matching_nothing_suggests_names(source, manifest_file, registry, tmp_path):
    manifest = load_manifest(manifest_file(REUSE.format(freeze='["stem.*"]')), registry)
    with pytest.raises(ManifestError) as caught:
        train(manifest, tmp_path / "reused", registry, show_progress=False)
    problem = caught.value.problems[0]
    assert problem.key == "backbone.freeze" and "matches no backbone parameter" in problem.message
    assert "`1.weight`" in problem.hint


def test_from_a_missing_artifact_is_a_manifest_error(manifest_file, registry):
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(REUSE.format(freeze="true")), registry)
    problem = caught.value.problems[0]
    assert problem.key == "backbone.from" and "no such file" in problem.message and problem.line == 6


def test_from_with_parameters_but_no_use_is_refused(source, manifest_file, registry):
    text = REUSE.format(freeze="true").replace("freeze = true", "freeze = true\nwidths = [8]")
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(text), registry)
    assert caught.value.problems[0].key == "backbone.widths"
    assert "add use = ..." in caught.value.problems[0].hint


def test_freeze_must_be_a_boolean_or_patterns(manifest_file, registry):
    text = REUSE.format(freeze="3")
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(text), registry)
    assert {p.key for p in caught.value.problems} == {"backbone.freeze"}

"""`[train.lora]`: low-rank adapters train on a frozen backbone and are merged into a plain artifact."""

from __future__ import annotations

import shutil

import numpy as np
import onnxruntime
import pytest
import torch
from safetensors import safe_open

import flexzoo
from flexzoo import ArtifactError, ManifestError, load_manifest
from flexzoo.cli import main
from flexzoo.features.lora.training import LowRankUpdate, adapt, adapter_parameter_names, merge_adapters
from flexzoo.manifest.train import LoraSettings
from flexzoo.pipeline.stages import Pipeline, train
from flexzoo.testing import read_artifact

CNN = """
[model]
name = "{name}"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [4, 8]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = 1
batch_size = 128
lr = 0.01
"""

TUNED = """
[model]
name = "tuned"
seed = 3

[backbone]
from = "base/base.safetensors"

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = 1
batch_size = 128
lr = 0.01

[train.lora]
rank = 2
alpha = 4.0
{extra}

[export]
formats = ["onnx"]
"""

BATCH = torch.rand(16, 1, 8, 8)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> flexzoo.ZooModel:
    """A small CNN trained for one epoch on digits: the artifact LoRA adapts."""
    root = tmp_path_factory.mktemp("lora")
    (root / "base.toml").write_text(CNN.format(name="base"))
    return train(load_manifest(root / "base.toml"), root / "base", show_progress=False).model


@pytest.fixture
def tuned_manifest(base, tmp_path):
    root = base.manifest.base_dir()  # where base/ is

    def write(extra: str = "", name: str = "tuned.toml"):
        path = root / name
        path.write_text(TUNED.format(extra=extra))
        return load_manifest(path)
    return write


def assert_same_outputs(loaded: flexzoo.ZooModel, result) -> None:
    """The reloaded model gives the trained model's outputs exactly, and its ONNX export within 1e-4."""
    x = torch.rand(32, 1, 8, 8)
    assert torch.equal(loaded(x)["digit"], result.model(x)["digit"])
    (onnx_export,) = result.exports
    session = onnxruntime.InferenceSession(onnx_export["path"])
    (onnx_digit,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(onnx_digit, loaded(x)["digit"].detach().numpy(), atol=1e-4)


def adapted_layers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))}


def test_merging_keeps_the_adapted_outputs_names_and_types_and_adds_a_low_rank_update(manifest_file, registry):
    model = flexzoo.build(load_manifest(manifest_file(CNN.format(name="plain")), registry), registry).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain_outputs = model(BATCH)["digit"]
    torch.manual_seed(0)
    names = adapt(model.backbone, LoraSettings(rank=2, alpha=4.0, targets=("*",)))
    assert set(names) == set(adapted_layers(model.backbone)) and names
    assert torch.equal(model(BATCH)["digit"], plain_outputs)  # `up` starts at zero: the base model
    for name in adapter_parameter_names(model.backbone):
        if name.endswith(".up"):
            torch.nn.init.normal_(model.backbone.get_parameter(name), std=0.1)
    adapted_outputs = model(BATCH)["digit"].detach()
    assert not torch.allclose(adapted_outputs, plain_outputs, atol=1e-3)

    assert len(merge_adapters(model)) == len(names)
    assert torch.allclose(model(BATCH)["digit"], adapted_outputs, atol=1e-5)
    after = model.state_dict()
    assert list(after) == list(before)
    assert not any(isinstance(m, LowRankUpdate) for m in model.modules())
    for name in names:
        delta = (after[f"backbone.{name}.weight"] - before[f"backbone.{name}.weight"]).flatten(1)
        assert torch.linalg.matrix_rank(delta).item() == 2
    updated = {f"backbone.{name}.weight" for name in names}
    assert all(torch.equal(after[k], v) for k, v in before.items() if k not in updated)


@pytest.mark.slow
def test_only_adapters_and_heads_train_and_the_base_stays_bit_identical(base, tuned_manifest):
    pipeline = Pipeline(tuned_manifest())
    model = pipeline.model()
    base_state = {k: v.clone() for k, v in base.backbone.state_dict().items()}
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in base_state.items())  # from = ...
    head_before = {k: v.clone() for k, v in model.heads.state_dict().items()}
    loss_before = pipeline.evaluate(model)["loss"]
    fitted = pipeline.train(model, pipeline.manifest.base_dir() / "out", resume=False, show_progress=False)

    trainable = {name for name, p in model.named_parameters() if p.requires_grad}
    adapters = {f"backbone.{n}" for n in adapter_parameter_names(model.backbone)}
    assert trainable == adapters | {f"heads.{n}" for n in head_before}
    total = sum(p.numel() for p in model.parameters())
    assert sum(p.numel() for n, p in model.named_parameters() if n in trainable) < total / 2
    state = model.backbone.state_dict()
    for name, tensor in base_state.items():  # weights (now `...parametrizations.weight.original`) and buffers
        stored = state.get(name, state.get(name.replace(".weight", ".parametrizations.weight.original")))
        assert torch.equal(stored, tensor), name
    assert any(not torch.equal(model.backbone.get_parameter(n.removeprefix("backbone.")), torch.zeros(1))
               for n in adapters if n.endswith(".up"))
    assert fitted.history[-1]["validation"]["loss"] < loss_before

    x = torch.rand(32, 1, 8, 8)
    adapted = model.eval()(x)["digit"].detach()
    merge_adapters(model)
    assert torch.allclose(model(x)["digit"], adapted, atol=1e-5)


@pytest.mark.slow
def test_a_lora_run_writes_a_plain_artifact_that_reloads_and_exports_with_the_same_outputs(base, tuned_manifest):
    result = train(tuned_manifest(), tuned_manifest().base_dir() / "out", show_progress=False)
    with safe_open(result.artifact, "pt") as stored:
        assert sorted(stored.keys()) == sorted(base.state_dict())  # no adapter in the file: merged into the base
    loaded = flexzoo.load(result.artifact)
    assert_same_outputs(loaded, result)
    for name, layer in adapted_layers(loaded.backbone).items():
        delta = (layer.weight - base.backbone.get_submodule(name).weight).flatten(1)
        assert 0 < torch.linalg.matrix_rank(delta).item() <= 2, name


def test_lora_keys_are_checked_with_the_closest_name(manifest_file, registry):
    text = CNN.format(name="bad") + "\n[train.lora]\nrnak = 4\nalpha = 0\n"
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(text), registry)
    message = str(caught.value)
    assert "unknown key `rnak` in [train.lora]" in message and "did you mean `rank`?" in message
    assert "train.lora.alpha" in message


def test_freeze_and_lora_together_are_refused(manifest_file, registry):
    text = CNN.format(name="bad").replace('channels = [4, 8]', 'channels = [4, 8]\nfreeze = true')
    with pytest.raises(ManifestError, match=r"`freeze` and \[train.lora\] both choose"):
        load_manifest(manifest_file(text + "\n[train.lora]\n"), registry)


@pytest.mark.parametrize(("targets", "expected"), [
    ('["stages.9.*"]', r"(?s)LoRA target `stages.9.\*` matches no backbone layer.*`stages.0.0.conv2`"),
    ('["stem.1"]', r"LoRA target `stem.1` matches `stem.1` \(BatchNorm2d\), none of them a Linear or Conv layer"),
])
def test_a_target_without_an_adaptable_layer_names_what_it_matched(targets, expected, manifest_file, registry,
                                                                      tmp_path):
    text = CNN.format(name="bad") + f"\n[train.lora]\ntargets = {targets}\n"
    manifest = load_manifest(manifest_file(text), registry)
    with pytest.raises(ManifestError, match=expected) as caught:
        train(manifest, tmp_path / "out", registry, show_progress=False)
    assert "train.lora.targets" in str(caught.value)
    assert not (tmp_path / "out" / "bad.safetensors").exists()


@pytest.mark.slow
def test_an_adapter_artifact_holds_adapters_and_heads_and_loads_as_the_merged_model(base, tuned_manifest, capsys):
    root = tuned_manifest().base_dir()
    merged = train(tuned_manifest(), root / "merged", show_progress=False)
    result = train(tuned_manifest('store = "adapters"'), root / "out", show_progress=False)
    with safe_open(result.artifact, "pt") as stored:
        names = set(stored.keys())
    layers = set(adapted_layers(base.backbone))
    assert names == {f"backbone.{n}.lora.{m}" for n in layers for m in ("down", "up")} | {
        name for name in base.state_dict() if name.startswith("heads.")}  # the backbone stays in the base
    assert _tensor_bytes(result.artifact) < _tensor_bytes(merged.artifact) / 2  # the card (profile...) is alike

    loaded = flexzoo.load(result.artifact)
    expected = flexzoo.load(merged.artifact).state_dict()  # the same run, stored merged
    assert list(loaded.state_dict()) == list(expected)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in expected.items())
    assert_same_outputs(loaded, result)

    record = read_artifact(result.artifact).adapters
    assert record["base"] == {"path": "../base/base.safetensors",
                              "weights_sha256": read_artifact(root / "base" / "base.safetensors").weights_sha256}
    assert set(record["layers"]) == {f"backbone.{n}" for n in layers} and (record["rank"], record["alpha"]) == (2, 4.0)
    assert main(["inspect", str(result.artifact)]) == 0
    assert f"LoRA rank 2 on {len(layers)} layers of the base ../base/base.safetensors" in capsys.readouterr().out

    again = root / "again.toml"  # a later `from =` reads the adapter artifact with its base, like flexzoo.load
    again.write_text('[model]\nname = "again"\n\n[backbone]\nfrom = "out/tuned.safetensors"\n\n'
                     '[heads.parity]\nuse = "linear"\nnum_classes = 2\n')
    reused = flexzoo.build(load_manifest(again)).backbone.state_dict()
    assert all(torch.equal(tensor, loaded.backbone.state_dict()[name]) for name, tensor in reused.items())


@pytest.mark.slow
def test_an_adapter_artifact_without_its_base_or_on_other_weights_is_refused_by_name(base, tuned_manifest, tmp_path,
                                                                                      capsys):
    root = tuned_manifest().base_dir()
    result = train(tuned_manifest('store = "adapters"'), root / "out", show_progress=False)
    moved = tmp_path / "elsewhere" / "tuned.safetensors"
    moved.parent.mkdir()
    shutil.copy(result.artifact, moved)
    with pytest.raises(ArtifactError, match=r"holds LoRA adapters for the base artifact `\.\./base/base\.safetensors` "
                                            r"\(weights sha256 [0-9a-f]{12}…\), which is not at"):
        flexzoo.load(moved)

    other = tmp_path / "base" / "base.safetensors"  # a base of the same shape with other weights
    (tmp_path / "other.toml").write_text(CNN.format(name="base").replace("seed = 0", "seed = 5"))
    flexzoo.save(flexzoo.build(load_manifest(tmp_path / "other.toml")), other.parent, export=False)
    np.save(tmp_path / "x.npy", np.random.rand(2, 1, 8, 8).astype(np.float32))
    assert main(["inspect", str(moved)]) == 0  # the card reads without the base
    capsys.readouterr()
    assert main(["predict", str(moved), str(tmp_path / "x.npy")]) == 1
    assert "the adapters were trained on other weights" in capsys.readouterr().err
    assert main(["export", str(moved), "--format", "onnx", "-o", str(tmp_path / "x")]) == 1
    error = capsys.readouterr().err
    assert "but" in error and "the adapters were trained on other weights" in error and "Traceback" not in error
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_storing_adapters_needs_a_base_artifact_and_no_compression(manifest_file, registry):
    text = CNN.format(name="bad") + '\n[train.lora]\nstore = "adapters"\n'
    with pytest.raises(ManifestError, match=r'train.lora.store.*store = "adapters" keeps only the adapters') as caught:
        load_manifest(manifest_file(text + '\n[[compress]]\nuse = "compress:cast"\n'))
    assert "[[compress]] steps change it" in str(caught.value)
    with pytest.raises(ManifestError, match=r"train.lora.store"):
        load_manifest(manifest_file(CNN.format(name="bad") + '\n[train.lora]\nstore = "weights"\n'), registry)


def _tensor_bytes(path):
    """The bytes of a safetensors file's tensors: its size less the length prefix and the JSON header."""
    with open(path, "rb") as file:
        header = int.from_bytes(file.read(8), "little")
    return path.stat().st_size - 8 - header

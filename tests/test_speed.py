"""Speed options: meta-device loading of artifacts, and the [train] keys compile, channels_last, optimizer_impl."""

from __future__ import annotations

import json
import os
import threading

import pytest
import torch

import flexzoo
from conftest import TINY_MANIFEST
from flexzoo import ArtifactError, ManifestError, load_manifest
from flexzoo.manifest.train import TrainConfig
from flexzoo.pipeline.stages import train
from flexzoo.testing import read_artifact, registry_of
from flexzoo.training.checkpoint import CheckpointWriter, checkpoint_state
from flexzoo.training.optimization import make_optimizer

CNN_TRAIN = """
[model]
name = "speedy"
seed = 1
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
batch_size = 256
lr = 0.01
"""


@pytest.fixture
def saved(manifest_file, registry, tmp_path):
    model = flexzoo.build(manifest_file(TINY_MANIFEST), registry)
    return model, flexzoo.save(model, tmp_path / "out", registry)


def _outputs(model, x):
    with torch.no_grad():
        return model(x)


def test_load_builds_on_meta_and_runs_no_initializer(saved, registry, monkeypatch):
    model, path = saved
    calls = []
    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", lambda t, *a, **k: calls.append(t.device) or t)
    loaded = flexzoo.load(path, registry)
    assert calls and all(device.type == "meta" for device in calls)  # constructors ran on meta only
    x = torch.randn(3, 1, 8, 8)
    expected, actual = _outputs(model, x), _outputs(loaded, x)
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert not any(t.is_meta for t in [*loaded.parameters(), *loaded.buffers()])


def test_loaded_weights_are_views_of_the_mapped_file_not_copies(saved, registry):
    _, path = saved
    from flexzoo.artifact.aligned import ALIGNMENT

    loaded = flexzoo.load(path, registry)
    whole = [p for p in loaded.parameters() if p.nbytes % ALIGNMENT == 0]  # laid out first, each on a boundary
    assert whole and len({p.untyped_storage().data_ptr() for p in whole}) == 1  # views into the one mapping
    odd = [p for p in loaded.parameters() if p.nbytes % ALIGNMENT]  # laid out after: copied when off a boundary
    assert len({p.untyped_storage().data_ptr() for p in loaded.parameters()}) <= 1 + len(odd)
    weight = next(loaded.parameters())
    assert weight.requires_grad and isinstance(weight, torch.nn.Parameter)


def test_load_can_be_trained_after_mapping(saved, registry):
    _, path = saved
    loaded = flexzoo.load(path, registry).train()
    before = path.read_bytes()
    loss = sum(out.sum() for out in loaded(torch.randn(2, 1, 8, 8)).values())
    loss.backward()
    torch.optim.SGD(loaded.parameters(), lr=0.1).step()
    assert path.read_bytes() == before  # the mapping is private: the artifact is never written through


def test_load_with_device_puts_every_tensor_there(saved, registry):
    model, path = saved
    loaded = flexzoo.load(path, registry, device="cpu")
    assert {t.device.type for t in [*loaded.parameters(), *loaded.buffers()]} == {"cpu"}
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(_outputs(model, x)["digit"], _outputs(loaded, x)["digit"])
    with pytest.raises((RuntimeError, AssertionError)):
        flexzoo.load(path, registry, device="cuda:99")  # no such device here: torch says so


def test_tampered_weights_are_still_refused_on_the_mapped_path(saved, registry):
    _, path = saved
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0x10
    path.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="weights hash mismatch"):
        flexzoo.load(path, registry)


def test_a_step_that_cannot_restore_on_meta_gets_a_real_build(manifest_file, tmp_path):
    seen = []

    class Scale:
        """Not marked restores_on_meta: it reads weight values while restoring."""

        def __call__(self, model):
            seen.append(next(model.parameters()).device.type)
            with torch.no_grad():
                next(model.parameters()).mul_(1.0)
            return model

    class Plugin:
        @flexzoo.hookimpl
        def flexzoo_compressors(self):
            def scale():
                """Scale by one."""
                return Scale()

            return [flexzoo.Component("scale", scale)]

    registry = registry_of(scaling=Plugin())
    model = flexzoo.build(manifest_file(TINY_MANIFEST + '\n[[compress]]\nuse = "scale"\n'), registry)
    path = flexzoo.save(model, tmp_path, registry)
    loaded = flexzoo.load(path, registry)
    assert seen == ["cpu", "cpu"]  # applied at build, replayed on a real model at load
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(_outputs(model, x)["digit"], _outputs(loaded, x)["digit"])


def test_tied_parameters_stay_tied_after_loading(manifest_file, tmp_path):
    class Tie:
        restores_on_meta = True

        def __call__(self, model):
            model.backbone.alias = model.heads["digit"]  # one module under two names: its weights are tied
            return model

    class Plugin:
        @flexzoo.hookimpl
        def flexzoo_compressors(self):
            def tie():
                """Share the digit head."""
                return Tie()

            return [flexzoo.Component("tie", tie)]

    registry = registry_of(tie=Plugin())
    model = flexzoo.build(manifest_file(TINY_MANIFEST + '\n[[compress]]\nuse = "tie"\n'), registry)
    loaded = flexzoo.load(flexzoo.save(model, tmp_path, registry), registry)
    assert loaded.backbone.alias[0].weight is loaded.heads["digit"][0].weight


def test_speed_keys_default_without_changing_the_stored_manifest(manifest_file, registry):
    manifest = load_manifest(manifest_file(CNN_TRAIN), registry)
    speed = ("compile", "channels_last", "optimizer_impl", "checkpoint_every")
    assert not set(speed) & set(manifest.train)  # left out when not given: older manifests hash as before
    config = TrainConfig.from_dict(manifest.train)
    assert {k: getattr(config, k) for k in speed} == {
        "compile": False, "channels_last": False, "optimizer_impl": "auto", "checkpoint_every": 1}


def test_checkpoint_every_must_be_positive(manifest_file, registry):
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(CNN_TRAIN + "checkpoint_every = 0\n"), registry)
    (problem,) = caught.value.problems
    assert problem.key == "train.checkpoint_every"


def test_checkpoint_every_skips_epochs_but_not_the_last_nor_the_metrics(manifest_file, registry, tmp_path,
                                                                        monkeypatch):
    checkpointed = []
    submit = CheckpointWriter.submit

    def recording(self, run_dir, checkpoint):
        checkpointed.append(checkpoint.state["epoch"])
        submit(self, run_dir, checkpoint)

    monkeypatch.setattr(CheckpointWriter, "submit", recording)
    text = CNN_TRAIN.replace("epochs = 1", "epochs = 5") + "checkpoint_every = 2\n"
    result = train(load_manifest(manifest_file(text), registry), tmp_path, registry)
    assert checkpointed == [2, 4, 5]
    assert checkpoint_state(tmp_path / "speedy.train")["epoch"] == 5
    lines = (tmp_path / "speedy.train" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5]
    assert read_artifact(result.artifact).manifest["train"]["checkpoint_every"] == 2


@pytest.mark.skipif(not hasattr(os, "setpriority") or os.uname().sysname != "Linux", reason="per-thread niceness")
def test_checkpoint_writer_thread_yields_the_cpu_to_training():
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    with CheckpointWriter() as writer:
        writer_niceness = writer._pool.submit(niceness).result()
    assert writer_niceness > niceness()


def test_speed_keys_are_validated_with_clear_errors(manifest_file, registry):
    text = CNN_TRAIN + 'compile = "yes"\noptimizer_impl = "fusd"\nchannels_last = 1\n'
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(text), registry)
    found = {p.key: p.render(caught.value.file) for p in caught.value.problems}
    assert "`compile` expects bool" in found["train.compile"]
    assert "did you mean `fused`?" in found["train.optimizer_impl"]
    assert "`channels_last` expects bool" in found["train.channels_last"]


def test_channels_last_needs_image_inputs(manifest_file, registry):
    text = CNN_TRAIN.replace("input_shape = [1, 8, 8]", "input_shape = [64]").replace('use = "cnn"\nchannels = [4, 8]',
                                                                                      'use = "mlp"\nwidths = [8]')
    with pytest.raises(ManifestError) as caught:
        load_manifest(manifest_file(text + "channels_last = true\n"), registry)
    (problem,) = caught.value.problems
    assert problem.key == "train.channels_last" and "[channels, height, width]" in problem.message


@pytest.mark.parametrize("impl, flag", [("fused", "fused"), ("foreach", "foreach"), ("for_loop", "foreach")])
def test_optimizer_impl_reaches_torch(manifest_file, registry, impl, flag):
    manifest = load_manifest(manifest_file(CNN_TRAIN + f'optimizer_impl = "{impl}"\n'), registry)
    optimizer = make_optimizer(TrainConfig.from_dict(manifest.train), torch.nn.Linear(2, 2).parameters())
    assert optimizer.defaults[flag] is (impl != "for_loop")


def test_channels_last_and_fused_train_the_same_as_the_defaults(manifest_file, registry, tmp_path):
    plain = train(load_manifest(manifest_file(CNN_TRAIN, "a.toml"), registry), tmp_path / "a", registry)
    fast_text = CNN_TRAIN + 'channels_last = true\noptimizer_impl = "fused"\n'
    fast = train(load_manifest(manifest_file(fast_text, "b.toml"), registry), tmp_path / "b", registry)
    x = torch.randn(4, 1, 8, 8)
    # the same training up to the order of floating-point sums (convolution layout, one fused kernel)
    assert torch.allclose(_outputs(plain.model, x)["digit"], _outputs(fast.model, x)["digit"], atol=2e-2)
    assert abs(plain.history[0]["train_loss"] - fast.history[0]["train_loss"]) < 1e-3
    recorded = read_artifact(fast.artifact).manifest["train"]
    assert recorded["channels_last"] is True and recorded["optimizer_impl"] == "fused"


@pytest.mark.slow
def test_compiled_training_matches_eager_and_is_recorded(manifest_file, registry, tmp_path):
    eager = train(load_manifest(manifest_file(CNN_TRAIN, "a.toml"), registry), tmp_path / "a", registry)
    compiled = train(load_manifest(manifest_file(CNN_TRAIN + "compile = true\n", "b.toml"), registry),
                     tmp_path / "b", registry)
    x = torch.randn(4, 1, 8, 8)
    assert torch.allclose(_outputs(eager.model, x)["digit"], _outputs(compiled.model, x)["digit"], atol=2e-2)
    assert abs(eager.history[0]["validation"]["digit.accuracy"]
               - compiled.history[0]["validation"]["digit.accuracy"]) < 0.02
    assert read_artifact(compiled.artifact).manifest["train"]["compile"] is True
    assert not any(k.startswith("_orig_mod") for k in flexzoo.load(compiled.artifact, registry).state_dict())

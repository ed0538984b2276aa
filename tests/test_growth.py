"""`[[train.grow]]`: a backbone grows mid-training keeping its outputs; the artifact is the grown model."""

from __future__ import annotations

import copy

import pytest
import torch
from safetensors.torch import load_file

import flexzoo
from flexzoo import ManifestError, load_manifest
from flexzoo.features.growth.growth import Growth
from flexzoo.manifest.train import GrowStep
from flexzoo.pipeline.stages import Pipeline, train
from flexzoo.plugin.hookspecs import hookimpl
from flexzoo.testing import read_artifact, registry_of

MANIFEST = """
[model]
name = "grown"
seed = 0
input_shape = [1, 8, 8]

[backbone]
{backbone}

[heads.digit]
use = "mlp"
num_classes = 10
hidden = [8]

[train]
data = "digits"
epochs = 3
batch_size = 128
lr = 0.01
{train}
"""

BATCH = torch.rand(16, 1, 8, 8)


def built(manifest_file, backbone: str) -> Pipeline:
    pipeline = Pipeline(load_manifest(manifest_file(MANIFEST.format(backbone=backbone, train=""))))
    return pipeline


def with_running_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Move normalization statistics off their defaults, so that copying them is tested too."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(32, 1, 8, 8) * 3)
    return model.eval()


@pytest.mark.parametrize(("backbone", "step", "grown"), [
    ('use = "mlp"\nwidths = [8, 6]', GrowStep(1, 2.0, None, 1), {"widths": [16, 12, 12]}),
    ('use = "mlp"\nwidths = [8, 6]\nnorm = "batch"', GrowStep(1, 1.0, (13, 7), 0), {"widths": [13, 7]}),
    ('use = "mlp"\nwidths = [8, 6]\nnorm = "layer"\ndropout = 0.2', GrowStep(1, 3.0, None, 0), {"widths": [24, 18]}),
    ('use = "cnn"\nchannels = [4, 6]', GrowStep(1, 1.5, None, 1), {"channels": [6, 9], "depth": 2}),
], ids=["mlp-widen-deepen", "mlp-batchnorm-uneven-widths", "mlp-layernorm", "cnn-widen-deepen"])
def test_growing_keeps_the_outputs(manifest_file, backbone, step, grown):
    pipeline = built(manifest_file, backbone)
    model = with_running_statistics(pipeline.model())
    before = copy.deepcopy(model)
    growth = Growth(pipeline.manifest, pipeline.registry, (step,), seed=0)
    record = growth.grow(model, 1)
    model.eval()
    assert {name: growth.manifest.backbone.params[name] for name in grown} == grown
    assert record["to"] == grown and record["parameters"][1] > record["parameters"][0]
    torch.testing.assert_close(model(BATCH)["digit"], before(BATCH)["digit"], rtol=1e-5, atol=1e-5)


def test_the_copies_of_a_unit_get_different_gradients(manifest_file):
    """Weights are split unevenly among a unit's copies, so training can tell them apart."""
    pipeline = built(manifest_file, 'use = "mlp"\nwidths = [8]')
    model = pipeline.model()
    Growth(pipeline.manifest, pipeline.registry, (GrowStep(1, 2.0, None, 0),), 0).grow(model, 1)
    model(BATCH)["digit"].logsumexp(1).sum().backward()
    first = model.backbone[1].weight.grad  # rows j and j + 8 are copies of unit j
    assert first.shape == (16, 64)
    assert not torch.allclose(first[:8], first[8:])


@pytest.mark.parametrize(("train_extra", "message"), [
    ("[[train.grow]]\nat_epoch = 1\nwiden = 2.0\nwidn = 3", "did you mean `widen`"),
    ("[[train.grow]]\nat_epoch = 1\nwiden = 2.0\nwidths = [16]", "`widen` and `widths` both set the new widths"),
    ("[[train.grow]]\nat_epoch = 3\nwiden = 2.0", "leaves no epoch to train the grown model"),
    ("[[train.grow]]\nat_epoch = 2\ndeepen = 1\n[[train.grow]]\nat_epoch = 1\nwiden = 2.0",
     "does not come after the previous step's (2)"),
    ("[[train.grow]]\nat_epoch = 1", "this growth step changes nothing"),
    ("[[train.grow]]\nat_epoch = 1\nwiden = 0.5", "widen"),
    ("[train.grow]\nat_epoch = 1\nwiden = 2.0", "write each growth step as [[train.grow]]"),
    ("[train.lora]\nrank = 2\n[[train.grow]]\nat_epoch = 1\nwiden = 2.0", "[[train.grow]] and [train.lora] do not mix"),
], ids=["misspelled-key", "widen-and-widths", "at-last-epoch", "out-of-order", "no-change", "narrowing-factor",
        "not-an-array", "with-lora"])
def test_a_wrong_growth_step_is_refused_by_validation(manifest_file, train_extra, message):
    path = manifest_file(MANIFEST.format(backbone='use = "mlp"\nwidths = [8]', train=train_extra))
    with pytest.raises(ManifestError, match=r"train\.grow") as error:
        load_manifest(path)
    assert message in str(error.value)


@pytest.mark.parametrize(("backbone", "step", "message"), [
    ('use = "mlp"\nwidths = [8]\nactivation = "gelu"', "deepen = 1", "its activation is idempotent (relu)"),
    ('use = "mlp"\nwidths = [8, 8]', "widths = [16, 4]", "growth cannot narrow a layer (8 -> 4)"),
    ('use = "mlp"\nwidths = [8]', "widths = [16, 16]", "`widths` gives 2 widths for the backbone's 1"),
    ('use = "mlp"\nwidths = [8]\nnorm = "layer"', "widths = [12]", "each width must grow by a whole factor"),
    ('use = "lstm"\nhidden_size = 8', "widen = 2.0", "backbone `builtin:lstm` cannot grow"),
], ids=["deepen-gelu", "narrow", "widths-count", "layernorm-uneven", "not-growable"])
def test_a_growth_the_backbone_cannot_make_is_refused_before_training(manifest_file, tmp_path, backbone, step,
                                                                        message):
    shape = "input_shape = [8, 8]" if "lstm" in backbone else "input_shape = [1, 8, 8]"
    text = MANIFEST.format(backbone=backbone, train=f"[[train.grow]]\nat_epoch = 1\n{step}")
    path = manifest_file(text.replace("input_shape = [1, 8, 8]", shape))
    with pytest.raises(ManifestError, match=r"train\.grow") as error:
        train(load_manifest(path), tmp_path / "out", show_progress=False)
    assert message in str(error.value)
    assert not (tmp_path / "out" / "grown.train").exists(), "no epoch may run before the growth is checked"


GROWING = 'use = "mlp"\nwidths = [12]', "[[train.grow]]\nat_epoch = 1\nwiden = 2.0\ndeepen = 1"


class StopAtEpoch:
    """A plugin that stops the run at one epoch (as a killed process would), after earlier checkpoints."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    @hookimpl
    def flexzoo_epoch_end(self, run, epoch, metrics) -> None:
        if epoch == self.epoch:
            raise KeyboardInterrupt(f"stopped at epoch {epoch}")


@pytest.fixture(scope="module")
def grown_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("grow")
    (root / "grown.toml").write_text(MANIFEST.format(backbone=GROWING[0], train=GROWING[1]))
    return train(load_manifest(root / "grown.toml"), root / "whole", show_progress=False)


@pytest.mark.slow
def test_a_grown_model_is_stored_and_reloads_with_identical_outputs(grown_run):
    stored = read_artifact(grown_run.artifact).info
    assert stored["manifest"]["backbone"]["widths"] == [24, 24]
    assert "grow" not in stored["manifest"]["train"], "the stored manifest builds the grown model as it is"
    small = (64 * 12 + 12) + (12 * 8 + 8) + (8 * 10 + 10)  # backbone, head's hidden layer, head's output
    large = (64 * 24 + 24) + (24 * 24 + 24) + (24 * 8 + 8) + (8 * 10 + 10)
    assert stored["training"]["growth"] == [{"at_epoch": 1, "from": {"widths": [12]}, "to": {"widths": [24, 24]},
                                             "parameters": [small, large]}]
    assert [record.get("grown", {}).get("at_epoch") for record in grown_run.history] == [1, None, None]
    reloaded = flexzoo.load(grown_run.artifact)
    torch.testing.assert_close(reloaded(BATCH), grown_run.model(BATCH), rtol=0, atol=0)
    assert grown_run.history[-1]["validation"]["digit.accuracy"] > 0.5


@pytest.mark.slow
def test_a_run_resumed_after_growing_ends_as_the_whole_run(grown_run, tmp_path):
    manifest = load_manifest(grown_run.model.manifest.base_dir() / "grown.toml")
    stopping = registry_of(stop=StopAtEpoch(2))
    with pytest.raises(KeyboardInterrupt):  # after epoch 2: the last checkpoint is epoch 1's, after the growth
        train(manifest, tmp_path, stopping, show_progress=False)
    resumed = train(manifest, tmp_path, resume=True, show_progress=False)
    whole, again = load_file(str(grown_run.artifact)), load_file(str(resumed.artifact))
    assert whole.keys() == again.keys()
    assert all(torch.equal(whole[name], again[name]) for name in whole)
    assert [r["validation"] for r in resumed.history] == [r["validation"] for r in grown_run.history]

"""Lifecycle hooks are called through pluggy: an implementation may take any subset of the hook's arguments."""

from __future__ import annotations

import inspect
import types

import torch

import flexzoo
from conftest import TINY_MANIFEST
from flexzoo import load_manifest
from flexzoo.plugin import hookspecs
from flexzoo.plugin.components import REGISTRATION_HOOKS
from flexzoo.testing import read_artifact, registry_of

LIFECYCLE_HOOKS = sorted(name for name, value in vars(hookspecs).items()
                         if name.startswith("flexzoo_") and inspect.isfunction(value)
                         and name not in REGISTRATION_HOOKS.values()
                         and name != "flexzoo_pretrained_source")  # the reference hook: tests/test_hub.py


def _plugin(**hooks: object) -> types.ModuleType:
    module = types.ModuleType("probe")
    for name, function in hooks.items():
        setattr(module, name, flexzoo.hookimpl(function))
    return module


def test_every_lifecycle_hook_is_covered_here():
    assert LIFECYCLE_HOOKS == ["flexzoo_artifact_metadata", "flexzoo_epoch_end", "flexzoo_model_built",
                               "flexzoo_run_end",
                               "flexzoo_run_start"]


def test_implementations_taking_a_subset_of_the_arguments_are_called(manifest_file, tmp_path):
    seen: dict[str, object] = {}

    def model_built(manifest):  # no `model`
        seen["built"] = manifest.model.name

    def artifact_metadata(model):  # no `manifest`
        seen["parameters"] = sum(p.numel() for p in model.parameters())
        return {"heads": sorted(model.heads)}

    registry = registry_of(probe=_plugin(flexzoo_model_built=model_built, flexzoo_artifact_metadata=artifact_metadata))
    manifest = load_manifest(manifest_file(TINY_MANIFEST), registry)
    model = flexzoo.build(manifest, registry)
    path = flexzoo.save(model, tmp_path, registry)

    assert seen == {"built": manifest.model.name, "parameters": sum(p.numel() for p in model.parameters())}
    assert read_artifact(path).info["extra"] == {"probe": {"heads": sorted(manifest.heads)}}


def test_each_plugin_metadata_is_stored_under_its_own_name(manifest_file, tmp_path):
    registry = registry_of(
        first=_plugin(flexzoo_artifact_metadata=lambda: {"n": 1}),  # no arguments at all
        second=_plugin(flexzoo_artifact_metadata=lambda manifest: {"name": manifest.model.name}),
        silent=_plugin(flexzoo_artifact_metadata=lambda model, manifest: None),
    )
    manifest = load_manifest(manifest_file(TINY_MANIFEST), registry)
    path = flexzoo.save(flexzoo.build(manifest, registry), tmp_path, registry)
    assert read_artifact(path).info["extra"] == {"first": {"n": 1}, "second": {"name": manifest.model.name}}


def test_an_api_1_compressor_taking_the_manifest_still_builds_with_a_deprecation_warning(manifest_file, tmp_path):
    import pytest

    seen = {}

    def halve(manifest, factor: float = 0.5):
        """Scale every weight (an API-1 factory: it asks for the whole manifest)."""
        seen["manifest"] = manifest.model.name

        def step(model):
            for parameter in model.parameters():
                parameter.data.mul_(factor)
            return model

        return step

    legacy = _plugin(flexzoo_compressors=lambda: [flexzoo.Component("halve", halve)])
    legacy.FLEXZOO_PLUGIN_API = 1
    with pytest.warns(DeprecationWarning, match="plugin API 1 is deprecated"):
        registry = registry_of(legacy=legacy)
    manifest = load_manifest(manifest_file(TINY_MANIFEST + '\n[[compress]]\nuse = "halve"\n'), registry)
    with pytest.warns(DeprecationWarning, match="take `context: StepContext` instead"):
        model = flexzoo.build(manifest, registry)
    assert seen == {"manifest": manifest.model.name}
    with pytest.warns(DeprecationWarning, match="take `context: StepContext` instead"):  # the rebuild asks again
        loaded = flexzoo.load(flexzoo.save(model, tmp_path, registry), registry)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in model.state_dict().items())


def test_run_hooks_taking_a_subset_of_the_arguments_hear_every_epoch_on_rank_0(tmp_path):
    from flexzoo.testing import train_tracked

    heard: list[object] = []
    probe = _plugin(flexzoo_run_start=lambda run: heard.append(("start", run.name, run.first_epoch,
                                                                run.tracks("probe"))),
                    flexzoo_epoch_end=lambda epoch: heard.append(("epoch", epoch)),  # no `run`, no `metrics`
                    flexzoo_run_end=lambda artifact, status: heard.append(("end", artifact.name, status)))
    result = train_tracked({"probe": probe}, tmp_path, track={"use": ["probe"]}, epochs=2)
    assert heard == [("start", "tracked", 1, True), ("epoch", 1), ("epoch", 2),
                     ("end", result.artifact.name, "finished")]


def test_epoch_end_gets_the_epoch_metrics_and_a_failing_run_ends_failed(tmp_path):
    import pytest

    from flexzoo.testing import train_tracked

    seen: dict[str, object] = {}

    def epoch_end(run, epoch, metrics):
        seen["metrics"] = dict(metrics)
        raise KeyboardInterrupt  # as a user's Ctrl-C (or a pruned trial) stops a run

    probe = _plugin(flexzoo_epoch_end=epoch_end,
                    flexzoo_run_end=lambda artifact, history, status: seen.update(end=(artifact, len(history), status)))
    with pytest.raises(KeyboardInterrupt):
        train_tracked({"probe": probe}, tmp_path, track={}, epochs=2)
    assert set(seen["metrics"]) == {"train/loss", "lr", "seconds", "validation/loss", "validation/digit.loss",
                                    "validation/digit.accuracy", "validation/digit.macro_f1"}
    assert seen["end"] == (None, 1, "failed")


def test_track_use_names_only_plugins_with_run_hooks(manifest_file):
    import pytest

    from flexzoo.errors import ManifestError

    registry = registry_of(tensorbored=_plugin(flexzoo_run_start=lambda run: None))
    with pytest.raises(ManifestError, match=r"no installed plugin `tensorboard` implements the run hooks"
                                            r"(.|\n)*did you mean `tensorbored`"):
        load_manifest(manifest_file(TINY_MANIFEST + '\n[track]\nuse = ["tensorboard"]\n'), registry)

"""No manifest can exhaust the machine: declared bounds, and a dry-run budget that holds for any factory."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

import flexzoo
from flexzoo import ManifestError
from flexzoo.assembly.builder import plan
from flexzoo.host.registry import Registry
from flexzoo.manifest.budget import Budget
from flexzoo.manifest.resolved import ManifestSource
from flexzoo.manifest.validation import load_manifest, validate
from flexzoo.testing import registry_of

MODEL = """
[model]
name = "m"
input_shape = [1, 8, 8]

[backbone]
{backbone}

[heads.digit]
use = "linear"
num_classes = 10
{extra}"""

DEEP = MODEL.format(backbone='use = "cnn"\ndepth = 29142903', extra="")

FOREVER = '''
"""A plugin whose backbone never stops making modules."""
from torch import nn

import flexzoo


def forever(input_shape: tuple[int, ...]) -> nn.Module:
    """Keeps every module it makes, and never returns."""
    made = []
    while True:
        made.append(nn.ReLU())


@flexzoo.hookimpl
def flexzoo_backbones():
    return [flexzoo.Component("forever", forever)]
'''


def run_measured(args: list[str], env: dict[str, str], tmp_path: Path
                 ) -> tuple[subprocess.CompletedProcess, float, int]:
    """Run ``python -m flexzoo ARGS``: its result, its CPU seconds and its peak resident memory in bytes.

    ``os.wait4`` reads the usage of this child alone (the children's usage would hold every earlier one's).
    """
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "flexzoo", *args], stdout=stdout, stderr=stderr, env=env)
    deadline = time.monotonic() + 60  # a guard against a hang, not a timing assertion
    while (reaped := os.wait4(process.pid, os.WNOHANG))[0] == 0:
        if time.monotonic() > deadline:
            process.kill()
            os.wait4(process.pid, 0)
            raise AssertionError(f"zoo {' '.join(args)} still ran after 60 s")
        time.sleep(0.05)
    process.returncode = os.waitstatus_to_exitcode(reaped[1])
    usage = reaped[2]
    result = subprocess.CompletedProcess(args, process.returncode, out.read_text(), err.read_text())
    return result, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def test_the_deep_cnn_is_refused_at_backbone_depth_in_seconds_and_little_memory(zoo, manifest_file, tmp_path):
    small = run_measured(["validate", str(manifest_file(MODEL.format(backbone='use = "cnn"', extra=""), "small.toml"))],
                         zoo.env, tmp_path)
    assert small[0].returncode == 0, small[0].stderr
    result, seconds, peak = run_measured(["validate", str(manifest_file(DEEP))], zoo.env, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "[backbone.depth] `depth` must be <= 1024, got 29142903: " in result.stderr
    assert seconds < 10
    assert peak < small[2] + 2**30  # less than 1 GiB more than validating a small model


def test_a_plugin_factory_that_makes_modules_forever_is_stopped_by_the_budget_naming_it(zoo, manifest_file, tmp_path):
    zoo.install("flexzoo-plugin-forever", "1.0", {"forever_plugin": FOREVER}, {"forever": "forever_plugin"},
                keywords="flexzoo-plugin-api-2")
    path = manifest_file(MODEL.format(backbone='use = "forever"', extra=""))
    result, _, _ = run_measured(["validate", str(path)], zoo.env, tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{path}:5: [backbone] forever:forever: building it crossed the dry-run budget: 50,001 modules " \
           "constructed, over the budget of 50,000, after " in result.stderr
    assert "fix: make it smaller, or raise the budget if the model is meant to be this large: [budget] modules = " \
           "... (or FLEXZOO_BUDGET_MODULES)" in result.stderr


class Endless:
    """Backbones that cost time or memory without end, and one that is honest about its size."""

    @flexzoo.hookimpl
    def flexzoo_backbones(self):
        def spinning(input_shape: tuple[int, ...]) -> nn.Module:
            """Runs one small layer forever: no module is made, only time is spent."""
            layer = nn.Linear(2, 2)
            while True:
                layer(torch.zeros(1, 2, device="meta"))

        def hoarding(input_shape: tuple[int, ...]) -> nn.Module:
            """Keeps a real megabyte beside every module it makes (ignoring the meta device)."""
            kept = []
            while True:
                kept.append((nn.Identity(), torch.ones(2**18, device="cpu")))

        return [flexzoo.Component("spinning", spinning), flexzoo.Component("hoarding", hoarding)]


@pytest.fixture
def endless() -> Registry:
    return registry_of(endless=Endless())


def refusal(manifest_file, text: str, registry: Registry) -> str:
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(manifest_file(text), registry), registry)
    return str(caught.value)


def test_a_factory_that_only_spends_time_is_stopped_at_the_seconds_budget(manifest_file, endless):
    message = refusal(manifest_file, MODEL.format(backbone='use = "spinning"', extra="\n[budget]\nseconds = 0.5\n"),
                      endless)
    assert "[backbone] endless:spinning: building it crossed the dry-run budget: " in message
    assert " s of CPU time spent, over the budget of 0.5 s, after " in message
    assert "[budget] seconds = ... (or FLEXZOO_BUDGET_SECONDS)" in message


def test_a_factory_that_hoards_memory_is_stopped_at_the_memory_budget(manifest_file, endless):
    message = refusal(manifest_file, MODEL.format(backbone='use = "hoarding"', extra="\n[budget]\nmemory_mib = 64\n"),
                      endless)
    assert "[backbone] endless:hoarding: building it crossed the dry-run budget: " in message
    assert " MiB of memory grown, over the budget of 64 MiB (half the memory available, at most)" in message


def test_the_budget_leaves_torch_as_it_found_it(manifest_file, endless):
    init = nn.Module.__init__
    refusal(manifest_file, MODEL.format(backbone='use = "spinning"', extra="\n[budget]\nseconds = 0.2\n"), endless)
    assert nn.Module.__init__ is init
    assert not torch.nn.modules.module._global_forward_pre_hooks
    assert not torch.nn.modules.module._global_parameter_registration_hooks
    assert nn.Linear(2, 2).weight.shape == (2, 2)  # and nothing stops a build after it


def test_the_parameters_budget_names_the_largest_size(manifest_file, registry):
    message = refusal(manifest_file, MODEL.format(backbone='use = "mlp"\nwidths = [64, 4096, 64]',
                                                  extra="\n[budget]\nparameters = 100000\n"), registry)
    assert "[backbone.widths] builtin:mlp: building it crossed the dry-run budget: " in message
    assert "parameter and buffer elements declared, over the budget of 100,000" in message
    assert "its largest size is widths (3 items)" in message


def test_the_environment_sets_the_budget_and_the_manifest_wins(manifest_file, registry, monkeypatch):
    text = MODEL.format(backbone='use = "mlp"\nwidths = [16, 16]', extra="")
    monkeypatch.setenv("FLEXZOO_BUDGET_MODULES", "3")
    assert "4 modules constructed, over the budget of 3" in refusal(manifest_file, text, registry)
    raised = load_manifest(manifest_file(text + "\n[budget]\nmodules = 1000\n"), registry)
    assert plan(raised, registry).parameters > 0
    assert raised.to_dict()["budget"] == {"modules": 1000}  # kept with the artifact: `flexzoo.load` builds again
    assert Budget.of(raised.budget).modules == 1000 and Budget.of(None).modules == 3


def test_a_bad_budget_is_a_manifest_problem(manifest_file, registry):
    with pytest.raises(ManifestError) as caught:
        extra = "\n[budget]\nmodules = -1\nminutes = 3\n"
        load_manifest(manifest_file(MODEL.format(backbone='use = "mlp"', extra=extra)), registry)
    assert "[budget.modules] `modules` must be > 0, got -1" in str(caught.value)
    assert "[budget.minutes] unknown key `minutes` in [budget]" in str(caught.value)


def test_a_thousand_layer_mlp_validates_within_the_default_budget(manifest_file, registry):
    widths = ", ".join(["32"] * 1000)
    built = plan(load_manifest(manifest_file(MODEL.format(backbone=f'use = "mlp"\nwidths = [{widths}]', extra="")),
                               registry), registry)
    assert built.parameters == 64 * 32 + 32 + 999 * (32 * 32 + 32) + 32 * 10 + 10


def test_zoo_build_refuses_a_model_larger_than_the_free_memory_with_both_sizes(zoo, manifest_file, tmp_path):
    path = manifest_file(MODEL.format(backbone='use = "mlp"\nwidths = [200000, 200000, 200000]', extra=""))
    result = zoo("build", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "[model] the model has 80,015," in result.stderr
    assert "GiB of weights and buffers), more than the " in result.stderr
    assert "GiB of memory free here (MemAvailable); nothing was allocated" in result.stderr
    assert not list((tmp_path / "out").glob("*.safetensors"))


SIZES = st.one_of(st.integers(1, 8), st.integers(-(2**63), 2**63), st.sampled_from([0, 2**31, 2**62, 2**63]))
BACKBONES = st.one_of(
    st.fixed_dictionaries({"use": st.just("cnn"), "depth": SIZES, "kernel_size": st.sampled_from([1, 3, 2**63 - 1]),
                           "channels": st.lists(SIZES, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"use": st.just("mlp"), "widths": st.lists(SIZES, min_size=1, max_size=3)}),
    st.fixed_dictionaries({"use": st.sampled_from(["lstm", "gru"]), "hidden_size": SIZES, "num_layers": SIZES}),
    st.fixed_dictionaries({"use": st.just("transformer"), "d_model": SIZES, "num_heads": SIZES, "num_layers": SIZES,
                           "dim_feedforward": SIZES}),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(backbone=BACKBONES, classes=SIZES)
def test_any_size_up_to_2_63_is_built_or_refused_with_one_manifest_error(registry, backbone, classes):
    shape = [8, 8] if backbone["use"] in ("lstm", "gru", "transformer") else [1, 8, 8]
    data = {"model": {"name": "fuzz", "input_shape": shape}, "backbone": backbone,
            "heads": {"out": {"use": "linear", "num_classes": classes}},
            "budget": {"modules": 2000, "seconds": 2.0}}  # the property: every outcome is a plan or one error
    try:
        plan(validate(data, ManifestSource(file="fuzz.toml", lines={}), registry), registry)
    except ManifestError as exc:
        assert exc.problems and all(problem.key for problem in exc.problems)

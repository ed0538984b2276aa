"""`zoo validate`: the promise that `zoo build` will not refuse the manifest, with every problem at once."""

from __future__ import annotations

import pytest

from conftest import DIGITS

MODEL = """
[model]
name = "m"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [16]

[heads.out]
use = "linear"
num_classes = 3
"""


def refused(zoo, path) -> str:
    result = zoo("validate", str(path))
    assert result.returncode == 1 and result.stdout == "", result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_negative_num_classes_is_refused_with_line_key_and_fix(zoo, manifest_file):
    path = manifest_file(MODEL.replace("num_classes = 3", "num_classes = -3"))
    stderr = refused(zoo, path)
    assert f"{path}:11: [heads.out.num_classes] `num_classes` must be > 0, got -3" in stderr
    assert "fix: change `num_classes`: it must be > 0 and <= 16777216 (`zoo info builtin:linear` documents it)" \
        in stderr


def test_a_model_too_large_to_allocate_is_refused(zoo, manifest_file):
    path = manifest_file(MODEL.replace("widths = [16]", "widths = [200000, 200000, 200000]"))
    stderr = refused(zoo, path)
    assert f"{path}:1: [model] the model has 80,014," in stderr and "nothing was allocated" in stderr
    assert "fix: make the backbone or heads smaller" in stderr


def test_an_input_shape_the_backbone_cannot_take_is_refused(zoo, manifest_file):
    path = manifest_file(MODEL.replace("input_shape = [1, 8, 8]", "input_shape = [64]")
                         .replace('use = "mlp"\nwidths = [16]', 'use = "cnn"'))
    stderr = refused(zoo, path)
    assert f"{path}:3: [model.input_shape] builtin:cnn: `input_shape` must be (channels, height, width)" in stderr
    assert "fix: give [model] input_shape as [channels, height, width]" in stderr


def test_an_init_pattern_matching_nothing_is_refused(zoo, manifest_file):
    path = manifest_file(MODEL + '\n[[init]]\nuse = "orthogonal"\nmatch = "backbone.9*"\n')
    stderr = refused(zoo, path)
    assert f"{path}:15: [init[0].match] `backbone.9*` matches no module of the model" in stderr
    assert "fix: module names look like" in stderr


def test_every_independent_problem_of_the_dry_run_is_reported_at_once(zoo, manifest_file):
    path = manifest_file(MODEL.replace("widths = [16]", "widths = [200000, 200000, 200000]") + """
[[init]]
use = "trunc_normal"
a = 3.0
b = 1.0

[[init]]
use = "orthogonal"
match = "heads.nothing*"
""")
    stderr = refused(zoo, path)
    assert f"{path}: 3 problems in the manifest" in stderr
    assert f"{path}:15: [init[0].a] builtin:trunc_normal: `a` must be below b" in stderr
    assert f"{path}:20: [init[1].match] `heads.nothing*` matches no module" in stderr
    assert f"{path}:1: [model] the model has 80,014," in stderr


def test_every_static_problem_is_reported_at_once(zoo, manifest_file):
    path = manifest_file(MODEL.replace("num_classes = 3", "num_classes = 0")
                         .replace("widths = [16]", "widths = [16, -1]\ndropout = 1.5")
                         .replace('name = "m"', 'name = "m"\nseed = -1'))
    stderr = refused(zoo, path)
    assert f"{path}: 4 problems in the manifest" in stderr
    assert f"{path}:3: [model.seed] seed -1 is out of range" in stderr
    assert f"{path}:8: [backbone.widths] `widths[1]` must be > 0, got -1" in stderr
    assert f"{path}:9: [backbone.dropout] `dropout` must be in [0, 1), got 1.5" in stderr
    assert f"{path}:13: [heads.out.num_classes] `num_classes` must be > 0, got 0" in stderr


def test_static_skips_the_dry_run_and_deep_is_the_default(zoo, manifest_file):
    path = manifest_file(MODEL.replace('use = "mlp"\nwidths = [16]', 'use = "cnn"\nkernel_size = 4'))
    static = zoo("validate", "--static", str(path))
    assert static.returncode == 0 and static.stdout == f"{path}: valid (static checks only)\n"
    for args in (["validate"], ["validate", "--deep"]):  # --deep: the old flag, now what validate does anyway
        deep = zoo(*args, str(path))
        assert deep.returncode == 1
        assert f"{path}:7: [backbone.kernel_size] builtin:cnn: `kernel_size` must be odd, got 4" in deep.stderr


def test_a_valid_manifest_reports_its_size(zoo):
    result = zoo.json("validate", str(DIGITS))
    assert result["valid"] is True and result["parameters"] > 0 and result["feature_size"] == 64
    static = zoo.json("validate", "--static", str(DIGITS))
    assert "parameters" not in static and static["resolved"] == result["resolved"]


@pytest.mark.parametrize(("component", "parameter", "constraints"), [
    ("builtin:linear", "num_classes", "> 0 and <= 16777216"),
    ("builtin:cnn", "channels", "non-empty and of length <= 64; each item > 0 and <= 1048576"),
    ("builtin:cnn", "depth", "> 0 and <= 1024"),
    ("builtin:cnn", "dropout", "in [0, 1)"),
    ("builtin:trunc_normal", "std", "> 0"),
])
def test_info_shows_the_constraints(zoo, component, parameter, constraints):
    info = zoo.json("info", component)
    assert {p["name"]: p["constraints"] for p in info["parameters"]}[parameter] == constraints
    row = next(line for line in zoo("info", component).stdout.splitlines() if line.strip().startswith(parameter))
    assert constraints in row


def test_a_size_beyond_its_bound_is_refused_statically_with_the_bound_and_why(zoo, manifest_file):
    path = manifest_file(MODEL.replace('use = "mlp"\nwidths = [16]', 'use = "cnn"\ndepth = 29142903'))
    result = zoo("validate", "--static", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{path}:7: [backbone.depth] `depth` must be <= 1024, got 29142903: more than 1,024 is deeper than " \
           "any network trained" in result.stderr

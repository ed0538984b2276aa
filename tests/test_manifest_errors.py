"""Every way a manifest can be wrong gets one clear message: file, key, line, and the fix."""

from __future__ import annotations

import pytest

from flexzoo import ManifestError, load_manifest
from flexzoo.assembly.builder import plan
from flexzoo.testing import registry_of

VALID_HEAD = """
[heads.out]
use = "linear"
num_classes = 3
"""


def problems(path, registry, deep: bool = False) -> str:
    with pytest.raises(ManifestError) as caught:
        manifest = load_manifest(path, registry)
        if deep:
            plan(manifest, registry)
    return str(caught.value)


def manifest(body: str, model: str = 'name = "m"\ninput_shape = [1, 8, 8]', heads: str = VALID_HEAD) -> str:
    return f"[model]\n{model}\n\n{body}\n{heads}"


def test_toml_syntax_error_names_the_line(manifest_file, registry):
    path = manifest_file('[model]\nname = "m"\n[backbone]\nuse = \n')
    message = problems(path, registry)
    assert f"{path}:4:" in message and "TOML syntax error" in message


def test_duplicate_key_is_refused_with_its_line(manifest_file, registry):
    path = manifest_file('[model]\nname = "m"\nname = "n"\n')
    message = problems(path, registry)
    assert f"{path}:3:" in message and "duplicate key" in message


def test_duplicate_table_is_refused(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"\n[backbone]\nuse = "cnn"\n'))
    assert "duplicate key or table" in problems(path, registry)


def test_empty_file_is_refused_with_an_example(manifest_file, registry):
    path = manifest_file("  \n\n")
    message = problems(path, registry)
    assert "the manifest is empty" in message and "[model]" in message


def test_non_utf8_file_is_refused(tmp_path, registry):
    path = tmp_path / "latin1.toml"
    path.write_bytes('[model]\nname = "caf\u00e9"\n'.encode("latin-1"))
    message = problems(path, registry)
    assert "is not UTF-8" in message and f"{path}:2:" in message


def test_missing_file_is_refused(tmp_path, registry):
    assert "no such file" in problems(tmp_path / "nope.toml", registry)


def test_missing_model_name(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"', model="seed = 1"))
    message = problems(path, registry)
    assert "[model.name] missing `name` in [model]" in message and f"{path}:1:" in message


def test_missing_use(manifest_file, registry):
    path = manifest_file(manifest("[backbone]\nwidths = [4]"))
    message = problems(path, registry)
    assert "[backbone.use] missing `use` in [backbone]" in message and "zoo list backbones" in message


def test_unknown_section_suggests_the_closest(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"\n\n[hedas.x]\nuse = "linear"'))
    message = problems(path, registry)
    assert "unknown section [hedas]" in message and "did you mean `heads`?" in message
    assert f"{path}:8:" in message


def test_unknown_component_suggests_the_closest(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnnn"'))
    message = problems(path, registry)
    assert "unknown backbone `cnnn`" in message and "did you mean `cnn`" in message
    assert f"{path}:6:" in message


def test_component_of_another_kind_is_named_as_such(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "linear"'))
    assert "`linear` is a head, not a backbone" in problems(path, registry)


def test_unknown_plugin_prefix(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "biultin:mlp"'))
    message = problems(path, registry)
    assert "no plugin named `biultin`" in message and "did you mean `builtin`" in message


def test_qualified_name_resolves(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "builtin:mlp"'))
    assert load_manifest(path, registry).backbone.use == "builtin:mlp"


def test_unknown_parameter_suggests_from_the_signature(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnn"\nchanels = [4]'))
    message = problems(path, registry)
    assert "unknown parameter `chanels` for backbone `builtin:cnn`" in message
    assert "did you mean `channels`" in message and f"{path}:7:" in message


def test_wrong_type_names_the_expected_type(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnn"\nchannels = "16,32"'))
    message = problems(path, registry)
    assert "[backbone.channels] `channels` expects list[int], got string '16,32'" in message


def test_wrong_literal_lists_the_choices(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"\nactivation = "relu6"'))
    assert "expects 'relu' | 'gelu'" in problems(path, registry)


def test_bool_is_not_an_int(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnn"\ndepth = true'))
    assert "`depth` expects int, got boolean True" in problems(path, registry)


def test_missing_required_parameter(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"', heads='[heads.out]\nuse = "linear"'))
    assert "missing required parameter `num_classes` (int) for head `builtin:linear`" in problems(path, registry)


def test_host_parameter_cannot_be_set(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"',
                                  heads='[heads.out]\nuse = "linear"\nnum_classes = 2\nin_features = 9'))
    assert "`in_features` is not set in a manifest" in problems(path, registry)


def test_value_the_factory_rejects_names_the_key(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnn"\nkernel_size = 4'))
    manifest_ok = load_manifest(path, registry)  # no annotation says "odd": only the factory can refuse it
    assert manifest_ok.backbone.params["kernel_size"] == 4
    message = problems(path, registry, deep=True)
    assert f"{path}:7: [backbone.kernel_size] builtin:cnn: `kernel_size` must be odd, got 4" in message


def test_annotated_range_is_checked_without_building(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnn"\nchannels = [16, -4]\ndropout = 1.0',
                                  heads='[heads.out]\nuse = "linear"\nnum_classes = -3'))
    message = problems(path, registry)
    assert "3 problems" in message
    assert f"{path}:7: [backbone.channels] `channels[1]` must be > 0, got -4" in message
    assert ("fix: change `channels`: it must be non-empty and of length <= 64; each item > 0 and <= 1048576 "
            "(`zoo info builtin:cnn`") in message
    assert f"{path}:8: [backbone.dropout] `dropout` must be in [0, 1), got 1.0" in message
    assert f"{path}:11: [heads.out.num_classes] `num_classes` must be > 0, got -3" in message
    assert "fix: change `num_classes`: it must be > 0" in message


def test_empty_size_list_is_refused(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"\nwidths = []'))
    assert "[backbone.widths] `widths` must be non-empty, got []" in problems(path, registry)


def test_artifact_name_must_be_a_plain_name(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"', model='name = "../escape"'))
    message = problems(path, registry)
    assert "`../escape` is not a plain name" in message and "no '/'" in message


def test_init_pattern_that_matches_nothing(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"\n\n[[init]]\nuse = "orthogonal"\nmatch = "backbone.9*"'))
    message = problems(path, registry, deep=True)
    assert "[init[0].match] `backbone.9*` matches no module" in message and f"{path}:10:" in message


def test_input_shape_the_backbone_cannot_take(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnn"', model='name = "m"\ninput_shape = [64]'))
    message = problems(path, registry, deep=True)
    assert "[model.input_shape]" in message and "must be (channels, height, width)" in message


def test_model_too_large_is_refused_before_allocation(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"\nwidths = [200000, 200000, 200000]'))
    message = problems(path, registry, deep=True)
    assert "the model has 80,014,000,003 parameters" in message and "nothing was allocated" in message


def test_all_problems_are_reported_at_once(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "cnn"\nchanels = [4]\n\n[tarin]\nepochs = 1'))
    message = problems(path, registry)
    assert "2 problems" in message and "chanels" in message and "[tarin]" in message


def test_head_names_must_be_identifiers(manifest_file, registry):
    head = '[heads."my head"]\nuse = "linear"\nnum_classes = 2'
    path = manifest_file(manifest('[backbone]\nuse = "mlp"', heads=head))
    assert "head name `my head` is not an identifier" in problems(path, registry)


def test_resolved_manifest_fills_every_default(manifest_file, registry):
    path = manifest_file(manifest('[backbone]\nuse = "mlp"\n\n[[init]]\nuse = "trunc_normal"'))
    resolved = load_manifest(path, registry).to_dict()
    assert resolved["backbone"] == {"use": "builtin:mlp", "widths": [256, 128], "activation": "relu",
                                    "dropout": 0.0, "norm": "none"}
    assert resolved["init"][0] == {"use": "builtin:trunc_normal", "match": "*", "std": 0.02, "mean": 0.0,
                                   "a": -2.0, "b": 2.0, "bias": 0.0}
    assert resolved["distributed"] == {"use": "builtin:single"}


def test_input_shape_that_fails_the_forward_pass(manifest_file):
    import flexzoo

    class Fixed:
        @flexzoo.hookimpl
        def flexzoo_backbones(self):
            def flat64(width: int = 4):
                """Linear on exactly 64 inputs."""
                import torch

                return torch.nn.Linear(64, width)

            return [flexzoo.Component("flat64", flat64)]

    registry = registry_of(fixed=Fixed())
    path = manifest_file(manifest('[backbone]\nuse = "flat64"'))
    message = problems(path, registry, deep=True)
    assert f"{path}:3: [model.input_shape] the backbone fixed:flat64 cannot take input of shape [1, 8, 8]" in message
    assert "fix: set input_shape to what this backbone takes, or change its parameters" in message


def test_section_ranges_are_checked_like_parameters(manifest_file, registry):
    text = manifest('[backbone]\nuse = "mlp"', model='name = "m"\ninput_shape = [1, 0, 8]')
    text += '\n[train]\ndata = "digits"\nepochs = 0\nbetas = [0.9, 1.5]\n\n[train.early_stopping]\nmetric = "loss"\n'
    text += "patience = -1\n"
    message = problems(manifest_file(text), registry)
    assert "4 problems" in message
    assert ":3: [model.input_shape] `input_shape[1]` must be > 0, got 0" in message
    assert "fix: give one sample's shape without the batch dimension, e.g. [1, 8, 8]" in message
    assert ":14: [train.epochs] `epochs` must be > 0, got 0\n    fix: epochs: passes over the training data" in message
    assert ":15: [train.betas] `betas[1]` must be in [0, 1), got 1.5" in message
    assert ":19: [train.early_stopping.patience] `patience` must be > 0, got -1" in message


def test_a_missing_section_key_names_its_table_line(manifest_file, registry):
    text = manifest('[backbone]\nuse = "mlp"') + '\n[train]\nepochs = 2\n'
    message = problems(manifest_file(text), registry)
    assert ":12: [train.data] missing `data` in [train]" in message and "fix: add data = ...:" in message

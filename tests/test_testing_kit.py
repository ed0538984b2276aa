"""flexzoo.testing's building blocks for tests: manifests written from data, registries of explicit plugins, data."""

from __future__ import annotations

import pytest
import tomllib

import flexzoo
import flexzoo_plugin_compress
from flexzoo import ManifestError
from flexzoo.testing import (
    Manifest,
    load_training_data,
    manifest,
    plugin_name,
    registry_fixture,
    registry_of,
    toml_text,
)

TRAINED = Manifest.digits(train={"data": "digits", "epochs": 1, "batch_size": 64})


def test_the_digits_manifest_validates_and_builds_the_model_it_describes(manifest_file):
    path = manifest_file(Manifest.digits(parity=True))
    resolved = flexzoo.load_manifest(path)
    assert resolved.backbone.params["channels"] == [4, 8]
    assert sorted(resolved.heads) == ["digit", "parity"]
    model = flexzoo.build(path)
    assert set(model.heads) == {"digit", "parity"}


def test_the_toml_written_reads_back_as_the_sections_given():
    built = Manifest.digits(init=[{"use": "kaiming_normal", "match": "backbone.*"}],
                            train={"data": "digits", "epochs": 1, "preprocess": {"normalize": "none"}},
                            compress=[{"use": "prune_l1", "amount": 0.5}], export={"formats": ["onnx"]})
    assert tomllib.loads(built.toml()) == built.sections
    assert built.toml().startswith('[model]\nname = "tiny"\n')


def test_toml_text_writes_inline_tables_quoted_keys_and_special_floats():
    text = toml_text({"a": {"odd key": [{"x": 1}, {"y": float("inf")}], "flag": True, "path": "C:\\dir \"q\""}})
    assert tomllib.loads(text) == {"a": {"odd key": [{"x": 1}, {"y": float("inf")}], "flag": True,
                                         "path": "C:\\dir \"q\""}}


def test_a_value_toml_cannot_hold_is_refused_with_what_to_give():
    with pytest.raises(TypeError, match="set has no TOML form: give a string, number, bool, list or table"):
        toml_text({"model": {"name": {1, 2}}})


def test_replace_and_update_return_new_manifests_and_leave_the_original():
    base = Manifest.digits(train={"data": "digits"})
    longer = base.update("train", epochs=3)
    untrained = base.replace(train=None)
    assert longer.sections["train"] == {"data": "digits", "epochs": 3}
    assert "train" not in untrained.sections
    assert base.sections["train"] == {"data": "digits"} and base == Manifest.digits(train={"data": "digits"})


def test_manifest_takes_any_backbone_and_more_model_keys(manifest_file):
    flat = manifest(name="flat", input_shape=[64], backbone={"use": "mlp", "widths": [16]},
                    heads={"digit": {"use": "linear", "num_classes": 10}}, model={"version": "1.2.0"})
    resolved = flexzoo.load_manifest(manifest_file(flat))
    assert (resolved.model.name, resolved.model.version, resolved.model.input_shape) == ("flat", "1.2.0", (64,))


def test_registry_of_a_plugin_holds_what_discovery_finds_for_it():
    installed = flexzoo.list_components()
    explicit = registry_of(flexzoo_plugin_compress)
    for plugin in ("builtin", "compress"):
        found = {(c.kind, c.qualified_name) for c in installed if c.plugin == plugin}
        assert found and {(c.kind, c.qualified_name) for c in explicit.components() if c.plugin == plugin} == found
    assert {p.name for p in explicit.plugins} == {"builtin", "compress"}


def test_registry_of_leaves_out_builtin_when_asked_and_names_objects_as_given():
    class Heads:
        @flexzoo.hookimpl
        def flexzoo_heads(self):
            return [flexzoo.Component("twice", lambda in_features: None)]

    registry = registry_of(builtin=False, mine=Heads())
    assert [p.name for p in registry.plugins] == ["mine"]
    assert [c.qualified_name for c in registry.components()] == ["mine:twice"]


def test_registry_of_refuses_an_object_without_a_name_and_a_name_given_twice():
    with pytest.raises(TypeError, match=r"pass an object of hook implementations by name, registry_of\(name=obj\)"):
        registry_of(object())
    with pytest.raises(ValueError, match="two plugins are named 'compress'"):
        registry_of(flexzoo_plugin_compress, compress=flexzoo_plugin_compress)


def test_a_plugin_is_named_as_its_entry_point_names_it():
    import flexzoo.builtin

    assert (plugin_name(flexzoo_plugin_compress), plugin_name(flexzoo.builtin)) == ("compress", "builtin")


registry = registry_fixture(flexzoo_plugin_compress)


def test_registry_fixture_declares_the_modules_registry(registry):
    assert {p.name for p in registry.plugins} == {"builtin", "compress"}


def test_training_data_is_the_split_digits_training_reads(tmp_path):
    data = load_training_data(TRAINED, directory=tmp_path)
    assert len(data.train_index) + len(data.validation_index) == 1797
    assert tuple(data.inputs.shape[1:]) == (1, 8, 8) and set(data.targets) == {"digit", "parity"}
    again = load_training_data(tmp_path / "model.toml")
    assert again.fingerprint == data.fingerprint


def test_training_data_of_a_manifest_without_train_is_one_message(manifest_file):
    with pytest.raises(ManifestError, match=r"there is no \[train\] section to load data from"):
        load_training_data(manifest_file(Manifest.digits()))


def test_a_manifest_object_needs_the_folder_it_is_written_to():
    with pytest.raises(TypeError, match="give directory="):
        load_training_data(TRAINED)

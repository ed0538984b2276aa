"""Artifacts: exact round trips, refusal of anything tampered, missing or foreign, atomic writes."""

from __future__ import annotations

import json
import struct

import pytest
import torch

import flexzoo
from conftest import TINY_MANIFEST
from flexzoo import ArtifactError, PluginError
from flexzoo.artifact.format import read_artifact
from flexzoo.testing import registry_of


@pytest.fixture
def saved(manifest_file, registry, tmp_path):
    model = flexzoo.build(manifest_file(TINY_MANIFEST), registry)
    return model, flexzoo.save(model, tmp_path / "out", registry)


def rewrite_header(path, change) -> None:
    """Edit an artifact's JSON header in place, keeping the tensor bytes."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    change(header)
    encoded = json.dumps(header).encode()
    encoded += b" " * ((8 - len(encoded) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(encoded)) + encoded + raw[8 + length :])


def test_round_trip_gives_identical_outputs(saved, registry):
    model, path = saved
    assert path.name == "tiny.safetensors"
    loaded = flexzoo.load(path, registry)
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        expected, actual = model(x), loaded(x)
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    assert not loaded.training


def test_artifact_records_manifest_versions_plugins_and_card(saved):
    info = read_artifact(saved[1])
    assert info.manifest["backbone"] == {"use": "builtin:cnn", "channels": [4, 8], "depth": 1, "kernel_size": 3,
                                         "activation": "relu", "dropout": 0.0, "drop_path_rate": 0.0}
    assert info.info["versions"]["torch"] == torch.__version__
    assert info.info["versions"]["flexzoo"] == flexzoo.__version__ == "0.2.0"
    assert set(info.plugins) == {"builtin"}
    card = info.card
    assert card["parameters"] == sum(p.numel() for p in saved[0].parameters())
    assert card["heads"]["digit"]["output_shape"] == [1, 10]
    assert len(info.weights_sha256) == 64


def test_rebuilt_artifact_has_the_same_weights_and_metadata(manifest_file, registry, tmp_path):
    paths = [flexzoo.save(flexzoo.build(manifest_file(TINY_MANIFEST), registry), tmp_path / d, registry)
             for d in ("a", "b")]
    first, second = (read_artifact(p) for p in paths)
    assert first.weights_sha256 == second.weights_sha256 and first.info == second.info


def test_tampered_weights_are_refused(saved, registry):
    path = saved[1]
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="weights hash mismatch"):
        flexzoo.load(path, registry)


def test_weights_are_recorded_with_a_tree_root_over_chunks_hashed_on_every_core(saved):
    from flexzoo.artifact.digest import TREE_KEYS

    metadata = read_artifact(saved[1]).header.metadata
    assert len(metadata[TREE_KEYS[0]]) == 64 and int(metadata[TREE_KEYS[1]]) == 8 * 2**20


def test_editing_the_recorded_weights_sha256_alone_is_refused(saved, registry):
    rewrite_header(saved[1], lambda header: header["__metadata__"].update(weights_sha256="0" * 64))
    with pytest.raises(ArtifactError, match="weights hash mismatch"):
        flexzoo.load(saved[1], registry)
    with pytest.raises(ArtifactError, match="weights hash mismatch"):
        read_artifact(saved[1])


def test_an_artifact_written_before_tree_digests_is_loaded_and_verified(saved, registry):
    from flexzoo.artifact.digest import TREE_KEYS

    model, path = saved
    rewrite_header(path, lambda header: [header["__metadata__"].pop(key) for key in TREE_KEYS])
    loaded = flexzoo.load(path, registry)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(model.eval()(x)["digit"], loaded(x)["digit"])
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01
    path.write_bytes(bytes(raw))
    for read in (lambda: flexzoo.load(path, registry), lambda: read_artifact(path)):
        with pytest.raises(ArtifactError, match="weights hash mismatch"):
            read()


def test_tree_root_is_the_same_on_one_core_and_on_many(monkeypatch):
    from flexzoo.artifact import digest

    large = bytes(range(256)) * (digest._SERIAL_BYTES // 256 + 4096)  # above the size that uses threads
    tensors = [("b", "U8", [len(large)], memoryview(large)), ("a", "F32", [2], memoryview(b"\0" * 8))]
    many = digest.tree_root(tensors, "x" * 64)
    monkeypatch.setattr(digest, "workers", lambda: 1)
    assert digest.tree_root(list(reversed(tensors)), "x" * 64) == many
    changed = bytearray(large)
    changed[-1] ^= 1
    assert digest.tree_root([tensors[1], ("b", "U8", [len(large)], memoryview(bytes(changed)))], "x" * 64) != many
    assert digest.tree_root(tensors, "y" * 64) != many


def _as_bytes(tensors):
    from flexzoo.artifact.write import SAFETENSORS_DTYPES

    return [(name, SAFETENSORS_DTYPES[tensor.dtype], list(tensor.shape),
             tensor.reshape(-1).view(torch.uint8).numpy().data) for name, tensor in tensors.items()]


def test_digests_taken_while_the_weights_are_written_are_the_sequential_sha256_and_the_tree_root():
    from flexzoo.artifact import digest
    from flexzoo.artifact.write import weights_sha256

    tensors = {"large": torch.arange(50_000, dtype=torch.float32), "empty": torch.zeros(0),
               "odd": torch.ones(3, dtype=torch.int8), "a.bias": torch.full((7,), 0.5)}
    chunk = 2**16  # the large tensor spans several chunks
    taken = digest.WeightDigests(_as_bytes(tensors), chunk).metadata()
    sequential = weights_sha256(tensors)
    root = digest.tree_root(_as_bytes(tensors), sequential, chunk)
    assert taken == {"weights_sha256": sequential, "weights_tree_sha256": root, "weights_tree_chunk": str(chunk)}
    assert set(taken) == set(digest.WeightDigests.placeholder(chunk))
    assert all(len(taken[key]) == len(value) for key, value in digest.WeightDigests.placeholder(chunk).items())


def test_a_header_filled_in_after_the_tensors_are_written_is_the_header_written_at_once(tmp_path):
    from flexzoo.artifact.aligned import save_aligned
    from flexzoo.artifact.write import SAFETENSORS_DTYPES

    tensors = {"w": torch.randn(16, 4), "b": torch.randn(3)}
    final = {"format": "test", "weights_sha256": "ab" * 32}
    save_aligned(tensors, tmp_path / "at_once.safetensors", final, SAFETENSORS_DTYPES)
    save_aligned(tensors, tmp_path / "filled.safetensors", {**final, "weights_sha256": "0" * 64}, SAFETENSORS_DTYPES,
                 lambda: {"weights_sha256": "ab" * 32})
    assert (tmp_path / "filled.safetensors").read_bytes() == (tmp_path / "at_once.safetensors").read_bytes()
    with pytest.raises(ValueError, match="do not fit the header laid out with their placeholders"):
        save_aligned(tensors, tmp_path / "longer.safetensors", final, SAFETENSORS_DTYPES,
                     lambda: {"weights_sha256": "ab" * 64})


def test_zoo_build_records_the_card_shapes_of_its_dry_run_without_running_the_backbone_again(manifest_file, registry,
                                                                                             tmp_path):
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import build_artifact

    calls = []

    class Counting:
        @flexzoo.hookimpl
        def flexzoo_model_built(self, model):
            model.backbone.register_forward_pre_hook(lambda module, args: calls.append(module))

    counting = registry_of(counting=Counting())
    path = manifest_file(TINY_MANIFEST)
    built = build_artifact(load_manifest(path, counting), tmp_path / "built", counting, report="none")
    assert calls == []  # the card's shapes came from the dry run (on the meta model, which has no hook)
    saved = flexzoo.save(flexzoo.build(path, counting), tmp_path / "saved", counting)
    assert len(calls) == 1  # without a dry run of its own, the card runs the backbone on meta
    assert read_artifact(built.artifact).card == read_artifact(saved).card
    assert read_artifact(built.artifact).card["heads"]["digit"]["output_shape"] == [1, 10]


def test_a_model_changed_after_the_dry_run_has_its_own_shapes_in_the_card(manifest_file, tmp_path):
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import build_artifact

    class Reshaping:
        @flexzoo.hookimpl
        def flexzoo_model_built(self, model):
            model.heads["digit"] = torch.nn.Sequential(model.heads["digit"], torch.nn.Linear(10, 3))

    reshaping = registry_of(reshaping=Reshaping())
    built = build_artifact(load_manifest(manifest_file(TINY_MANIFEST), reshaping), tmp_path, reshaping, report="none")
    assert read_artifact(built.artifact).card["heads"]["digit"]["output_shape"] == [1, 3]


def test_tampered_metadata_is_refused(saved, registry):
    def change(header):
        info = json.loads(header["__metadata__"]["flexzoo"])
        info["manifest"]["heads"]["digit"]["num_classes"] = 11
        header["__metadata__"]["flexzoo"] = json.dumps(info)

    rewrite_header(saved[1], change)
    with pytest.raises(ArtifactError, match="metadata hash mismatch"):
        flexzoo.load(saved[1], registry)


def test_missing_part_is_refused(saved, registry):
    rewrite_header(saved[1], lambda header: header["__metadata__"].pop("weights_sha256"))
    with pytest.raises(ArtifactError, match="the artifact is missing weights_sha256"):
        flexzoo.load(saved[1], registry)


def test_plain_safetensors_file_is_not_an_artifact(tmp_path, registry):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ArtifactError, match=r"not a flexzoo artifact \(no flexzoo metadata\)"):
        flexzoo.load(path, registry)


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 a zip file", b"\x80\x04\x95 pickle" * 4,
                                     struct.pack("<Q", 5) + b"nope!"])
def test_anything_that_is_not_safetensors_is_refused(tmp_path, registry, content):
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(ArtifactError, match="not a safetensors file"):
        flexzoo.load(path, registry)


def test_missing_plugin_is_refused_with_install_advice(saved):
    registry = registry_of(builtin=False)
    with pytest.raises(PluginError, match=r"plugin `builtin` \(None None\) is not installed"):
        flexzoo.load(saved[1], registry)


def test_incompatible_plugin_version_is_refused(saved, registry):
    def change(header):
        info = json.loads(header["__metadata__"]["flexzoo"])
        info["plugins"]["builtin"] = {"distribution": "flexzoo", "version": "0.1.0"}
        header["__metadata__"]["flexzoo"] = json.dumps(info, sort_keys=True, separators=(",", ":"))
        from flexzoo.artifact.format import metadata_digest

        header["__metadata__"]["metadata_sha256"] = metadata_digest(header["__metadata__"]["flexzoo"])

    rewrite_header(saved[1], change)
    registry.plugin("builtin").version = "2.0.0"
    with pytest.raises(PluginError, match=r"is version 2\.0\.0 here, but the artifact was built with 0\.1\.0"):
        flexzoo.load(saved[1], registry)


def test_failed_write_keeps_the_previous_artifact(saved, registry, monkeypatch):
    model, path = saved
    before = path.read_bytes()
    import flexzoo.artifact.write as writer

    def crash(tensors, filename, metadata, dtypes, finish=None):
        with open(filename, "wb") as half:
            half.write(b"half an artifact")
        raise KeyboardInterrupt

    monkeypatch.setattr(writer, "save_aligned", crash)
    with pytest.raises(KeyboardInterrupt):
        flexzoo.save(model, path.parent, registry)
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.safetensors"]


def test_compression_steps_are_replayed_on_load(manifest_file, tmp_path):
    class Halve:
        @flexzoo.hookimpl
        def flexzoo_compressors(self):
            def bfloat16():
                """Cast to bfloat16."""
                return lambda model: model.to(torch.bfloat16)

            return [flexzoo.Component("bfloat16", bfloat16)]

    registry = registry_of(halve=Halve())
    path = manifest_file(TINY_MANIFEST + '\n[[compress]]\nuse = "bfloat16"\n')
    model = flexzoo.build(path, registry)
    saved = flexzoo.save(model, tmp_path, registry)
    loaded = flexzoo.load(saved, registry)
    x = torch.randn(2, 1, 8, 8, dtype=torch.bfloat16)
    assert loaded(x)["digit"].dtype == torch.bfloat16
    assert torch.equal(loaded(x)["digit"], model(x)["digit"])
    assert read_artifact(saved).card["dtype"] == "bfloat16, int64"


def test_a_loaded_model_answers_exactly_as_the_built_one(manifest_file, registry, tmp_path):
    """Tensors start on 64-byte boundaries in the file (odd-sized ones copied), so the kernels take the same paths."""
    from flexzoo.artifact.aligned import ALIGNMENT

    model = flexzoo.build(manifest_file(TINY_MANIFEST), registry)
    assert any(tensor.nbytes % ALIGNMENT for tensor in model.state_dict().values())  # the layout has work to do
    same = flexzoo.load(flexzoo.save(model, tmp_path / "aligned", registry, export=False), registry)
    assert all(tensor.data_ptr() % ALIGNMENT == 0 for tensor in [*same.parameters(), *same.buffers()])
    x = torch.rand(3, 1, 8, 8)
    for head, value in model.eval()(x).items():
        assert torch.equal(same(x)[head], value), head


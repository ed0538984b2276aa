"""Ensemble members given as manifests (built or trained first, then embedded) and bagging by bootstrap samples.

The members are small MLPs trained for a few epochs on 1000 of scikit-learn's digits (20 % of them held
out for validation by the seeded split); nothing here needs more than a second or two of training.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import flexzoo
from flexzoo import load_manifest
from flexzoo.assembly.builder import plan
from flexzoo.manifest.ensemble import bootstrap_seed
from flexzoo.pipeline.stages import Pipeline, build_artifact
from flexzoo.testing import load_training_data, read_artifact
from flexzoo.training.data import bootstrap_sample

BAG_SEED = 11


def member(name: str, activation: str, epochs: int = 3, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        [model]
        name = "{name}"
        input_shape = [1, 8, 8]

        [backbone]
        use = "mlp"
        widths = [32]
        activation = "{activation}"

        [heads.digit]
        use = "linear"
        num_classes = 10

        [train]
        data = "train.npz"
        epochs = {epochs}
        lr = 0.003
        """) + extra


def ensemble(name: str, members: str, bagging: str = "") -> str:
    return (f'[model]\nname = "{name}"\n\n[ensemble]\nmembers = {members}\n\n{bagging}\n'
            '[heads.digit]\nuse = "mean"\nnum_classes = 10\n')


BAGGING = f'[ensemble.bagging]\nmanifest = "bag.toml"\ncount = 3\nseed = {BAG_SEED}\n'


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """The data, the member manifests, and two ensembles built: `pair` (two manifests), `bagged` (3 bootstraps)."""
    root = tmp_path_factory.mktemp("bagging")
    bunch = load_digits()
    x, y = (bunch.images / 16.0).astype(np.float32)[:, None], bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    np.savez(root / "train.npz", x=x[order[:1000]], digit=y[order[:1000]])
    np.savez(root / "test.npz", x=x[order[1000:]], digit=y[order[1000:]])
    (root / "relu.toml").write_text(member("relu", "relu"))
    (root / "tanh.toml").write_text(member("tanh", "tanh"))
    (root / "bag.toml").write_text(member("bag", "relu"))
    (root / "pair.toml").write_text(ensemble("pair", '["relu.toml", {from = "tanh.toml"}]'))
    (root / "bagged.toml").write_text(ensemble("bagged", "[]", BAGGING))
    for name in ("pair", "bagged"):
        build_artifact(load_manifest(root / f"{name}.toml"), root / "out", report="none")
    return root


def stored_members(artifact: Path) -> list[dict]:
    return read_artifact(artifact).manifest["ensemble"]["members"]


def test_manifest_members_are_trained_into_the_output_folder_and_embedded(root):
    members = stored_members(root / "out" / "pair.safetensors")
    assert [m["from"] for m in members] == ["out/pair.members/relu.safetensors", "out/pair.members/tanh.safetensors"]
    model = flexzoo.load(root / "out" / "pair.safetensors")
    for index, name in enumerate(("relu", "tanh")):
        path = root / "out" / "pair.members" / f"{name}.safetensors"
        built = read_artifact(path)
        assert built.info["training"]["epochs_run"] == 3  # trained, as its [train] says
        assert members[index]["weights_sha256"] == built.weights_sha256
        assert members[index]["manifest"] == built.manifest
        kept, own = model.backbone.members[index].state_dict(), flexzoo.load(path).state_dict()
        assert kept.keys() == own.keys() and all(torch.equal(kept[k], own[k]) for k in own)


def test_the_ensemble_reloads_with_identical_outputs_without_the_member_artifacts(root, tmp_path):
    artifact = root / "out" / "pair.safetensors"
    before = flexzoo.load(artifact)
    moved = shutil.move(root / "out" / "pair.members", tmp_path / "members")
    try:
        assert not (root / "out" / "pair.members").exists()
        after = flexzoo.load(artifact)
        x = torch.from_numpy(np.load(root / "test.npz")["x"])
        with torch.no_grad():
            assert torch.equal(after(x)["digit"], before(x)["digit"])
            accuracy = float((after(x)["digit"].argmax(1) == torch.from_numpy(np.load(root / "test.npz")["digit"]))
                             .float().mean())
        assert accuracy > 0.5  # trained members (0.78 here), not random ones (0.1)
    finally:
        shutil.move(moved, root / "out" / "pair.members")


def test_an_unchanged_member_is_reused_and_a_changed_one_is_trained_again(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    folder = copy / "out" / "pair.members"
    stamps = {name: (folder / f"{name}.safetensors").stat().st_mtime_ns for name in ("relu", "tanh")}
    build_artifact(load_manifest(copy / "pair.toml"), copy / "out", report="none")
    assert {name: (folder / f"{name}.safetensors").stat().st_mtime_ns for name in stamps} == stamps
    (copy / "tanh.toml").write_text(member("tanh", "tanh", epochs=2))
    build_artifact(load_manifest(copy / "pair.toml"), copy / "out", report="none")
    assert (folder / "relu.safetensors").stat().st_mtime_ns == stamps["relu"]
    retrained = read_artifact(folder / "tanh.safetensors")
    assert retrained.info["training"]["epochs_run"] == 2
    assert stored_members(copy / "out" / "pair.safetensors")[1]["weights_sha256"] == retrained.weights_sha256


def test_a_bootstrap_sample_draws_as_many_indices_with_replacement_seeded():
    index = np.arange(0, 600, 3)
    sample = bootstrap_sample(index, 5)
    assert len(sample) == len(index) and set(sample) <= set(index)
    distinct = len(np.unique(sample))
    assert 0.55 * len(index) < distinct < 0.72 * len(index)  # 1 - 1/e of them, about 63 %: repeats, and gaps
    assert np.array_equal(bootstrap_sample(index, 5), sample)
    assert not np.array_equal(bootstrap_sample(index, 6), sample)


def test_train_bootstrap_resamples_the_training_split_and_leaves_validation_alone(root, tmp_path):
    shutil.copy(root / "train.npz", tmp_path)
    (tmp_path / "full.toml").write_text(member("full", "relu"))
    (tmp_path / "boot.toml").write_text(member("boot", "relu", extra="bootstrap = 7\n"))
    full = load_training_data(tmp_path / "full.toml")
    boot = load_training_data(tmp_path / "boot.toml")
    assert torch.equal(boot.validation_index, full.validation_index)
    assert torch.equal(boot.train_index, torch.from_numpy(bootstrap_sample(full.train_index.numpy(), 7)))
    assert len(boot.train_index.unique()) < len(boot.train_index) == len(full.train_index)


def test_a_bagged_member_is_trained_on_its_sample_and_records_its_seed(root, tmp_path):
    bagged = read_artifact(root / "out" / "bagged.members" / "bag-0.safetensors")
    assert bagged.manifest["train"]["bootstrap"] == bootstrap_seed(BAG_SEED, 0)
    assert bagged.info["training"]["data"]["train_samples"] == 800  # as many samples as the split
    shutil.copy(root / "train.npz", tmp_path)
    (tmp_path / "bag.toml").write_text(member("bag-0", "relu"))  # the same model, seed and data, no bootstrap
    full = flexzoo.train(tmp_path / "bag.toml", tmp_path / "out").model.state_dict()
    own = flexzoo.load(bagged.path).state_dict()
    assert full.keys() == own.keys() and not all(torch.equal(full[k], own[k]) for k in own)


def test_bagging_expands_to_count_members_recorded_in_the_artifact(root):
    members = stored_members(root / "out" / "bagged.safetensors")
    assert [m["manifest"]["model"]["name"] for m in members] == ["bag-0", "bag-1", "bag-2"]
    seeds = [m["manifest"]["train"]["bootstrap"] for m in members]
    assert seeds == [bootstrap_seed(BAG_SEED, k) for k in range(3)] and len(set(seeds)) == 3
    index = np.arange(800)
    samples = [bootstrap_sample(index, seed) for seed in seeds]
    assert all(not np.array_equal(a, b) for n, a in enumerate(samples) for b in samples[n + 1:])
    assert len({m["weights_sha256"] for m in members}) == 3
    assert len(flexzoo.load(root / "out" / "bagged.safetensors").backbone.members) == 3


def test_validate_checks_member_manifests_without_training_them(root, tmp_path):
    for name in ("relu.toml", "tanh.toml", "bag.toml", "train.npz"):
        shutil.copy(root / name, tmp_path)
    (tmp_path / "both.toml").write_text(ensemble("both", '["relu.toml", "tanh.toml"]', BAGGING))
    manifest = load_manifest(tmp_path / "both.toml")
    assert [m.manifest.model.name for m in manifest.ensemble.members] == ["relu", "tanh", "bag-0", "bag-1", "bag-2"]
    assert all(m.pending for m in manifest.ensemble.members)
    assert plan(manifest).parameters == 5 * (64 * 32 + 32 + 32 * 10 + 10)  # the dry run builds every member
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bag.toml", "both.toml", "relu.toml", "tanh.toml",
                                                          "train.npz"]  # nothing built or trained
    with pytest.raises(flexzoo.FlexzooError, match=r"(?s)ensemble.members\[0\].*not built yet.*zoo build"):
        flexzoo.build(manifest)  # the in-memory build writes no member files


BAD = {
    "a member manifest with an error": (
        {"a.toml": member("a", "nope"), "e.toml": ensemble("e", '["relu.toml", "a.toml"]')},
        ["ensemble.members[1]", "member manifest `a.toml` is not valid", "backbone.activation"]),
    "bagging fewer than two": (
        {"e.toml": ensemble("e", "[]", BAGGING.replace("count = 3", "count = 1"))},
        ["ensemble.bagging.count", "must be >= 2"]),
    "an ensemble that is its own member": (
        {"e.toml": ensemble("e", '["relu.toml", "inner.toml"]'),
         "inner.toml": ensemble("inner", '["relu.toml", "e.toml"]')},
        ["ensemble.members[1]", "contains the ensemble itself (e.toml → inner.toml → e.toml)"]),
    "bootstrap on a streamed source": (
        {"e.toml": member("e", "relu", extra='bootstrap = 1\n[train.source]\nstreaming = true\n').replace(
            '"train.npz"', '"huggingface:rows/*.parquet"')},
        ["train.bootstrap", "cannot train on a bootstrap sample"]),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_ensembles_and_samples_are_refused_with_one_message(case, root, tmp_path, zoo):
    files, expected = BAD[case]
    for name in ("relu.toml", "bag.toml", "train.npz"):
        shutil.copy(root / name, tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    verb = "build" if case == "an ensemble that is its own member" else "validate"
    result = zoo(verb, str(tmp_path / "e.toml"), *(["-o", str(tmp_path / "out")] if verb == "build" else []))
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("zoo: error: ") and "Traceback" not in result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_a_streamed_source_refuses_bootstrap_when_it_loads(tmp_path):
    datasets = pytest.importorskip("datasets")
    rows = tmp_path / "rows"
    rows.mkdir()
    datasets.Dataset.from_dict({"x": [[float(i)] * 64 for i in range(8)], "digit": [i % 2 for i in range(8)]}
                               ).to_parquet(str(rows / "part.parquet"))
    text = member("e", "relu", extra='[train.source]\nstreaming = true\ncolumn = "x"\ntargets = ["digit"]\n')
    (tmp_path / "e.toml").write_text(text.replace('"train.npz"', '"huggingface:rows/*.parquet"'))
    manifest = load_manifest(tmp_path / "e.toml")
    train = dict(manifest.train, bootstrap=1)  # what a plugin's own streamed source would reach (no `streaming` key)
    pipeline = Pipeline(dataclasses.replace(manifest, train=train))
    with pytest.raises(flexzoo.FlexzooError, match=r"bootstrap needs a source whose samples can be indexed"):
        pipeline.training_data()


def test_the_stored_ensemble_manifest_names_no_manifest_member(root):
    document = json.dumps(read_artifact(root / "out" / "bagged.safetensors").manifest)
    assert "bag.toml" not in document and "bagging" not in document  # expanded: artifacts, hashes, manifests


def test_the_docs_bagging_snippet_is_the_example_as_it_is():
    top = Path(__file__).resolve().parents[1]
    page = top / "docs" / "how-to" / "ensembles.md"
    blocks = [block.split("```", 1)[0] for block in page.read_text().split("```toml\n")[1:]]
    [snippet] = [block for block in blocks if block.startswith("[ensemble.bagging]")]
    assert snippet in (top / "examples" / "digits_bagging.toml").read_text()


def test_zoo_train_of_a_stacking_ensemble_trains_its_manifest_members_first(root, zoo):
    stacking = ensemble("stack", '["relu.toml", "tanh.toml"]').replace('use = "mean"', 'use = "linear"')
    (root / "stack.toml").write_text(stacking + '\n[train]\ndata = "train.npz"\nepochs = 2\nlr = 0.05\n')
    result = zoo("train", str(root / "stack.toml"), "-o", str(root / "out"), "-q")
    assert result.returncode == 0, result.stderr
    members = stored_members(root / "out" / "stack.safetensors")
    assert [m["from"] for m in members] == ["out/stack.members/relu.safetensors", "out/stack.members/tanh.safetensors"]
    assert [m["weights_sha256"] for m in members] == [read_artifact(root / "out" / "stack.members" / f"{n}.safetensors")
                                                      .weights_sha256 for n in ("relu", "tanh")]

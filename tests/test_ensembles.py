"""Ensembles: members are artifacts, combined by mean, vote or a stacking head; the result is one artifact.

Three small members are trained on disjoint thirds of 900 digits, the stacking head on 400 more,
and every model is scored on the last 497, which none of them saw.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

import flexzoo
from flexzoo import Predictor

MEMBERS = {
    "relu": ('widths = [64]\nactivation = "relu"', 0),
    "tanh": ('widths = [64]\nactivation = "tanh"', 1),
    "gelu": ('widths = [32, 32]\nactivation = "gelu"', 2),
}
SPLITS = {"relu": (0, 300), "tanh": (300, 600), "gelu": (600, 900), "stack": (900, 1300), "test": (1300, 1797)}


def ensemble_manifest(members: list[str], head: str, train: str = "", name: str = "") -> str:
    listed = ", ".join(json.dumps(member) for member in members)
    return textwrap.dedent(f"""\
        [model]
        name = "{name or f'digits-{head}'}"

        [ensemble]
        members = [{listed}]

        [heads.digit]
        use = "{head}"
        num_classes = 10
        """) + train


STACKING = '\n[train]\ndata = "stack.npz"\nepochs = 30\nlr = 0.05\n'


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """The data splits as .npz files, and the three members trained on theirs (out/<name>.safetensors)."""
    root = tmp_path_factory.mktemp("ensembles")
    bunch = load_digits()
    x, y = (bunch.images / 16.0).astype(np.float32)[:, None], bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(y))
    for name, (start, end) in SPLITS.items():
        np.savez(root / f"{name}.npz", x=x[order[start:end]], digit=y[order[start:end]])
    for name, (backbone, seed) in MEMBERS.items():
        (root / f"{name}.toml").write_text(
            f'[model]\nname = "{name}"\nseed = {seed}\ninput_shape = [1, 8, 8]\n\n'
            f'[backbone]\nuse = "mlp"\n{backbone}\n\n'
            f'[heads.digit]\nuse = "linear"\nnum_classes = 10\n\n[train]\ndata = "{name}.npz"\nvalidation_split = 0.1\n'
            "epochs = 10\nlr = 0.003\n")
        flexzoo.train(root / f"{name}.toml", root / "out")
    return root


def members_of(root: Path) -> list[str]:
    return [f"out/{name}.safetensors" for name in MEMBERS]


def accuracy(model: torch.nn.Module, root: Path) -> float:
    test = np.load(root / "test.npz")
    with torch.no_grad():
        predicted = model(torch.from_numpy(test["x"]))["digit"].argmax(dim=1)
    return float((predicted == torch.from_numpy(test["digit"])).float().mean())


@pytest.mark.slow
def test_the_ensemble_beats_its_best_member_by_each_combine_method(digits):
    members = {name: accuracy(flexzoo.load(digits / f"out/{name}.safetensors"), digits) for name in MEMBERS}
    combined = {}
    for head in ("mean", "vote"):
        (digits / f"{head}.toml").write_text(ensemble_manifest(members_of(digits), head))
        combined[head] = accuracy(flexzoo.build(digits / f"{head}.toml"), digits)
    (digits / "stacking.toml").write_text(ensemble_manifest(members_of(digits), "linear", STACKING, "digits-stacking"))
    combined["stacking"] = accuracy(flexzoo.train(digits / "stacking.toml", digits / "out").model, digits)
    print(f"\nmembers {members}\nensembles {combined}")
    best = max(members.values())
    assert all(score > best for score in combined.values()), (members, combined)


def test_stacking_trains_the_head_alone_and_keeps_the_members_as_their_artifacts_hold_them(digits):
    (digits / "stack-few.toml").write_text(ensemble_manifest(
        members_of(digits), "linear", STACKING.replace("epochs = 30", "epochs = 2"), "stack-few"))
    trained = flexzoo.train(digits / "stack-few.toml", digits / "out").model
    for index, name in enumerate(MEMBERS):
        member = flexzoo.load(digits / f"out/{name}.safetensors")
        kept = trained.backbone.members[index].state_dict()
        assert kept.keys() == member.state_dict().keys()
        assert all(torch.equal(kept[key], value) for key, value in member.state_dict().items())
    assert trained.backbone.members.training is False
    (digits / "mean-untrained.toml").write_text(ensemble_manifest(members_of(digits), "mean", STACKING, "mean-train"))
    with pytest.raises(flexzoo.FlexzooError, match="every parameter is frozen"):
        flexzoo.train(digits / "mean-untrained.toml", digits / "out")


def test_the_ensemble_artifact_reloads_with_identical_outputs_without_the_member_files(digits, tmp_path):
    for name in MEMBERS:
        shutil.copy(digits / f"out/{name}.safetensors", tmp_path / f"{name}.safetensors")
    (tmp_path / "vote.toml").write_text(ensemble_manifest([f"{name}.safetensors" for name in MEMBERS], "vote"))
    built = flexzoo.build(tmp_path / "vote.toml")
    artifact = flexzoo.save(built, tmp_path / "out", export=False)
    for name in MEMBERS:
        (tmp_path / f"{name}.safetensors").unlink()
    loaded = flexzoo.load(artifact)
    x = torch.from_numpy(np.load(digits / "test.npz")["x"])
    with torch.no_grad():
        assert torch.equal(loaded(x)["digit"], built(x)["digit"])
    stored = json.loads(_metadata(artifact)["flexzoo"])["manifest"]["ensemble"]["members"]
    assert [member["manifest"]["model"]["name"] for member in stored] == list(MEMBERS)
    assert [member["weights_sha256"] for member in stored] == [_metadata(digits / f"out/{n}.safetensors")[
        "weights_sha256"] for n in MEMBERS]


def _metadata(path: Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as file:
        return file.metadata()


def test_a_tampered_member_is_refused_with_one_message(digits, tmp_path, zoo):
    for name in MEMBERS:
        shutil.copy(digits / f"out/{name}.safetensors", tmp_path / f"{name}.safetensors")
    tampered = tmp_path / "tanh.safetensors"
    data = bytearray(tampered.read_bytes())
    data[-3] ^= 0xFF  # a weight's byte, after the header
    tampered.write_bytes(bytes(data))
    (tmp_path / "mean.toml").write_text(ensemble_manifest([f"{name}.safetensors" for name in MEMBERS], "mean"))
    result = zoo("build", str(tmp_path / "mean.toml"), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert result.stderr.startswith("zoo: error: ") and "Traceback" not in result.stderr
    assert "ensemble.members[1]" in result.stderr and "tanh.safetensors" in result.stderr
    assert "weights hash mismatch" in result.stderr
    assert not (tmp_path / "out" / "digits-mean.safetensors").exists()


def test_a_missing_member_file_is_refused_with_one_message(digits, tmp_path, zoo):
    shutil.copy(digits / "out/relu.safetensors", tmp_path / "relu.safetensors")
    (tmp_path / "mean.toml").write_text(ensemble_manifest(["relu.safetensors", "gone.safetensors"], "mean"))
    result = zoo("validate", str(tmp_path / "mean.toml"))
    assert result.returncode == 1
    assert result.stderr.startswith("zoo: error: ") and "Traceback" not in result.stderr
    assert "ensemble.members[1]" in result.stderr and "gone.safetensors" in result.stderr


def test_a_pinned_member_whose_file_changed_is_refused(digits, tmp_path):
    shutil.copy(digits / "out/relu.safetensors", tmp_path / "a.safetensors")
    shutil.copy(digits / "out/tanh.safetensors", tmp_path / "b.safetensors")
    pinned = {"from": "b.safetensors", "weights_sha256": _metadata(digits / "out/gelu.safetensors")["weights_sha256"]}
    text = ensemble_manifest(["a.safetensors"], "mean").replace('members = ["a.safetensors"]',
                                                              'members = ["a.safetensors", ' +
                                                              f'{{from = "b.safetensors", weights_sha256 = '
                                                              f'"{pinned["weights_sha256"]}"}}]')
    (tmp_path / "mean.toml").write_text(text)
    with pytest.raises(flexzoo.FlexzooError, match=r"ensemble.members\[1\].*pins"):
        flexzoo.build(tmp_path / "mean.toml")


def test_heads_must_have_the_members_classes(digits, tmp_path):
    (tmp_path / "mean.toml").write_text(ensemble_manifest(
        [str(digits / "out" / f"{n}.safetensors") for n in MEMBERS], "mean").replace("num_classes = 10",
                                                                                     "num_classes = 5"))
    with pytest.raises(flexzoo.FlexzooError, match=r"heads.digit.num_classes.*10 classes"):
        flexzoo.build(tmp_path / "mean.toml")


@pytest.mark.parametrize("head", ["mean", "vote"])
def test_the_ensemble_exports_to_onnx_and_predicts_as_one_model(digits, tmp_path, head):
    (tmp_path / "ensemble.toml").write_text(ensemble_manifest(
        [str(digits / "out" / f"{n}.safetensors") for n in MEMBERS], head))
    model = flexzoo.build(tmp_path / "ensemble.toml")
    artifact = flexzoo.save(model, tmp_path, export=False)
    [exported] = flexzoo.export(model, artifact, ["onnx"])
    assert exported["max_abs_diff"] <= 1e-4 and Path(exported["path"]).is_file()
    x = np.load(digits / "test.npz")["x"][:16]
    onnx = Predictor.load(artifact, "onnx")(x)["digit"]
    with torch.no_grad():
        eager = model(torch.from_numpy(x))["digit"].numpy()
    np.testing.assert_allclose(onnx, eager, atol=1e-4)
    probabilities = torch.softmax(torch.from_numpy(eager), dim=1)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(16))  # log-probabilities: softmax gives them back


@pytest.mark.slow
def test_the_docs_ensemble_manifest_builds_from_the_members(digits):
    readme = (Path(__file__).resolve().parents[1] / "docs" / "how-to" / "ensembles.md").read_text()
    blocks = [b.split("```", 1)[0] for b in readme.split("```toml\n")[1:]]
    [block] = [b for b in blocks if "[ensemble]" in b]
    (digits / "ensemble.toml").write_text(block)
    result = flexzoo.train(digits / "ensemble.toml", digits / "out")
    assert accuracy(result.model, digits) > max(accuracy(flexzoo.load(digits / f"out/{name}.safetensors"), digits)
                                                for name in MEMBERS)

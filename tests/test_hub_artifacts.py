"""flexzoo artifacts on the Hub: `zoo push` writes a repository with a model card the Hub parses, and
`hf-hub:ORG/NAME` pulls it back through a real Hugging Face cache (laid out here, offline) for
flexzoo.load, `zoo inspect`, `zoo predict` and `[backbone] from`, verified by the artifact's own sha256.

No network: the tests lay the pushed folder out as the Hugging Face cache does
(``models--ORG--NAME/refs/main`` holding a commit id, ``snapshots/<commit>/<files>``) and set
``HF_HUB_OFFLINE=1``.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import huggingface_hub.constants
import numpy as np
import pytest
import tomllib
import torch
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

import flexzoo
from conftest import Zoo
from flexzoo import FlexzooError, ManifestError
from flexzoo.host.registry import Registry
from flexzoo.testing import read_artifact, registry_of

COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
REPO = "acme/digits-tiny"

TRAINED = """
[model]
name = "digits-tiny"
version = "1.2.0"
description = "A small CNN on 8x8 digits, for the Hub tests."
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [4, 8]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "mlp"
num_classes = 2
hidden = [8]

[train]
data = "digits"
epochs = 1
batch_size = 128

[train.heads.digit]
metrics = ["accuracy", "macro_f1"]
"""


def _registry() -> Registry:
    return registry_of()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    """A trained artifact (one epoch on scikit-learn's digits): it records metrics for the card."""
    folder = tmp_path_factory.mktemp("trained")
    manifest = folder / "digits.toml"
    manifest.write_text(textwrap.dedent(TRAINED).lstrip(), encoding="utf-8")
    result = flexzoo.train(manifest, folder / "out", _registry())
    assert result.artifact is not None
    return result.artifact


@pytest.fixture(scope="module")
def pushed(artifact, tmp_path_factory) -> Path:
    """The repository folder `zoo push --to-dir` writes for the artifact, pushed once for the module: the tests
    only read it (a test that lays it out in a cache copies its files)."""
    folder = tmp_path_factory.mktemp("pushed") / "repo"
    result = Zoo(tmp_path_factory.mktemp("push"))("push", str(artifact), REPO, "--to-dir", str(folder), "--license",
                                                  "apache-2.0", "--tag", "digits", "--dataset", "acme/digits-8x8")
    assert result.returncode == 0, result.stderr
    return folder


def _blob_name(data: bytes, lfs: bool) -> str:
    """The name the Hub's cache gives a file's blob: its sha256 (LFS files), else its git blob id."""
    if lfs:
        return hashlib.sha256(data).hexdigest()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lay_out_cache(cache: Path, repo: str, files: Path, commit: str = COMMIT, ref: str | None = "main") -> Path:
    """Put ``files`` in ``cache`` as huggingface_hub lays out a downloaded repository; return the snapshot.

    ``blobs/<etag>`` holds each file, ``snapshots/<commit>/<file>`` links to it, ``refs/<ref>`` names the commit.
    """
    storage = cache / f"models--{repo.replace('/', '--')}"
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (storage / "blobs").mkdir(exist_ok=True)
    for file in files.iterdir():
        data = file.read_bytes()
        blob = storage / "blobs" / _blob_name(data, lfs=file.suffix != ".md")
        blob.write_bytes(data)
        (snapshot / file.name).symlink_to(Path("..", "..", "blobs", blob.name))
    if ref is not None:
        (storage / "refs").mkdir(exist_ok=True)
        (storage / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def hub_cache(tmp_path, monkeypatch, zoo) -> Path:
    """An empty Hugging Face cache, offline, for this process and the `zoo` subprocesses.

    huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE once, when it is first imported; the
    constants are set here as a process started with these variables would have them.
    """
    cache = tmp_path / "hf" / "hub"
    cache.mkdir(parents=True)
    zoo.env.update(HF_HUB_CACHE=str(cache), HF_HUB_OFFLINE="1")
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    return cache


# -- zoo push --to-dir: the repository folder and its card ------------------------------------------------------


def test_push_to_dir_writes_the_artifact_byte_for_byte_and_a_readme(artifact, pushed):
    assert sorted(p.name for p in pushed.iterdir()) == ["README.md", artifact.name]
    assert (pushed / artifact.name).read_bytes() == artifact.read_bytes()


def test_the_card_metadata_parses_with_huggingface_hub(artifact, pushed):
    card = ModelCard.load(pushed / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "flexzoo"
    assert data["license"] == "apache-2.0"
    assert data["datasets"] == ["acme/digits-8x8"]
    assert {"flexzoo", "image-classification", "digits"} <= set(data["tags"])
    assert data["pipeline_tag"] == "image-classification"
    assert "base_model" not in data  # built from scratch: no pretrained source


def test_the_model_index_holds_the_metrics_the_artifact_records(artifact, pushed):
    card = ModelCard.load(pushed / "README.md")
    name, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    recorded = read_artifact(artifact).info["training"]["final_validation"]
    assert name == "digits-tiny"
    assert {r.metric_name: r.metric_value for r in results} == {
        "digit accuracy": recorded["digit.accuracy"], "digit macro_f1": recorded["digit.macro_f1"],
        "parity accuracy": recorded["parity.accuracy"], "parity macro_f1": recorded["parity.macro_f1"]}
    assert {(r.metric_name, r.metric_type) for r in results if r.metric_name.startswith("digit")} == {
        ("digit accuracy", "accuracy"), ("digit macro_f1", "f1")}
    assert {(r.task_type, r.dataset_type, r.dataset_split) for r in results} == {
        ("image-classification", "digits", "validation")}


def test_the_card_body_says_how_to_load_it_and_what_it_is(artifact, pushed):
    text = ModelCard.load(pushed / "README.md").text
    info = read_artifact(artifact)
    assert "More information needed" not in text
    for heading in ("How to use it", "Architecture", "Training", "Evaluation", "Exports", "Files and provenance",
                    "Limitations"):
        assert f"\n## {heading}\n" in text
    assert f'model = flexzoo.load("hf-hub:{REPO}")' in text and f"zoo predict hf-hub:{REPO}" in text
    assert f'from = "hf-hub:{REPO}"' in text
    row = "| head `digit` | `builtin:linear` | builtin | `bias = true`, `dropout = 0.0`, `num_classes = 10` | [1, 10] |"
    assert row in text
    assert 'optimizer = "adamw"' in text and "[train.heads.digit]" in text  # the recipe as stored
    assert info.weights_sha256 in text
    file_sha = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert f"| `{artifact.name}` | {artifact.stat().st_size:,} | `{file_sha}` |" in text
    assert "validation samples drawn from the training data itself" in text


def test_an_unstated_licence_is_other_and_said_in_the_limitations(artifact, tmp_path, zoo):
    assert zoo("push", str(artifact), "--to-dir", str(tmp_path / "repo")).returncode == 0
    card = ModelCard.load(tmp_path / "repo" / "README.md")
    assert card.data.license == "other"
    assert "No licence was stated when it was published" in card.text


def test_push_to_dir_refuses_a_folder_holding_other_files(artifact, tmp_path, zoo):
    folder = tmp_path / "repo"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    result = zoo("push", str(artifact), REPO, "--to-dir", str(folder))
    assert result.returncode == 1
    assert "holds files this artifact's repository would not (notes.txt)" in result.stderr
    assert (folder / "notes.txt").read_text() == "mine" and not (folder / "README.md").exists()


def test_push_refuses_a_damaged_artifact(artifact, tmp_path, zoo):
    damaged = tmp_path / artifact.name
    data = bytearray(artifact.read_bytes())
    data[-1] ^= 0xFF  # the last byte of the last tensor
    damaged.write_bytes(bytes(data))
    result = zoo("push", str(damaged), REPO, "--to-dir", str(tmp_path / "repo"))
    assert result.returncode == 1 and "weights hash mismatch" in result.stderr
    assert not (tmp_path / "repo").exists()


def test_push_needs_a_repository_or_a_folder(artifact, zoo):
    result = zoo("push", str(artifact))
    assert result.returncode == 1
    assert "zoo push needs REPO_ID (ORG/NAME), or --to-dir DIR" in result.stderr


def test_push_offline_fails_with_one_message_naming_the_repository(artifact, zoo, hub_cache):
    result = zoo("push", str(artifact), REPO)
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith(f"zoo: error: cannot push to {REPO} (revision main): OfflineModeIsEnabled")
    assert "Traceback" not in result.stderr


# -- hf-hub:ORG/NAME through the Hugging Face cache ---------------------------------------------------------


def test_a_pushed_folder_in_the_cache_loads_identically(artifact, pushed, hub_cache):
    lay_out_cache(hub_cache, REPO, pushed)
    registry = _registry()
    local, shared = flexzoo.load(artifact, registry), flexzoo.load(f"hf-hub:{REPO}", registry)
    batch = torch.from_numpy(np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32))
    with torch.no_grad():
        expected, found = local(batch), shared(batch)
    assert set(found) == {"digit", "parity"}
    for head in expected:
        assert torch.equal(found[head], expected[head])


def test_a_pinned_revision_reads_its_own_snapshot(artifact, pushed, hub_cache, tmp_path, zoo):
    lay_out_cache(hub_cache, REPO, pushed)  # main
    untrained = tmp_path / "untrained"
    result = zoo("push", str(flexzoo.save(flexzoo.build(_manifest(tmp_path, TRAINED.split("[train]")[0]), _registry()),
                                          tmp_path / "built", _registry())), REPO, "--to-dir", str(untrained))
    assert result.returncode == 0, result.stderr
    lay_out_cache(hub_cache, REPO, untrained, commit=OTHER_COMMIT, ref="v0")
    main = zoo.json("inspect", f"hf-hub:{REPO}")
    assert main["weights_sha256"] == read_artifact(artifact).weights_sha256 and "training" in main
    for revision in ("v0", OTHER_COMMIT):
        pinned = zoo.json("inspect", f"hf-hub:{REPO}@{revision}")
        assert "training" not in pinned and OTHER_COMMIT in pinned["path"]


def test_zoo_inspect_and_predict_take_a_hub_reference(artifact, pushed, hub_cache, tmp_path, zoo):
    lay_out_cache(hub_cache, REPO, pushed)
    inspected = zoo("inspect", f"hf-hub:{REPO}")
    assert inspected.returncode == 0, inspected.stderr
    assert inspected.stdout.startswith("digits-tiny 1.2.0")
    assert "verified      weights and metadata match their sha256" in inspected.stdout
    np.save(tmp_path / "x.npy", np.zeros((2, 1, 8, 8), dtype=np.float32))
    shared = zoo.json("predict", f"hf-hub:{REPO}", str(tmp_path / "x.npy"))
    assert shared == zoo.json("predict", str(artifact), str(tmp_path / "x.npy"))


def _manifest(tmp_path: Path, text: str, name: str = "model.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


FROM_HUB = f"""
[model]
name = "digits-finetuned"

[backbone]
from = "hf-hub:{REPO}"

[heads.digit]
use = "linear"
num_classes = 10

[heads.odd]
use = "linear"
num_classes = 2
"""


def test_backbone_from_a_hub_artifact_builds_with_its_weights(artifact, pushed, hub_cache, tmp_path):
    lay_out_cache(hub_cache, REPO, pushed)
    registry = _registry()
    model = flexzoo.build(_manifest(tmp_path, FROM_HUB), registry)
    original = flexzoo.load(artifact, registry).state_dict()
    state = model.state_dict()
    backbone = [name for name in state if name.startswith("backbone.")]
    assert backbone and all(torch.equal(state[name], original[name]) for name in backbone)
    assert all(torch.equal(state[n], original[n]) for n in state if n.startswith("heads.digit."))  # same head kept


def test_a_tampered_cached_file_is_refused_by_its_hash(artifact, pushed, hub_cache, tmp_path, zoo):
    snapshot = lay_out_cache(hub_cache, REPO, pushed)
    cached = snapshot / artifact.name
    data = bytearray(cached.read_bytes())
    data[-4] ^= 0x01  # one bit of one weight
    cached.write_bytes(bytes(data))
    with pytest.raises(FlexzooError, match="weights hash mismatch"):
        flexzoo.load(f"hf-hub:{REPO}", _registry())
    result = zoo("inspect", f"hf-hub:{REPO}")
    assert result.returncode == 1 and "weights hash mismatch" in result.stderr and str(snapshot) in result.stderr
    built = zoo("build", str(_manifest(tmp_path, FROM_HUB)), "-o", str(tmp_path / "out"))
    assert built.returncode == 1 and "backbone.from" in built.stderr and "weights hash mismatch" in built.stderr


def test_a_hub_artifact_named_by_from_is_locked_fetched_and_checked_like_pretrained_weights(
        artifact, pushed, hub_cache, tmp_path, zoo):
    snapshot = lay_out_cache(hub_cache, REPO, pushed)
    manifest = _manifest(tmp_path, FROM_HUB)
    assert zoo("lock", str(manifest)).returncode == 0
    lock = tomllib.loads((tmp_path / "model.toml.lock").read_text())
    [pinned] = [entry for entry in lock["file"] if entry["key"] == "backbone.from"]
    assert (pinned["repository"], pinned["commit"], pinned["file"]) == (REPO, COMMIT, artifact.name)
    assert pinned["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    fetched = zoo("fetch", str(manifest))
    assert fetched.returncode == 0 and str(snapshot / artifact.name) in fetched.stdout
    assert zoo("build", str(manifest), "-o", str(tmp_path / "out")).returncode == 0

    # `main` moves to another commit holding the same files: the lock refuses it, naming both commits
    lay_out_cache(hub_cache, REPO, pushed, commit=OTHER_COMMIT)
    moved = zoo("build", str(manifest), "-o", str(tmp_path / "out"))
    assert moved.returncode == 1, moved.stderr
    assert "backbone.from" in moved.stderr and COMMIT in moved.stderr and OTHER_COMMIT in moved.stderr
    assert "Traceback" not in moved.stderr
    assert zoo("build", str(manifest), "-o", str(tmp_path / "out"), "--no-lock").returncode == 0


def test_an_empty_cache_offline_gives_one_message_naming_the_repository_and_zoo_fetch(hub_cache, tmp_path, zoo):
    expected = (f"`hf-hub:{REPO}` (repository {REPO}, revision main) is not in the Hugging Face cache ({hub_cache}) "
                "and HF_HUB_OFFLINE is set: run `zoo fetch MANIFEST`")
    for args in (["inspect", f"hf-hub:{REPO}"], ["predict", f"hf-hub:{REPO}", "x.npy"]):
        result = zoo(*args)
        assert result.returncode == 1
        assert result.stderr.startswith(f"zoo: error: {expected}") and result.stderr.count("\n") == 1, result.stderr
    built = zoo("build", str(_manifest(tmp_path, FROM_HUB)), "-o", str(tmp_path / "out"))
    assert built.returncode == 1 and "[backbone.from] cannot reuse the backbone: " + expected in built.stderr
    assert "Traceback" not in built.stderr
    with pytest.raises(FlexzooError, match="zoo fetch"):
        flexzoo.load(f"hf-hub:{REPO}@v9", _registry())


def test_a_repository_of_plain_weights_is_not_an_artifact(hub_cache, tmp_path, zoo):
    from safetensors.numpy import save_file

    plain = tmp_path / "plain"
    plain.mkdir()
    save_file({"conv.weight": np.zeros((2, 2), dtype=np.float32)}, str(plain / "model.safetensors"))
    lay_out_cache(hub_cache, "timm/tiny", plain)
    result = zoo("inspect", "hf-hub:timm/tiny")
    assert result.returncode == 1
    assert ("holds no flexzoo artifact: only plain safetensors files (model.safetensors): weights to use as "
            '`pretrained = "hf-hub:timm/tiny"`') in result.stderr


def test_a_malformed_reference_is_refused_before_any_download(hub_cache):
    with pytest.raises(FlexzooError, match="the repository must be written ORG/NAME"):
        flexzoo.load("hf-hub:no-slash", _registry())
    with pytest.raises(ManifestError, match=r"backbone\.from"):
        flexzoo.build(_manifest(hub_cache.parent, FROM_HUB.replace(REPO, "a/../b")), _registry())


def test_push_json_lists_the_files_with_their_hashes(artifact, tmp_path, zoo):
    listed = zoo.json("push", str(artifact), REPO, "--to-dir", str(tmp_path / "repo"))
    assert [f["path"] for f in listed["files"]] == [artifact.name]
    assert listed["files"][0]["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert listed["folder"] == str(tmp_path / "repo") and (tmp_path / "repo" / "README.md").is_file()


def test_a_model_built_from_a_hub_artifact_names_it_as_base_model(artifact, pushed, hub_cache, tmp_path, zoo):
    lay_out_cache(hub_cache, REPO, pushed)
    registry = _registry()
    fine_tuned = flexzoo.save(flexzoo.build(_manifest(tmp_path, FROM_HUB), registry), tmp_path / "out", registry)
    result = zoo("push", str(fine_tuned), "acme/digits-finetuned", "--to-dir", str(tmp_path / "fine-tuned"))
    assert result.returncode == 0, result.stderr
    card = ModelCard.load(tmp_path / "fine-tuned" / "README.md")
    assert card.data.base_model == REPO
    assert f"It starts from other published weights (`{REPO}`)" in card.text
    assert "The weights were never trained" in card.text and "model-index" not in card.content


COMPRESSED_EXPORTED = """
[model]
name = "digits-pruned"
seed = 0
input_shape = [1, 8, 8]

[backbone]
use = "cnn"
channels = [4, 8]

[heads.digit]
use = "linear"
num_classes = 10

[[compress]]
use = "prune_l1"
amount = 0.5

[export]
formats = ["onnx"]
"""


def test_push_publishes_the_exports_beside_the_artifact_and_describes_the_compression(tmp_path, zoo):
    manifest = _manifest(tmp_path, COMPRESSED_EXPORTED)
    built = zoo("build", str(manifest), "-o", str(tmp_path / "out"), "--report", "none")
    assert built.returncode == 0, built.stderr
    result = zoo("push", str(tmp_path / "out" / "digits-pruned.safetensors"), "acme/digits-pruned",
                 "--to-dir", str(tmp_path / "repo"))
    assert result.returncode == 0, result.stderr
    repo = tmp_path / "repo"
    assert sorted(p.name for p in repo.iterdir()) == ["README.md", "digits-pruned.onnx", "digits-pruned.safetensors"]
    assert (repo / "digits-pruned.onnx").read_bytes() == (tmp_path / "out" / "digits-pruned.onnx").read_bytes()
    text = ModelCard.load(repo / "README.md").text
    assert "1. `compress:prune_l1`, plugin compress (flexzoo-plugin-compress " in text and "`amount = 0.5`" in text
    assert "Published here: `digits-pruned.onnx`." in text
    assert "compressed after the metrics were measured" not in text  # untrained: no metrics to speak of
    assert "'flexzoo-plugin-compress==" in text  # the install line pins the plugin it needs


def test_inspecting_a_hub_artifact_imports_no_torch(pushed, hub_cache, zoo):
    lay_out_cache(hub_cache, REPO, pushed)
    script = ("import sys\nfrom flexzoo.cli import main\nstatus = main(['inspect', 'hf-hub:" + REPO + "'])\n"
              "print('HEAVY=' + ','.join(m for m in ('torch', 'numpy', 'safetensors') if m in sys.modules))\n"
              "sys.exit(status)\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=zoo.env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "HEAVY="


def test_a_dockerfile_for_a_hub_artifact_pulls_the_commit_served_here(artifact, pushed, hub_cache, zoo):
    lay_out_cache(hub_cache, REPO, pushed)
    result = zoo("serve", "--print-dockerfile", f"hf-hub:{REPO}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    pinned = f"hf-hub:{REPO}@{COMMIT}"
    assert any(line.strip().startswith('"flexzoo[serve,hub]==') for line in lines)
    assert f"RUN zoo inspect {pinned}" in lines  # pulled and verified when the image is built
    assert lines.index("ENV HF_HUB_OFFLINE=1") > lines.index(f"RUN zoo inspect {pinned}")
    assert f'CMD ["zoo", "serve", "{pinned}", "--host", "0.0.0.0", "--port", "8000", "--model-dir", "/models"]' in lines

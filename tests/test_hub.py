"""Pretrained references, MANIFEST.lock, `zoo fetch` and `zoo cache verify`, on caches the tests lay out (no network).

Every test sets ``HF_HUB_OFFLINE=1`` and points ``HF_HUB_CACHE`` and ``TORCH_HOME`` at its own folder,
where it writes real weights made from the real architectures, in the layout the libraries use.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from hub_cache import commit_id, lay_out_repo, repo_folder, safetensors_bytes, timm_repo_files
from safetensors.torch import load_file

import flexzoo
from flexzoo.cli import main
from flexzoo.testing import read_artifact, registry_of

pytestmark = pytest.mark.slow

TIMM_REPO = "timm/resnet10t.c3_in1k"  # timm's default weights of resnet10t


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty Hugging Face and torch.hub caches of this test, offline."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def timm_files():
    return timm_repo_files("resnet10t")


def write_manifest(folder: Path, backbone: str, input_shape: str = "[3, 32, 32]", name: str = "model.toml") -> Path:
    path = folder / name
    path.write_text(f'[model]\nname = "tiny"\ninput_shape = {input_shape}\n\n[backbone]\n'
                    f'{textwrap.dedent(backbone).strip()}\n\n[heads.out]\nuse = "linear"\nnum_classes = 3\n')
    return path


def zoo(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_backbone_equals(artifact: Path, state: dict[str, torch.Tensor], skip: str) -> None:
    stored = {k.removeprefix("backbone."): v for k, v in load_file(artifact).items() if k.startswith("backbone.")}
    expected = {k: v for k, v in state.items() if not k.startswith(skip)}
    assert set(stored) == set(expected)
    assert all(torch.equal(stored[k], expected[k]) for k in expected)


# -- each plugin's references -------------------------------------------------------------------


def test_timm_by_hub_id_builds_the_cached_tensors_and_the_artifact_records_commit_and_sha256(caches, capsys,
                                                                                            timm_files):
    files, state = timm_files
    commit = lay_out_repo(caches / "hf", TIMM_REPO, files)
    manifest = write_manifest(caches, f'use = "timm:resnet10t"\npretrained = "hf-hub:{TIMM_REPO}"')
    status, out, _ = zoo(capsys, "build", str(manifest), "-o", "out")
    assert status == 0
    assert_backbone_equals(caches / "out" / "tiny.safetensors", state, "fc.")
    source, = read_artifact(caches / "out" / "tiny.safetensors").info["pretrained"]
    weights = next(f for f in source["files"] if f["file"] == "model.safetensors")
    assert weights["repository"] == TIMM_REPO and weights["commit"] == commit
    assert weights["sha256"] == hashlib.sha256(files["model.safetensors"]).hexdigest()
    assert weights["size"] == len(files["model.safetensors"])
    declared = json.loads(files["config.json"])["pretrained_cfg"]  # from the repository's config, not guessed
    assert source["preprocessing"]["mean"] == declared["mean"]
    assert source["preprocessing"]["input_size"] == [3, 160, 160]
    assert source["preprocessing"]["label_names"][:2] == ["class 0", "class 1"]
    assert f"hf-hub:{TIMM_REPO}" in out and commit[:12] in out


def test_timm_pretrained_true_takes_timms_default_weights_and_their_declared_preprocessing(caches, timm_files):
    files, state = timm_files
    lay_out_repo(caches / "hf", TIMM_REPO, {"model.safetensors": files["model.safetensors"]})
    manifest = write_manifest(caches, 'use = "timm:resnet10t"\npretrained = true')
    model = flexzoo.build(manifest)
    expected = {k: v for k, v in state.items() if not k.startswith("fc.")}
    assert all(torch.equal(model.backbone.state_dict()[k], v) for k, v in expected.items())
    artifact = flexzoo.save(model, caches / "out")
    source, = read_artifact(artifact).info["pretrained"]
    assert source["reference"] == "true" and source["files"][0]["repository"] == TIMM_REPO
    assert source["preprocessing"]["input_size"] == [3, 176, 176]  # timm's pretrained_cfg of c3_in1k
    assert source["preprocessing"]["label_names"][0].startswith("tench")  # timm's ImageNet class table


def test_a_timm_tag_that_does_not_exist_is_refused_with_the_tags_there_are(caches):
    manifest = write_manifest(caches, 'use = "timm:resnet10t"\npretrained = "b9_in1k"')
    with pytest.raises(flexzoo.ManifestError, match=r"(?s)\[backbone.pretrained\].*no weights 'b9_in1k'.*c3_in1k"):
        flexzoo.build(manifest)


def test_torchvision_by_weights_name_loads_the_torch_hub_checkpoint(caches):
    import torchvision

    weights = torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1
    torch.manual_seed(3)
    state = torchvision.models.mobilenet_v3_small().state_dict()
    checkpoint = caches / "torch" / "hub" / "checkpoints" / weights.url.rsplit("/", 1)[1]
    checkpoint.parent.mkdir(parents=True)
    torch.save(state, checkpoint)
    manifest = write_manifest(caches, 'use = "torchvision:mobilenet_v3_small"\npretrained = "IMAGENET1K_V1"')
    model = flexzoo.build(manifest)
    artifact = flexzoo.save(model, caches / "out")
    assert_backbone_equals(artifact, state, "classifier.3.")
    source, = read_artifact(artifact).info["pretrained"]
    assert source["files"][0]["url"] == weights.url
    assert source["files"][0]["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert source["preprocessing"]["label_names"] == weights.meta["categories"]
    assert source["preprocessing"]["input_size"] == [3, 224, 224]


def test_torchvision_refuses_an_unknown_weights_name_naming_those_there_are(caches):
    manifest = write_manifest(caches, 'use = "torchvision:mobilenet_v3_small"\npretrained = "IMAGENET1K_V9"')
    with pytest.raises(flexzoo.ManifestError, match=r"(?s)no weights 'IMAGENET1K_V9'.*IMAGENET1K_V1"):
        flexzoo.build(manifest)


@pytest.mark.parametrize("written", ["acme/tiny-bert", "hf-hub:acme/tiny-bert"])
def test_transformers_by_repo_id_loads_the_cached_repository(caches, written, tmp_path_factory):
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.for_model("bert", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                  intermediate_size=32, vocab_size=64, id2label={0: "neg", 1: "pos"})
    torch.manual_seed(5)
    saved = tmp_path_factory.mktemp("saved")
    AutoModel.from_config(config).save_pretrained(saved)
    files = {name: (saved / name).read_bytes() for name in ("config.json", "model.safetensors")}
    lay_out_repo(caches / "hf", "acme/tiny-bert", files)
    manifest = write_manifest(caches, f'use = "transformers:bert"\npretrained = "{written}"\nhidden_size = 16\n'
                              "num_hidden_layers = 2\nnum_attention_heads = 2\nintermediate_size = 32\n"
                              "vocab_size = 64", input_shape="[12]")
    model = flexzoo.build(manifest)
    state = load_file(saved / "model.safetensors")
    ours = model.backbone.model.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in state.items() if k in ours)
    assert len([k for k in state if k in ours]) >= len(ours) - 1
    source, = read_artifact(flexzoo.save(model, caches / "out")).info["pretrained"]
    assert source["preprocessing"]["label_names"] == ["neg", "pos"]
    assert {f["file"] for f in source["files"]} == {"config.json", "model.safetensors"}


# -- offline ------------------------------------------------------------------------------------


def test_offline_with_an_empty_cache_is_one_message_naming_zoo_fetch(caches):
    manifest = write_manifest(caches, f'use = "timm:resnet10t"\npretrained = "hf-hub:{TIMM_REPO}"')
    result = subprocess.run([sys.executable, "-m", "flexzoo", "build", str(manifest)], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and result.stderr.count("zoo: error:") == 1
    assert f"repository {TIMM_REPO} (revision main)" in result.stderr and "model.safetensors" in result.stderr
    assert "HF_HUB_OFFLINE=1" in result.stderr and f"`zoo fetch {manifest}`" in result.stderr


# -- the lock -----------------------------------------------------------------------------------


@pytest.fixture
def locked(caches, capsys, timm_files):
    """A manifest on a cached timm repository, and its lock."""
    files, _ = timm_files
    lay_out_repo(caches / "hf", TIMM_REPO, files)
    manifest = write_manifest(caches, f'use = "timm:resnet10t"\npretrained = "hf-hub:{TIMM_REPO}"')
    assert zoo(capsys, "lock", str(manifest))[0] == 0
    return manifest


def test_lock_pins_commit_and_sha256_in_stable_toml_and_the_build_passes(locked, caches, capsys, timm_files):
    text = (caches / "model.toml.lock").read_text()
    commit = (repo_folder(caches / "hf", TIMM_REPO) / "refs" / "main").read_text()
    config_sha256 = hashlib.sha256(timm_files[0]["config.json"]).hexdigest()
    assert f'commit = "{commit}"' in text and f'sha256 = "{config_sha256}"' in text
    assert 'key = "backbone.pretrained"' in text and '[plugins.timm]' in text and "timm = " in text
    assert zoo(capsys, "lock", str(locked))[0] == 0
    assert (caches / "model.toml.lock").read_text() == text  # locking again changes nothing
    assert zoo(capsys, "build", str(locked), "-o", "out")[0] == 0


def test_a_changed_cached_file_is_refused_naming_the_key_and_both_hashes(locked, caches, capsys, timm_files):
    files, state = timm_files
    expected = hashlib.sha256(files["model.safetensors"]).hexdigest()
    snapshot = next((repo_folder(caches / "hf", TIMM_REPO) / "snapshots").iterdir()) / "model.safetensors"
    changed = safetensors_bytes({k: v + 1 if v.is_floating_point() else v for k, v in state.items()})
    snapshot.resolve().write_bytes(changed)
    status, _, err = zoo(capsys, "build", str(locked), "-o", "out")
    found = hashlib.sha256(changed).hexdigest()
    assert status == 1 and "[backbone.pretrained]" in err
    assert f"sha256 expected {expected}, found {found}" in err and "zoo lock --upgrade" in err
    assert not (caches / "out" / "tiny.safetensors").exists()
    assert zoo(capsys, "build", str(locked), "-o", "out", "--no-lock")[0] == 0
    status, out, err = zoo(capsys, "cache", "verify", str(caches / "model.toml.lock"))
    assert status == 1 and "changed" in out and expected in out


def test_a_moved_revision_is_refused_naming_both_commits(locked, caches, capsys, timm_files):
    files, _ = timm_files
    pinned = (repo_folder(caches / "hf", TIMM_REPO) / "refs" / "main").read_text()
    moved = lay_out_repo(caches / "hf", TIMM_REPO, files, commit=commit_id("a later commit"))
    status, _, err = zoo(capsys, "build", str(locked), "-o", "out")
    assert status == 1 and "[backbone.pretrained]" in err
    assert f"commit expected {pinned}, found {moved}" in err
    assert zoo(capsys, "build", str(locked), "-o", "out", "--no-lock")[0] == 0
    assert zoo(capsys, "lock", "--upgrade", str(locked))[0] == 0
    assert zoo(capsys, "build", str(locked), "-o", "out")[0] == 0


def test_a_local_pretrained_file_is_locked_by_path_and_a_change_refused(caches, capsys, timm_files):
    files, _ = timm_files
    (caches / "weights.safetensors").write_bytes(files["model.safetensors"])
    manifest = write_manifest(caches, 'use = "timm:resnet10t"\npretrained = "weights.safetensors"')
    assert zoo(capsys, "lock", str(manifest))[0] == 0
    assert 'path = "weights.safetensors"' in (caches / "model.toml.lock").read_text()
    assert zoo(capsys, "build", str(manifest), "-o", "out")[0] == 0
    with open(caches / "weights.safetensors", "ab") as stream:
        stream.write(b" ")
    status, _, err = zoo(capsys, "build", str(manifest), "-o", "out")
    assert status == 1 and "[backbone.pretrained]" in err and "sha256 expected" in err


def test_fetch_prints_the_cache_paths_and_total_and_cache_verify_rehashes(locked, caches, capsys):
    status, out, _ = zoo(capsys, "fetch", str(locked))
    assert status == 0
    assert str(caches / "hf" / "models--timm--resnet10t.c3_in1k" / "snapshots") in out
    assert "2 file(s)" in out and "MiB in the caches" in out
    status, out, _ = zoo(capsys, "cache", "verify", str(locked))
    assert status == 0 and "2 of 2 file(s) verified" in out
    status, out, _ = zoo(capsys, "cache", "verify")  # every blob of the cache, by its sha256 name
    assert status == 0 and "2 of 2 file(s) verified" in out


# -- one hook for every plugin --------------------------------------------------------------------


class ThirdParty:
    """A plugin of its own: a linear backbone whose weights it declares on the Hub, and nothing else."""

    @staticmethod
    @flexzoo.hookimpl
    def flexzoo_backbones():
        from flexzoo.plugin import Component

        def linear(input_shape: tuple[int, ...], pretrained: str | None = None):
            from torch import nn

            from flexzoo.plugin.helpers import fetch_pretrained, load_weights_file

            model = nn.Sequential(nn.Flatten(), nn.Linear(input_shape[0], 4))
            model.num_features = 4
            if pretrained is not None:
                load_weights_file(model, fetch_pretrained(ThirdParty.source(pretrained)))
            return model

        return [Component("linear_features", linear)]

    @staticmethod
    def source(reference):
        from flexzoo.plugin import PretrainedSource, WeightsFile
        from flexzoo.plugin.helpers import HubReference

        return PretrainedSource(reference, (WeightsFile.on_hub(HubReference.parse(reference), "w.safetensors"),))

    @staticmethod
    @flexzoo.hookimpl
    def flexzoo_pretrained_source(reference):
        return ThirdParty.source(reference)


def test_a_third_party_plugin_gets_lock_fetch_and_verify_from_its_hook_alone(caches):
    from flexzoo.hub.resolve import lock_manifest
    from flexzoo.manifest.validation import load_manifest
    from flexzoo.pipeline.stages import build_artifact

    registry = registry_of(acme=ThirdParty)
    state = {"1.weight": torch.randn(4, 6), "1.bias": torch.randn(4)}
    lay_out_repo(caches / "hf", "acme/linear", {"w.safetensors": safetensors_bytes(state)})
    manifest = write_manifest(caches, 'use = "acme:linear_features"\npretrained = "hf-hub:acme/linear"',
                              input_shape="[6]")
    lock = lock_manifest(load_manifest(manifest, registry), registry)
    assert [(e.repository, e.file) for e in lock.files] == [("acme/linear", "w.safetensors")]
    lock.write(caches / "model.toml.lock")
    result = build_artifact(load_manifest(manifest, registry), caches / "out", registry, report="none")
    assert torch.equal(result.model.backbone[1].weight, state["1.weight"])
    assert read_artifact(result.artifact).info["pretrained"][0]["files"][0]["sha256"] == lock.files[0].sha256

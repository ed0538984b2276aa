"""``zoo explain`` and ``Predictor.explain``: attributions that add up, that the randomization test checks, and that
Grad-CAM takes from the backbone's declared feature maps; bad requests are one message each."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import flexzoo
from conftest import TINY_MANIFEST, CliResult, zoo_in_process
from flexzoo import Predictor
from flexzoo.explain.layers import feature_map_layers
from flexzoo.host.registry import default_registry
from flexzoo.testing import read_artifact


@pytest.fixture(scope="module")
def trained(trained_digits):
    """A cnn trained on scikit-learn's digits (about 97% accuracy, shared by the session), and 64 digits in [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return trained_digits, (digits.images[-64:] / 16.0).astype(np.float32)[:, None]


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("explain-tiny")
    (tmp / "tiny.toml").write_text(TINY_MANIFEST)
    return flexzoo.save(flexzoo.build(tmp / "tiny.toml"), tmp, export=False)


def zoo(*args: str) -> CliResult:
    """``zoo explain ARGS`` through the CLI's own entry point, in this process."""
    return zoo_in_process("explain", *args)


@pytest.mark.slow
def test_integrated_gradients_add_up_to_the_score_change_at_the_default_steps(trained):
    artifact, x = trained
    explanation = Predictor.load(artifact).explain(x, "integrated_gradients")
    gap = explanation.gap_summary()
    assert explanation.settings == {"steps": 50, "baseline": "zeros", "rule": "gausslegendre"}
    assert gap["batch"] <= 1e-2 and gap["median"] <= 1e-2
    assert explanation.attributions.shape == x.shape


@pytest.mark.slow
def test_integrated_gradients_equal_captum_called_by_hand(trained):
    from captum.attr import IntegratedGradients

    artifact, x = trained
    predictor = Predictor.load(artifact)
    explanation = predictor.explain(x[:8], "integrated-gradients", target=3)
    inputs = torch.from_numpy(x[:8])
    by_hand = IntegratedGradients(lambda t: predictor.model(t)["digit"]).attribute(
        inputs, baselines=torch.zeros_like(inputs), target=3, n_steps=50)
    np.testing.assert_allclose(explanation.attributions, by_hand.numpy(), rtol=1e-5, atol=1e-6)
    assert explanation.labels == ["3"] * 8


@pytest.mark.slow
def test_the_randomization_test_passes_saliency_and_grad_cam_and_fails_integrated_gradients(trained):
    artifact, x = trained
    predictor = Predictor.load(artifact)
    verdicts = {m: predictor.explain(x, m, sanity=True).sanity for m in ("grad_cam", "saliency",
                                                                           "integrated_gradients")}
    assert verdicts["grad_cam"]["randomized"] == ["heads.digit", "backbone.stages.1"]
    for method in ("grad_cam", "saliency"):
        assert verdicts[method]["passed"] and verdicts[method]["spearman"]["mean"] < 0.5, verdicts[method]
    # with a zero baseline, IG's map follows the input's strokes whatever the weights (Adebayo et al. 2018)
    assert not verdicts["integrated_gradients"]["passed"]


def test_grad_cam_uses_the_module_that_makes_the_backbones_last_declared_feature_map(untrained):
    model = flexzoo.load(untrained)
    manifest = read_artifact(untrained, verify_weights=False).manifest
    layers = feature_map_layers(model, manifest, (1, 8, 8), default_registry())
    assert layers == {"stage0": "backbone.stages.0", "stage1": "backbone.stages.1"}
    captured = {}
    model.get_submodule("backbone.stages.1").register_forward_hook(lambda m, a, out: captured.update(out=out))
    model(torch.zeros(2, 1, 8, 8))
    assert captured["out"].shape == (2, 8, 4, 4)  # stage1: 8 channels at stride 2, as declared


def test_zoo_explain_writes_overlays_raw_attributions_and_a_summary(untrained, tmp_path):
    x = np.random.default_rng(0).random((2, 1, 8, 8), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    result = zoo(str(untrained), str(tmp_path / "x.npy"), "--method", "integrated-gradients,grad-cam",
                 "--head", "parity", "--target", "1", "--set", "steps=20", "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "out" / "explanations.json").read_text())
    methods = {m["method"]: m for m in summary["explanations"]}
    assert methods["integrated_gradients"]["settings"] == {"steps": 20, "baseline": "zeros", "rule": "gausslegendre"}
    assert methods["grad_cam"]["layer"] == "backbone.stages.1"
    for method in methods.values():
        assert [s["target"] for s in method["samples"]] == ["1", "1"]
        for sample in method["samples"]:
            raw = np.load(tmp_path / "out" / sample["files"]["attributions"])
            assert raw.shape in ((1, 8, 8),) and np.isfinite(raw).all()
            assert (tmp_path / "out" / sample["files"]["overlay"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "completeness_gap" in methods["integrated_gradients"]


@pytest.mark.parametrize(("args", "message"), [
    (["--head", "colour"], "unknown head `colour`; the model's heads: digit, parity"),
    (["--target", "eleven"], "head `digit` has no label `eleven`"),
    (["--method", "lime"], "unknown explainer `lime`"),
    (["--set", "stepz=3"], "has no setting `stepz`"),
    (["--runtime", "onnx"], "attributions need gradients"),
    (["--layer", "stage7", "--method", "grad-cam"], "the backbone declares no feature map `stage7`"),
])
def test_bad_requests_are_one_message_and_exit_1(untrained, tmp_path, args, message):
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), dtype=np.float32))
    result = zoo(str(untrained), str(tmp_path / "x.npy"), *args, "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_input_of_the_wrong_shape_is_one_message(untrained, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((1, 3, 8, 8), dtype=np.float32))
    result = zoo(str(untrained), str(tmp_path / "x.npy"))
    assert result.returncode == 1 and "expected shape [1, 8, 8]" in result.stderr, result.stderr


def test_grad_cam_on_a_backbone_without_feature_maps_is_refused(tmp_path):
    (tmp_path / "mlp.toml").write_text(TINY_MANIFEST.replace('use = "cnn"\nchannels = [4, 8]', 'use = "mlp"'))
    artifact = flexzoo.save(flexzoo.build(tmp_path / "mlp.toml"), tmp_path, export=False)
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), dtype=np.float32))
    result = zoo(str(artifact), str(tmp_path / "x.npy"), "--method", "grad-cam")
    assert result.returncode == 1, result.stderr
    assert "grad_cam needs the backbone's declared feature maps, and this backbone declares none" in result.stderr


def test_an_exported_model_file_is_refused(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"")
    np.save(tmp_path / "x.npy", np.zeros((1, 1, 8, 8), dtype=np.float32))
    result = zoo(str(tmp_path / "model.onnx"), str(tmp_path / "x.npy"))
    assert result.returncode == 1 and "attributions need gradients" in result.stderr


def test_listing_explainers_imports_neither_torch_nor_captum():
    code = ("import sys, flexzoo; from flexzoo.host.registry import default_registry; "
            "print(len(default_registry().components('explainer')), 'torch' in sys.modules, 'captum' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["5", "False", "False"]

"""``zoo evaluate``: accuracy clean, per corruption and severity, per epsilon under FGSM and PGD (torchattacks, in
pixel space), the mCE against a reference, the record in the card; each bad request is one message, exit 1."""

from __future__ import annotations

import json

import pytest
import torch

import flexzoo
from conftest import TINY, CliResult, zoo_in_process
from flexzoo.cli import main
from flexzoo.robustness.attacks import PixelClassifier, adversarial_examples
from flexzoo.robustness.evaluation import evaluate_robustness
from flexzoo.testing import manifest, read_artifact

#: A model whose input is a table row, not an image.
TABLE = manifest(name="flat", input_shape=[64], backbone={"use": "mlp", "widths": [16]},
                 heads={"digit": {"use": "linear", "num_classes": 10}})


@pytest.fixture(scope="module")
def trained(trained_digits, tmp_path_factory):
    """The session's trained digits CNN, copied: evaluating with ``--record`` writes to it."""
    copy = tmp_path_factory.mktemp("evaluate") / trained_digits.name
    copy.write_bytes(trained_digits.read_bytes())
    return copy


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate-built")
    TINY.write(tmp / "tiny.toml")
    TABLE.write(tmp / "flat.toml")
    return {name: flexzoo.save(flexzoo.build(tmp / f"{name}.toml"), tmp / name, export=False)
            for name in ("tiny", "flat")}


def zoo(*args: str) -> CliResult:
    """``zoo evaluate ARGS`` through the CLI's own entry point, in this process."""
    return zoo_in_process("evaluate", *args)


@pytest.mark.slow
def test_evaluate_measures_clean_corrupted_and_attacked_accuracy_and_records_it(trained, tmp_path):
    reference = tmp_path / "reference.safetensors"
    reference.write_bytes(trained.read_bytes())
    result = zoo(str(trained), "--data", "digits", "--corruptions", "gaussian_noise,contrast", "--severities", "1,5",
                 "--attack", "fgsm,pgd", "--epsilon", "0,0.2", "--samples", "120", "--reference", str(reference),
                 "--record", "--json")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)
    assert (results["split"], results["samples"], results["head"]) == ("validation", 120, "digit")
    assert results["clean"] > 0.8
    noise = results["corruptions"]["gaussian_noise"]
    assert set(noise) == {"1", "5"} and noise["5"] < results["clean"]
    for method in ("fgsm", "pgd"):
        epsilons = results["attacks"][method]["epsilons"]
        assert epsilons["0"] == results["clean"]  # no budget, no change
        assert epsilons["0.2"] < results["clean"] - 0.2
    assert results["attacks"]["pgd"]["epsilons"]["0.2"] <= results["attacks"]["fgsm"]["epsilons"]["0.2"]
    assert results["mce"]["mce"] == pytest.approx(1.0)  # the same model as its reference
    recorded = read_artifact(trained)  # verified: the weights are unchanged, the metadata hash renewed
    assert recorded.card["robustness"] == results
    assert recorded.weights_sha256 == read_artifact(reference).weights_sha256
    report = tmp_path / "report.html"
    assert main(["report", str(trained), "-o", str(report)]) == 0
    page = report.read_text()
    assert "<h2>Robustness</h2>" in page and "gaussian_noise" in page and "PGD-10" in page


@pytest.mark.slow
def test_the_table_names_each_corruption_severity_and_epsilon(trained):
    result = zoo(str(trained), "--corruptions", "pixelate", "--severities", "2-3", "--attack", "pgd", "--epsilon",
                 "0.1", "--steps", "3", "--samples", "40")
    assert result.returncode == 0, result.stderr
    assert "CORRUPTION  S2" in result.stdout and "pixelate" in result.stdout
    assert "PGD-3   0.1" in result.stdout and "clean accuracy" in result.stdout


def test_pgd_steps_far_enough_to_reach_the_edge_of_the_ball_and_records_its_step():
    # a linear score: the loss rises the same way everywhere, so a strong enough PGD ends on the ball's edge from any
    # random start (torchattacks' default step, 2/255, walks 0.078 in 10 steps: from a start near -0.1 it cannot)
    classifier = PixelClassifier(torch.nn.Sequential(torch.nn.Flatten(), _Sum()), "digit")
    pixels = torch.full((64, 1, 4, 4), 0.5)
    torch.manual_seed(0)
    adversarial = adversarial_examples(classifier, pixels, torch.zeros(64, dtype=torch.long), "pgd", 0.1, steps=10)
    torch.testing.assert_close(adversarial, torch.full_like(pixels, 0.4))
    results = evaluate_robustness(classifier, pixels[:4], torch.zeros(4, dtype=torch.long), attacks=["pgd"],
                                  epsilons=[0.05, 0.1], steps=10)
    assert results["attacks"]["pgd"]["step_sizes"] == {"0.05": pytest.approx(0.0125), "0.1": pytest.approx(0.025)}
    assert results["attacks"]["pgd"]["epsilons"] == {"0.05": 1.0, "0.1": 1.0}  # sum 16 x 0.4 still above -6.4


class _Sum(torch.nn.Module):
    """Two classes: the pixels' sum and its negative."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))  # torchattacks finds the device from a parameter

    def forward(self, x):
        return {"digit": torch.stack([x.sum(1), -x.sum(1)], 1) * self.scale}


def test_the_attack_sees_pixels_and_the_model_sees_them_normalized():
    seen = []

    class Probe(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            seen.append(x.detach())
            return {"digit": torch.cat([x.flatten(1).sum(1, keepdim=True), -x.flatten(1).sum(1, keepdim=True)], 1)
                    * self.scale}

    classifier = PixelClassifier(Probe(), "digit", mean=[0.5], std=[0.25])
    pixels = torch.full((2, 1, 2, 2), 0.5)
    adversarial = adversarial_examples(classifier, pixels, torch.tensor([0, 0]), "fgsm", 0.1)
    assert torch.allclose(seen[0], torch.zeros(2, 1, 2, 2))  # (0.5 - 0.5) / 0.25
    assert torch.allclose(adversarial, torch.full((2, 1, 2, 2), 0.4))  # class 0 is the sum: pushed down by eps


@pytest.mark.parametrize(("args", "message"), [
    (["--corruptions", "gausian_noise"], "unknown corruption `gausian_noise`; did you mean"),
    (["--corruptions", "snow,rain"], "unknown corruption `rain`"),
    (["--corruptions", "fog", "--severities", "0-6"], "severities go from 1 to 5"),
    (["--corruptions", "fog", "--severities", "x"], "--severities takes a range"),
    (["--attack", "pgd", "--epsilon", "-0.1"], "an epsilon is a change of pixel values in [0, 1]"),
    (["--attack", "pgd"], "--attack needs --epsilon"),
    (["--epsilon", "0.1"], "--epsilon needs --attack"),
    (["--attack", "cw", "--epsilon", "0.1"], "unknown attack `cw`"),
    (["--runtime", "onnx", "--attack", "fgsm", "--epsilon", "0.1"], "the `onnx` runtime runs an exported graph"),
    (["--head", "digits"], "the model has no head `digits`; did you mean"),
    (["--head", "parity", "--data", "digits"], None),
    (["--reference", "x.safetensors"], "--reference gives the mean corruption error: it needs --corruptions"),
])
def test_a_bad_request_is_one_message_and_exit_1(built, args, message):
    result = zoo(str(built["tiny"]), *args)
    if message is None:  # a good request, for contrast: the untrained model measured on the digits
        assert result.returncode == 0, result.stderr
        return
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("zoo: error: ") and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corruptions_of_a_model_whose_input_is_no_image_are_refused(built):
    result = zoo(str(built["flat"]), "--data", "digits", "--corruptions", "fog")
    assert result.returncode == 1
    assert "corruptions and attacks are defined on images [1 or 3 channels, height, width]" in result.stderr
    assert "Traceback" not in result.stderr


def test_without_data_recorded_or_given_evaluate_asks_for_it(built):
    result = zoo(str(built["tiny"]))
    assert result.returncode == 1 and "give --data SOURCE" in result.stderr, result.stderr

"""A head from an outside plugin brings its own task: its loss, its metric and its decoding, with no change to core.

The plugin is a real distribution on the path with an entry point; its keypoint head declares a task
(``HeadTask``) with the loss ``wing`` and the metric ``pck`` (the share of points within 0.1 of the truth,
computed from sums that ranks add), and answers ``zoo predict`` with named points.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.processes  # runs `zoo` in subprocesses

KEYPOINTS = '''
from flexzoo.plugin import Component, HeadTask, ParameterError, hookimpl

FLEXZOO_PLUGIN_API = 2
NEAR = 0.1  # a point within this distance of the truth counts as correct


def keypoints(in_features: int, points: int = 2):
    """Keypoints: (x, y) in [0, 1] for each of `points` points.

    Args:
        in_features: feature size (from the backbone).
        points: how many points.
    """
    from torch import nn

    return nn.Sequential(nn.Linear(in_features, points * 2), nn.Sigmoid(), nn.Unflatten(1, (points, 2)))


class PointScore:
    sums_size = 2  # points within NEAR, summed distance: both add over batches and ranks

    def __init__(self, head, points):
        self.head, self.points = head, points

    def target_of(self, targets, like):
        import torch

        return targets[self.head.target].to(like.device, torch.float32)

    def loss(self, output, target, denominator, weight=1.0):
        import torch

        error = (output.float() - target).abs()
        wing = torch.where(error < 0.05, 0.05 * torch.log1p(error / 0.05), error - 0.05 + 0.05 * 0.6931)
        return wing.flatten(1).sum(dim=1).sum() * (weight / denominator)

    def sums(self, output, target):
        import torch

        distance = (output.detach().float() - target).norm(dim=-1)
        return torch.stack([(distance < NEAR).sum().double(), distance.sum().double()])

    def metrics(self, sums, count):
        values = {"pck": float(sums[0]) / max(count * self.points, 1),
                  "distance": float(sums[1]) / max(count * self.points, 1)}
        return {name: values[name] for name in self.head.metrics}

    def reset(self):
        pass


def score(head, output, target, input_size):
    if tuple(target.shape[1:]) != tuple(output.shape[1:]):
        raise ParameterError("target", f"target `{head.target}` must hold {list(output.shape[1:])} per sample "
                             f"(x, y per point), got {list(target.shape[1:])}", "give (points, 2) per sample")
    return PointScore(head, output.shape[1])


def decode(output, head, top_k, geometries):
    return [{"points": [{"x": round(float(x), 4), "y": round(float(y), 4)} for x, y in sample]} for sample in output]


KEYPOINT_TASK = HeadTask(name="keypoints", losses=("wing",), metrics={"pck": "max", "distance": "min"},
                         score=score, decode=decode, default_metrics=("pck",))


@hookimpl
def flexzoo_heads():
    return [Component("keypoints", keypoints, tasks=(KEYPOINT_TASK,))]
'''

MANIFEST = """
[model]
name = "points"
seed = 0
input_shape = [4]

[backbone]
use = "mlp"
widths = [32]

[heads.where]
use = "keypoints"
points = 2

[train]
data = "points.npz"
inputs = "x"
epochs = 12
batch_size = 32
lr = 0.02
{head}
"""


@pytest.fixture
def keypoints(zoo, tmp_path):
    zoo.install("flexzoo-plugin-keypoints", "1.0.0", {"keypoints": KEYPOINTS}, {"keypoints": "keypoints"})
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(320, 4)).astype(np.float32)
    where = np.stack([x[:, :2], 1 - x[:, 2:]], axis=1).astype(np.float32)  # two points a linear map finds
    np.savez(tmp_path / "points.npz", x=x, where=where)
    np.save(tmp_path / "sample.npy", x[:3])
    return zoo


def manifest(tmp_path, head="[train.heads.where]\nloss = \"wing\"\nmetrics = [\"pck\", \"distance\"]\n"):
    path = tmp_path / "points.toml"
    path.write_text(textwrap.dedent(MANIFEST.format(head=head)))
    return path


def test_a_plugin_head_trains_with_its_own_loss_reports_its_metric_and_predicts_with_its_decoding(keypoints, tmp_path):
    trained = keypoints("train", str(manifest(tmp_path)), "-o", str(tmp_path / "out"))
    assert trained.returncode == 0, trained.stderr
    assert "where.pck" in trained.stdout and "where.distance" in trained.stdout
    artifact = tmp_path / "out" / "points.safetensors"
    info = keypoints.json("inspect", str(artifact))
    assert info["card"]["heads"]["where"]["kind"] == "keypoints"
    final = info["training"]["final_validation"]
    assert final["where.pck"] > 0.5 and final["where.distance"] < 0.15  # it learned the points

    predicted = keypoints.json("predict", str(artifact), str(tmp_path / "sample.npy"))
    points = predicted[0]["outputs"]["where"]["points"]
    assert len(predicted) == 3 and len(points) == 2 and set(points[0]) == {"x", "y"}
    x = np.load(tmp_path / "sample.npy")
    assert abs(points[0]["x"] - x[0, 0]) < 0.15 and abs(points[1]["y"] - (1 - x[0, 3])) < 0.15
    shown = keypoints("predict", str(artifact), str(tmp_path / "sample.npy"))
    assert shown.returncode == 0 and '"points"' in shown.stdout  # the table shows the plugin's answer


def test_a_plugin_heads_default_loss_is_its_tasks_and_unknown_names_are_refused(keypoints, tmp_path):
    assert keypoints("validate", str(manifest(tmp_path, head=""))).returncode == 0  # wing and pck by default
    info = keypoints.json("info", "keypoints")
    assert info["tasks"] == [{"name": "keypoints", "losses": ["wing"], "metrics": {"pck": "max", "distance": "min"},
                              "default_metrics": ["pck"]}]
    path = manifest(tmp_path, head='[train.heads.where]\nloss = "wign"\nmetrics = ["accuracy"]\n')
    result = keypoints("validate", str(path))
    assert result.returncode == 1, result.stderr
    assert "[train.heads.where.loss] head `where` has no loss `wign`; its losses: wing (keypoints)" in result.stderr
    assert "did you mean `wing`?" in result.stderr and "points.toml:" in result.stderr
    path = manifest(tmp_path, head='[train.heads.where]\nmetrics = ["accuracy"]\n')
    result = keypoints("validate", str(path))
    assert result.returncode == 1
    assert "metric 'accuracy' does not fit a keypoints head (loss 'wing')" in result.stderr
    assert "fix: use pck or distance" in result.stderr


def test_a_plugin_tasks_target_check_is_reported_at_the_manifest_key(keypoints, tmp_path):
    np.savez(tmp_path / "points.npz", x=np.zeros((40, 4), np.float32), where=np.zeros((40, 3), np.float32))
    result = keypoints("train", str(manifest(tmp_path)), "-o", str(tmp_path / "out"))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "[train.heads.where.target] target `where` must hold [2, 2] per sample (x, y per point), got [3]" \
        in result.stderr


def test_builtin_heads_keep_their_losses_and_name_them_when_one_is_unknown(zoo, tmp_path):
    path = tmp_path / "digits.toml"
    path.write_text(textwrap.dedent("""
        [model]
        name = "d"
        input_shape = [64]

        [backbone]
        use = "mlp"

        [heads.digit]
        use = "linear"
        num_classes = 10

        [train]
        data = "digits"

        [train.heads.digit]
        loss = "cross_entropie"
        """))
    result = zoo("validate", str(path))
    assert result.returncode == 1
    assert ("head `digit` has no loss `cross_entropie`; its losses: cross_entropy (classification); mse, mae, "
            "smooth_l1 (regression); centernet (detection)") in result.stderr
    assert "did you mean `cross_entropy`?" in result.stderr


def test_a_task_with_a_metric_of_no_direction_fails_its_plugin_naming_it(zoo, tmp_path):
    broken = KEYPOINTS.replace('metrics={"pck": "max", "distance": "min"}', 'metrics={"pck": "up", "distance": "min"}')
    zoo.install("flexzoo-plugin-keypoints", "1.0.0", {"keypoints": broken}, {"keypoints": "keypoints"})
    result = zoo("plugins")
    assert "head 'keypoints' declares task 'keypoints' whose metrics {'pck': 'up'} do not say \"max\" or \"min\"" \
        in result.stdout + result.stderr


def test_an_artifact_card_without_kinds_reads_its_heads_as_before_kinds_were_recorded():
    from flexzoo.prediction import head_specs

    manifest = {"heads": {"digit": {"use": "linear", "num_classes": 10}, "mask": {"use": "mine", "num_classes": 3},
                          "boxes": {"use": "detection", "num_classes": 2}, "y": {"use": "linear", "num_classes": 1},
                          "raw": {"use": "mine"}},
                "train": {"heads": {"y": {"loss": "mse"}, "boxes": {"loss": "centernet"}}}}
    card = {"input_shape": [3, 16, 16], "heads": {
        "digit": {"output_shape": [1, 10], "labels": ["zero"]}, "mask": {"output_shape": [1, 3, 16, 16]},
        "boxes": {"output_shape": [1, 6, 4, 4]}, "y": {"output_shape": [1, 1]}, "raw": {"output_shape": [1, 5]}}}
    specs = head_specs(manifest, card)
    assert {name: spec.kind for name, spec in specs.items()} == {
        "digit": "classification", "mask": "segmentation", "boxes": "detection", "y": "regression", "raw": "regression"}
    outputs = {"digit": np.eye(10, dtype=np.float32)[:1] * 9, "mask": np.zeros((1, 3, 16, 16), np.float32),
               "boxes": np.full((1, 6, 4, 4), -9.0, np.float32), "y": np.ones((1, 1), np.float32),
               "raw": np.zeros((1, 5), np.float32)}
    from flexzoo.prediction import describe

    answer = describe(outputs, specs)[0]
    assert answer["digit"]["label"] == "zero" and answer["mask"]["pixels"] == {"0": 256}
    assert answer["boxes"] == {"boxes": []} and answer["y"] == {"values": [1.0]}

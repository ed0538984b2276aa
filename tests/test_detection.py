"""The builtin detection head: CenterNet layout, centernet loss, mAP collected over validation, export, predict."""

from __future__ import annotations

import importlib.util
import io
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from serving_helpers import Server, server_env

import flexzoo
from flexzoo import FlexzooError, ManifestError, load_manifest
from flexzoo.assembly.builder import plan
from flexzoo.features.detection.centernet import centre_targets, decode
from flexzoo.features.detection.training import DetectionScore, centernet_loss
from flexzoo.manifest.train import HeadObjective

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
HEAD = HeadObjective(name="boxes", loss="centernet", weight=1.0, target="boxes", metrics=("map50", "map"))


def make_shapes():
    spec = importlib.util.spec_from_file_location("make_shapes", EXAMPLES / "make_shapes.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_shapes"] = module
    spec.loader.exec_module(module)
    return module


def shape_boxes(path: Path, count: int, seed: int = 0) -> Path:
    """The generator's images and boxes, every other pixel kept (16 x 16: four times cheaper to train on)."""
    full = np.load(make_shapes().make_shape_boxes(path.with_name(f"full-{path.name}"), count, seed))
    boxes = full["boxes"].copy()
    boxes[..., 1:] = np.where(boxes[..., :1] >= 0, boxes[..., 1:] / 2, -1)
    np.savez(path, x=np.ascontiguousarray(full["x"][:, :, ::2, ::2]), boxes=boxes)
    return path


def detection_manifest(backbone: str = 'use = "cnn"\nchannels = [8, 16, 32]', train: str = "") -> str:
    return f"""
[model]
name = "shapes-det"
seed = 0
input_shape = [3, 16, 16]

[backbone]
{backbone}

[heads.boxes]
use = "detection"
num_classes = 3
width = 16
stride = 2
{train}
"""


def perfect_output(boxes: torch.Tensor, classes: int, map_size: tuple[int, int], input_size: tuple[int, int]
                   ) -> torch.Tensor:
    """What a perfect head returns for ``boxes``: the target heatmaps as logits, the true box at each centre."""
    targets = centre_targets(boxes, classes, map_size, input_size)
    logits = torch.logit(targets.heatmap.clamp(1e-6, 1 - 1e-6))
    box = torch.zeros(len(boxes), 4, map_size[0] * map_size[1])
    values = torch.cat([targets.size, targets.offset], dim=-1)  # (B, K, 4)
    for image in range(len(boxes)):
        for row in targets.valid[image].nonzero().flatten().tolist():
            box[image, :, targets.cell[image, row]] = values[image, row]
    return torch.cat([logits, box.reshape(len(boxes), 4, *map_size)], dim=1)


def mean_average_precision(output: torch.Tensor, boxes: torch.Tensor, input_size: tuple[int, int]
                           ) -> dict[str, float]:
    score = DetectionScore(HEAD, output.shape[1], input_size)
    score.sums(output, boxes)
    return score.metrics(torch.zeros(0), len(output))


def test_decoding_recovers_the_boxes_a_heatmap_was_built_from(tmp_path):
    data = np.load(make_shapes().make_shape_boxes(tmp_path / "boxes.npz", 40))
    boxes = torch.from_numpy(data["boxes"])
    output = perfect_output(boxes, 3, (16, 16), (32, 32))
    for found, truth in zip(decode(output, (32, 32), threshold=0.5), boxes):
        truth = truth[truth[:, 0] >= 0]
        assert torch.all(found[:, 1] > 0.99)  # one peak per box, no other cell scores half as much
        order = torch.argsort(truth[:, 1] * 1000 + truth[:, 2])
        found = found[torch.argsort(found[:, 2] * 1000 + found[:, 3])]
        assert torch.allclose(found[:, [0, 2, 3, 4, 5]], truth[order], atol=1e-4)
    assert mean_average_precision(output, boxes, (32, 32)) == {"map50": 1.0, "map": 1.0}
    wrong_class = boxes.clone()
    wrong_class[..., 0] = torch.where(boxes[..., 0] >= 0, (boxes[..., 0] + 1) % 3, -1)
    assert mean_average_precision(output, wrong_class, (32, 32)) == {"map50": 0.0, "map": 0.0}


def test_the_loss_of_a_batch_is_the_sum_of_its_parts_so_ranks_add_up(tmp_path):
    data = np.load(make_shapes().make_shape_boxes(tmp_path / "boxes.npz", 8))
    boxes = torch.from_numpy(data["boxes"])
    output = torch.randn(8, 7, 8, 8)
    score = DetectionScore(HEAD, 7, (32, 32))
    whole = score.loss(output, boxes, 8.0)
    parts = score.loss(output[:3], boxes[:3], 8.0) + score.loss(output[3:], boxes[3:], 8.0)
    assert torch.allclose(whole, parts)
    # the true heatmaps still pay a little (penalty-reduced negatives near the centres), far less than noise
    assert centernet_loss(perfect_output(boxes, 3, (8, 8), (32, 32)), boxes, (32, 32)).max() < 0.05
    assert centernet_loss(output, boxes, (32, 32)).min() > 0.5


def _rank_map(rank: int, world: int, port: int, output: torch.Tensor, boxes: torch.Tensor, results) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        score = DetectionScore(HEAD, output.shape[1], (32, 32))
        shard = slice(0, 15) if rank == 0 else slice(15, 20)  # unequal shares, as the last batches give
        score.sums(output[shard], boxes[shard])
        if rank == 1:
            score.sums(output[:0], boxes[:0])  # an empty last batch
        results[rank] = score.metrics(torch.zeros(0), 20)
    finally:
        dist.destroy_process_group()


@pytest.mark.processes
@pytest.mark.slow
def test_map_over_two_ranks_is_the_map_of_all_their_images_on_every_rank(tmp_path):
    data = np.load(make_shapes().make_shape_boxes(tmp_path / "boxes.npz", 20))
    boxes = torch.from_numpy(data["boxes"])
    noisy = perfect_output(boxes, 3, (16, 16), (32, 32)) + torch.randn(20, 7, 16, 16, generator=torch.Generator()
                                                                        .manual_seed(0)) * 0.3
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    results = mp.Manager().dict()
    mp.spawn(_rank_map, args=(2, port, noisy, boxes, results), nprocs=2)
    alone = mean_average_precision(noisy, boxes, (32, 32))
    assert 0.0 < alone["map"] < 1.0
    assert results[0] == results[1] == alone


def test_a_detection_head_on_pooled_features_only_is_refused_naming_both(manifest_file, registry):
    path = manifest_file(detection_manifest(backbone='use = "mlp"\nwidths = [8]'))
    with pytest.raises(ManifestError) as caught:
        plan(load_manifest(path, registry), registry)
    assert "[heads.boxes] head `boxes` (builtin:detection) takes feature maps, but the backbone builtin:mlp " \
           "returns pooled features (batch, features) only" in str(caught.value)


def test_a_stride_no_map_has_is_refused(manifest_file, registry):
    path = manifest_file(detection_manifest().replace("stride = 2", "stride = 8"))
    with pytest.raises(ManifestError) as caught:
        flexzoo.build(path, registry)
    assert "stride" in str(caught.value) and "must be the stride of one of the backbone's maps (1, 2, 4), " \
        "got 8" in str(caught.value)


@pytest.mark.parametrize(("boxes", "expected"), [
    (np.zeros((20, 3), dtype=np.int64), "must hold rows [class, x1, y1, x2, y2] per sample, (samples, boxes, 5) "
     "floats with class -1 on unused rows; it is torch.int64 of shape [20, 3]"),
    (np.full((20, 2, 5), 3, dtype=np.float32), "has class values 3, but the head predicts classes 0..2 (and -1 "
     "marks an unused row)"),
])
def test_bad_box_targets_are_refused_with_one_message(manifest_file, tmp_path, boxes, expected):
    np.savez(tmp_path / "bad.npz", x=np.random.default_rng(0).random((20, 3, 16, 16), dtype=np.float32),
             boxes=boxes)
    train = f'[train]\ndata = "{tmp_path / "bad.npz"}"\nepochs = 1\n\n[train.heads.boxes]\nloss = "centernet"\n'
    with pytest.raises(FlexzooError) as caught:
        flexzoo.train(manifest_file(detection_manifest(train=train)), tmp_path / "out")
    assert "train.heads.boxes.target" in str(caught.value)
    assert f"target `boxes` of detection head `boxes` {expected}" in str(caught.value)


def test_a_missing_metric_package_is_refused_naming_the_extra(manifest_file, tmp_path, monkeypatch):
    data = shape_boxes(tmp_path / "boxes.npz", 20)
    monkeypatch.setitem(sys.modules, "pycocotools", None)  # as if it were not installed
    train = f'[train]\ndata = "{data}"\nepochs = 1\n\n[train.heads.boxes]\nloss = "centernet"\n'
    with pytest.raises(FlexzooError) as caught:
        flexzoo.train(manifest_file(detection_manifest(train=train)), tmp_path / "out")
    assert "the detection metrics map50 and map need torchmetrics and pycocotools" in str(caught.value)
    assert "pip install 'flexzoo[detection]'" in str(caught.value)


@pytest.mark.processes
@pytest.mark.slow
def test_detection_learns_boxes_reloads_identically_exports_to_onnx_and_predicts(manifest_file, registry, tmp_path):
    data = shape_boxes(tmp_path / "boxes.npz", 400)
    held_out = np.load(shape_boxes(tmp_path / "held_out.npz", 100, seed=1))
    images, boxes = torch.from_numpy(held_out["x"]), torch.from_numpy(held_out["boxes"])
    train = f"""
[train]
data = "{data}"
epochs = 8
batch_size = 32
lr = 0.01
schedule = "cosine"

[train.heads.boxes]
loss = "centernet"

[export]
formats = ["onnx"]
"""
    path = manifest_file(detection_manifest(train=train))
    untrained = flexzoo.build(path, registry).eval()
    result = flexzoo.train(path, tmp_path / "out")
    with torch.no_grad():
        before = mean_average_precision(untrained(images)["boxes"], boxes, (16, 16))
        expected = result.model.eval()(images)["boxes"]
    after = mean_average_precision(expected, boxes, (16, 16))
    print(f"detection on 16 x 16 shapes: mAP@0.5 {after['map50']:.3f} (untrained {before['map50']:.3f}), "
          f"mAP {after['map']:.3f} (untrained {before['map']:.3f}); validation {result.history[-1]['validation']}")
    assert before["map50"] < 0.1
    assert after["map50"] > 0.6
    assert flexzoo.load(result.artifact)(images[:5])["boxes"].equal(expected[:5])
    import onnxruntime

    [onnx_export] = result.exports
    session = onnxruntime.InferenceSession(onnx_export["path"], providers=["CPUExecutionProvider"])
    [exported] = session.run(["boxes"], {"input": images[:5].numpy()})
    assert exported.shape == (5, 7, 8, 8)
    assert float((torch.from_numpy(exported) - expected[:5]).abs().max()) <= 1e-4

    from flexzoo.prediction import Predictor

    [first, *_] = Predictor.load(result.artifact, registry=registry).predict(images[:5].numpy())
    rows = decode(expected[:1], (16, 16), threshold=0.3)[0]
    answered = [[box[key] for key in ("label", "score", "x1", "y1", "x2", "y2")] for box in first["boxes"]["boxes"]]
    assert answered == [[str(int(row[0])), *row[1:].tolist()] for row in rows]
    assert first["boxes"]["boxes"]

    server = Server([str(result.artifact)], server_env(tmp_path))
    try:
        status, served = server.post("/v1/models/shapes-det/predict", {"inputs": images[0].tolist()})
        assert status == 200, served
        boxes_served = served["predictions"][0]["boxes"]["boxes"]  # one image alone: float sums in another order
        assert [box["label"] for box in boxes_served] == [box["label"] for box in first["boxes"]["boxes"]]
        assert [box[key] for box in boxes_served for key in ("score", "x1", "y1", "x2", "y2")] == pytest.approx(
            [box[key] for box in first["boxes"]["boxes"] for key in ("score", "x1", "y1", "x2", "y2")], abs=1e-4)
        # an uploaded image of another size: the boxes come back in its own pixels (64 x 32: x times 4, y times 2)
        from PIL import Image

        from flexzoo.inputs.images import prepare_image

        pixels = (images[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        upload = io.BytesIO()
        Image.fromarray(pixels).resize((64, 32), Image.NEAREST).save(upload, format="PNG")
        status, served = server.request("POST", "/v1/models/shapes-det/predict", upload.getvalue(), "image/png")
        assert status == 200, served
        seen = prepare_image(upload.getvalue(), (3, 16, 16), None)  # what the model was given
        [in_input] = Predictor.load(result.artifact, registry=registry).predict(seen)
        scale = {"x1": 4, "x2": 4, "y1": 2, "y2": 2}
        assert in_input["boxes"]["boxes"]
        assert [box[key] for box in served["predictions"][0]["boxes"]["boxes"] for key in scale] == pytest.approx(
            [box[key] * scale[key] for box in in_input["boxes"]["boxes"] for key in scale], abs=1e-3)
        schema = server.get("/openapi.json")[1]["paths"]["/v1/models/shapes-det/predict"]["post"]
        response = schema["responses"]["200"]["content"]["application/json"]["schema"]
        assert "boxes" in response["properties"]["predictions"]["items"]["properties"]["boxes"]["properties"]
    finally:
        server.stop()


@pytest.mark.parametrize(("resize", "corner", "centre"), [
    ("stretch", (0.0, 0.0), (50.0, 25.0)),
    ("keep_aspect", (25.0, 0.0), (50.0, 25.0)),  # 100 x 50 resized to 64 x 32, the middle 32 x 32 kept
])
def test_a_point_of_the_input_maps_back_onto_the_image_it_was_made_of(resize, corner, centre):
    from PIL import Image

    from flexzoo.inputs.images import image_geometry

    upload = io.BytesIO()
    Image.new("RGB", (100, 50)).save(upload, format="PNG")
    geometry = image_geometry(upload.getvalue(), (3, 32, 32), {"resize": resize})
    assert geometry.to_image(0, 0) == pytest.approx(corner)
    assert geometry.to_image(16, 16) == pytest.approx(centre)

"""``zoo predict`` and ``Predictor``: inputs from files, top-k per head, runtimes that agree.

The commands run in this process (``zoo_in_process``: the CLI's own entry point, no interpreter and torch import
to pay), but for the compile runtime's, which keeps torch.compile's state out of the test process."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import flexzoo
from conftest import TINY_MANIFEST, zoo_in_process
from flexzoo import Predictor


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("predict")
    (tmp / "tiny.toml").write_text(TINY_MANIFEST)
    return flexzoo.save(flexzoo.build(tmp / "tiny.toml"), tmp, export=False)


@pytest.fixture
def inputs(tmp_path):
    from PIL import Image

    x = np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    (tmp_path / "images").mkdir()
    Image.fromarray((x[0, 0] * 255).astype(np.uint8)).save(tmp_path / "images" / "a.png")
    (tmp_path / "one.json").write_text(json.dumps({"inputs": x[1].tolist()}))
    return tmp_path, x


def run(*args):
    result = zoo_in_process("predict", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_predict_reports_the_top_k_labels_of_every_head_as_load_gives_them(artifact, inputs):
    folder, x = inputs
    answers = json.loads(run(str(artifact), str(folder / "x.npy"), str(folder / "one.json"), "--json",
                             "--top-k", "2"))
    with torch.no_grad():
        logits = flexzoo.load(artifact)(torch.from_numpy(np.concatenate([x, x[1:2]])))
    assert [a["input"] for a in answers] == [f"{folder / 'x.npy'}[{i}]" for i in range(3)] + [str(folder / "one.json")]
    for i, answer in enumerate(answers):
        for head, value in logits.items():
            probabilities = torch.softmax(value[i], 0)
            top = probabilities.topk(2)
            assert [t["label"] for t in answer["outputs"][head]["top_k"]] == [str(int(j)) for j in top.indices]
            assert answer["outputs"][head]["top_k"][0]["probability"] == pytest.approx(float(top.values[0]))


def test_predict_reads_a_folder_of_images_and_writes_csv_and_a_table(artifact, inputs):
    folder, _ = inputs
    rows = list(csv.DictReader(io.StringIO(run(str(artifact), str(folder / "images"), "--csv"))))
    assert [(r["input"], r["head"], r["rank"]) for r in rows] == [
        (str(folder / "images" / "a.png"), "digit", "1"), (str(folder / "images" / "a.png"), "parity", "1")]
    table = run(str(artifact), str(folder / "images"))
    assert table.splitlines()[0].split() == ["INPUT", "HEAD", "PREDICTION"]


def test_predict_refuses_an_input_of_the_wrong_shape_with_one_message(artifact, tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((2, 3), dtype=np.float32))
    result = zoo_in_process("predict", str(artifact), str(tmp_path / "bad.npy"))
    assert result.returncode == 1
    assert result.stderr == (f"zoo: error: {tmp_path / 'bad.npy'}: expected shape [1, 8, 8] (one sample) or "
                             "[N, 1, 8, 8] (a batch), got [2, 3]\n")


@pytest.mark.slow
def test_onnx_and_exported_program_runtimes_agree_with_eager(artifact):
    x = np.random.default_rng(1).random((5, 1, 8, 8), dtype=np.float32)
    eager = Predictor.load(artifact)(x)
    for runtime in ("onnx", "exported-program"):
        outputs = Predictor.load(artifact, runtime)(x)
        for head, value in eager.items():
            np.testing.assert_allclose(outputs[head], value, atol=1e-4, err_msg=runtime)


@pytest.mark.slow
def test_predict_with_the_compile_runtime_gives_the_probabilities_load_gives(zoo, artifact, inputs):
    folder, x = inputs
    result = zoo("predict", str(artifact), str(folder / "x.npy"), "--runtime", "compile", "--json", "--top-k", "2",
                 timeout=300)  # compiling takes a while on a busy CPU
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    with torch.no_grad():
        logits = flexzoo.load(artifact)(torch.from_numpy(x))
    assert len(answers) == len(x)
    for answer, *values in zip(answers, *[torch.softmax(v, 1) for v in logits.values()]):
        for head, probabilities in zip(logits, values):
            top = probabilities.topk(2)
            got = answer["outputs"][head]["top_k"]
            assert [t["label"] for t in got] == [str(int(i)) for i in top.indices], head
            assert [t["probability"] for t in got] == pytest.approx(top.values.tolist(), abs=1e-5), head


def test_predict_with_the_auto_runtime_logs_the_choice_and_gives_what_load_gives(artifact, inputs, monkeypatch):
    folder, x = inputs
    monkeypatch.setenv("FLEXZOO_AUTO_RUNTIMES", "eager,exported-program")
    result = zoo_in_process("predict", str(artifact), str(folder / "x.npy"), "--runtime", "auto", "--json",
                            "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    chosen = result.stderr.split("runtime auto chose ", 1)[1].split()[0]
    assert chosen in ("eager", "exported-program") and "per sample over batches of 1, 2, 4: eager " in result.stderr
    with torch.no_grad():
        logits = flexzoo.load(artifact)(torch.from_numpy(x))
    for answer, label in zip(json.loads(result.stdout), logits["digit"].argmax(1).tolist()):
        assert answer["outputs"]["digit"]["top_k"][0]["label"] == str(label)


def test_auto_leaves_out_a_runtime_that_cannot_run_and_names_why(artifact):
    from flexzoo.prediction.runtime_choice import choose_runtime

    model = flexzoo.load(artifact)
    chosen, run, choice = choose_runtime(model, (1, 8, 8), 4, candidates=("eager", "tensorrt"))
    assert chosen == "eager" and set(choice.seconds) == {"eager"}
    assert choice.rejected["tensorrt"] == "KeyError: 'tensorrt'"  # no such exporter: left out, with why
    assert set(run(np.zeros((2, 1, 8, 8), dtype=np.float32))) == {"digit", "parity"}


def test_auto_times_each_batch_size_the_batcher_forms_and_costs_a_batch_as_a_busy_server_does(artifact):
    from flexzoo.prediction.runtime_choice import choose_runtime, spare_cores

    chosen, _, choice = choose_runtime(flexzoo.load(artifact), (1, 8, 8), 8, candidates=("eager",))
    assert chosen == "eager" and choice.batch_sizes == (1, 2, 4, 8) and choice.batch_size == 8
    # each size's cost is its wall time or its CPU time over the cores the event loop leaves, whichever is longer
    assert choice.seconds["eager"] >= max(choice.wall["eager"], choice.cpu["eager"] / spare_cores()) * 0.999
    assert set(choice.as_dict()["cpu_milliseconds_per_sample"]) == {"eager"}


def test_onnx_sessions_take_torchs_thread_count_and_do_not_spin_between_runs():
    from flexzoo.exporting.exporters import onnx_session_options

    options = onnx_session_options()
    assert options.intra_op_num_threads == torch.get_num_threads() and options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"


def test_an_unknown_runtime_in_flexzoo_auto_runtimes_is_one_clear_error(artifact, inputs, monkeypatch):
    monkeypatch.setenv("FLEXZOO_AUTO_RUNTIMES", "eager,tensorrt")
    result = zoo_in_process("predict", str(artifact), str(inputs[0] / "x.npy"), "--runtime", "auto")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "FLEXZOO_AUTO_RUNTIMES names tensorrt, which `auto` cannot try" in result.stderr


def test_print_dockerfile_pins_the_recorded_versions(artifact):
    result = zoo_in_process("serve", str(artifact), "--print-dockerfile")
    assert result.returncode == 0, result.stderr
    versions = json.loads(zoo_in_process("inspect", str(artifact), "--json").stdout)["versions"]
    assert f'"flexzoo[serve]=={versions["flexzoo"]}"' in result.stdout
    assert f'"torch=={versions["torch"].split("+")[0]}"' in result.stdout
    assert result.stdout.rstrip().endswith(f'CMD ["zoo", "serve", "/models/{artifact.name}", "--host", "0.0.0.0", '
                                           '"--port", "8000", "--model-dir", "/models"]')


def test_listing_imports_neither_torch_nor_the_server_libraries():
    code = ("import sys; from flexzoo.cli import main; main(['list']); "
            "print(sorted(m for m in ('torch', 'fastapi', 'uvicorn', 'prometheus_client', 'flexzoo.serving') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.splitlines()[-1] == "[]", result.stderr

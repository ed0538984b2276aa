"""The example component of each kind that ``zoo new-plugin`` writes, as source text templates.

Each template defines one factory that follows its kind's Protocol (``flexzoo.plugin.Backbone``,
``Head``, ``Initializer``, ``CompressionStep``, ``Strategy``, ``DataSource``, ``Tracker``, ``Explainer``), says so
in its docstring and return annotation, and imports torch inside the function so that listing the new plugin stays
cheap.
Its :class:`Template` also says how a manifest uses it; the kind's declaration in ``flexzoo.plugin.kinds``
names the template.
"""

from __future__ import annotations

from dataclasses import dataclass

BACKBONE = '''

def flat(input_shape: tuple[int, ...], width: int = 32, activation: Activation = "relu") -> Backbone:
    """Flatten the input and project it to `width` features.

    Returns a flexzoo.plugin.Backbone: an nn.Module mapping (B, *input_shape) to (B, width).

    Args:
        input_shape: one sample's shape, from [model] input_shape.
        width: the feature size heads receive.
        activation: nonlinearity after the projection.
    """
    if width <= 0:
        raise ParameterError("width", f"must be positive, got {width}")
    import math

    from torch import nn

    layer = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[activation]()
    return nn.Sequential(nn.Flatten(), nn.Linear(math.prod(input_shape), width), layer)
'''

HEAD = '''

def dense(in_features: int, num_classes: int, dropout: float = 0.0) -> Head:
    """Dropout, then a linear layer to `num_classes` outputs.

    Returns a flexzoo.plugin.Head: an nn.Module mapping (B, in_features) to (B, num_classes).

    Args:
        in_features: the backbone's feature size (set by the host).
        num_classes: outputs of the head.
        dropout: dropout probability before the linear layer.
    """
    if num_classes <= 0:
        raise ParameterError("num_classes", f"must be positive, got {num_classes}")
    if not 0.0 <= dropout < 1.0:
        raise ParameterError("dropout", f"must be in [0, 1), got {dropout}")
    from torch import nn

    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_features, num_classes))
'''

INITIALIZER = '''

def small_normal(std: float = 0.02) -> Initializer:
    """Weights from N(0, std), biases zero, for the parameters a module owns directly.

    Returns a flexzoo.plugin.Initializer: init(module) changes, in place, only the parameters
    `module` owns directly (the host calls it on every module the step's `match` selects).

    Args:
        std: standard deviation of the weights.
    """
    if std <= 0:
        raise ParameterError("std", f"must be positive, got {std}")

    def init(module: nn.Module) -> None:
        import torch

        with torch.no_grad():
            for name, parameter in module.named_parameters(recurse=False):
                if name == "weight" and parameter.ndim >= 2:
                    parameter.normal_(0.0, std)
                elif name == "bias":
                    parameter.zero_()

    return init
'''

COMPRESSOR = '''

def magnitude_prune(amount: float = 0.5) -> CompressionStep:
    """Zero the smallest-magnitude `amount` of every weight matrix, in place.

    Returns a flexzoo.plugin.CompressionStep: step(model) -> model with the same backbone and heads.
    The zeros change no shape, so on load the host replays the step and then loads the stored
    weights; a step whose structure depends on the weights (pruned channels, ranks) also defines
    record() and restore(model, record): see flexzoo.plugin.RestorableStep.

    Args:
        amount: fraction of each weight matrix set to zero.
    """
    if not 0.0 <= amount < 1.0:
        raise ParameterError("amount", f"must be in [0, 1), got {amount}")

    def compress(model: nn.Module) -> nn.Module:
        import torch

        with torch.no_grad():
            for parameter in model.parameters():
                if parameter.ndim >= 2 and parameter.numel() > 1:
                    count = int(parameter.numel() * amount)
                    if count:
                        threshold = parameter.abs().flatten().kthvalue(count).values
                        parameter.masked_fill_(parameter.abs() <= threshold, 0.0)
        return model

    return compress
'''

STRATEGY = '''

class ThreadLimit(SingleProcess):
    """A flexzoo.plugin.Strategy: one process, with torch limited to `threads` CPU threads while it runs.

    setup() sets the limit and teardown() restores the previous one; rank, world_size, local_rank,
    wrap, all_reduce and the state methods are SingleProcess's, the one-process behaviour.
    """

    def __init__(self, threads: int) -> None:
        super().__init__()
        self.threads = threads
        self.previous: int | None = None

    def setup(self) -> None:
        import torch

        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def teardown(self) -> None:
        if self.previous is not None:
            import torch

            torch.set_num_threads(self.previous)
            self.previous = None


def threads(threads: int = 1) -> Strategy:
    """Single process with a fixed number of CPU threads.

    Returns a flexzoo.plugin.Strategy (a SingleProcess that sets the thread count in setup()).

    Args:
        threads: CPU threads torch may use while the model runs.
    """
    if threads <= 0:
        raise ParameterError("threads", f"must be positive, got {threads}")
    return ThreadLimit(threads)
'''

DATASET = '''

class Stripes:
    """Images of horizontal or vertical stripes, drawn when a sample is asked for (a DataSource)."""

    def __init__(self, size: int, input_shape: tuple[int, ...]) -> None:
        self.size = size
        self.input_shape = input_shape
        self.description = f"stripes ({size} images)"
        self.labels = {"label": ["horizontal", "vertical"]}

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index: int) -> tuple[object, dict[str, int]]:
        if not 0 <= index < self.size:
            raise IndexError(index)
        import numpy as np

        _, height, width = self.input_shape
        label = index % 2
        rows = (np.arange(height)[:, None] + index) % 4 < 2
        cols = (np.arange(width)[None, :] + index) % 4 < 2
        pixels = np.where(cols if label else rows, 1.0, 0.0) * np.ones((height, width))
        return np.broadcast_to(pixels, self.input_shape).astype("float32"), {"label": label}


def stripes(input_shape: tuple[int, ...], location: str = "", size: int = 60) -> DataSource:
    """Generated stripes: target `label` is horizontal (0) or vertical (1).

    Returns a flexzoo.plugin.DataSource whose samples are arrays of input_shape, made when read.

    Args:
        input_shape: one sample's shape, from [model] input_shape (set by the host).
        location: what follows `stripes:` in [train] data (unused; set by the host).
        size: how many samples.
    """
    if size < 2:
        raise ParameterError("size", f"must be at least 2, got {size}")
    return Stripes(size, tuple(input_shape))
'''

TRACKER = '''

class JsonLines:
    """One JSON line per logged epoch, and the run's end, in the run's folder (a Tracker)."""

    def __init__(self, file_name: str, every: int) -> None:
        self.file_name = file_name
        self.every = every

    def _write(self, run, record: dict) -> None:
        import json

        run.run_dir.mkdir(parents=True, exist_ok=True)
        with open(run.run_dir / self.file_name, "a", encoding="utf-8") as log:
            log.write(json.dumps(record) + "\\n")

    def run_start(self, run) -> None:
        self._write(run, {"run": run.name, "epochs": run.epochs})

    def epoch_end(self, run, epoch: int, metrics) -> None:
        if epoch % self.every == 0:
            self._write(run, {"epoch": epoch, **metrics})

    def run_end(self, run, artifact, history, status: str) -> None:
        self._write(run, {"status": status})


def jsonl_log(file_name: str = "log.jsonl", every: int = 1) -> Tracker:
    """Log a run's metrics as JSON lines in its folder (<out>/<model>.train/<file_name>).

    Returns a flexzoo.plugin.Tracker; [track] use = ["jsonl_log"], settings in [track.jsonl_log].

    Args:
        file_name: the log's name in the run's folder.
        every: epochs between logged lines.
    """
    if every <= 0:
        raise ParameterError("every", f"must be positive, got {every}")
    if "/" in file_name or file_name in ("", ".", ".."):
        raise ParameterError("file_name", f"must be a plain file name, got {file_name!r}")
    return JsonLines(file_name, every)
'''

EXPLAINER = '''

class GradientTimesInput:
    """The target score's gradient times the input: an attribution per input value (an Explainer)."""

    needs_feature_maps = False

    def __init__(self, absolute: bool) -> None:
        self.absolute = absolute
        self.settings = {"absolute": absolute}

    def attribute(self, forward, inputs, target, layer=None):
        import torch

        inputs = inputs.detach().requires_grad_()
        scores = forward(inputs).gather(1, target[:, None]).sum()
        (gradient,) = torch.autograd.grad(scores, inputs)
        found = gradient * inputs.detach()
        return found.abs() if self.absolute else found


def gradient_times_input(absolute: bool = False) -> Explainer:
    """Gradient times input: how much each input value moves the target's score, to first order.

    Returns a flexzoo.plugin.Explainer; `zoo explain ARTIFACT INPUT --method gradient_times_input`.

    Args:
        absolute: attribute magnitudes instead of signed contributions.
    """
    return GradientTimesInput(absolute)
'''

#: A test of what the example strategy does, beyond the conformance kit (``$name`` is the plugin).
STRATEGY_TEST = '''

def test_threads_limits_torch_between_setup_and_teardown():
    import torch

    from flexzoo_plugin_$name.components import threads

    before = torch.get_num_threads()
    strategy = threads(threads=before + 1)
    strategy.setup()
    try:
        assert torch.get_num_threads() == before + 1
    finally:
        strategy.teardown()
    assert torch.get_num_threads() == before
'''


#: A ``zoo train`` run logged by the example tracker, read back (``$name`` is the plugin).
TRACKER_TEST = '''

TRACKED = """
[model]
name = "$name-tracked"
input_shape = [1, 8, 8]

[backbone]
use = "builtin:mlp"
widths = [16]

[heads.digit]
use = "builtin:linear"
num_classes = 10

[train]
data = "digits"
epochs = 2
batch_size = 256

[track]
use = ["jsonl_log"]

[track.jsonl_log]
file_name = "acme.jsonl"
"""


def test_jsonl_log_logs_a_zoo_train_run(tmp_path):
    path = tmp_path / "tracked.toml"
    path.write_text(TRACKED)
    trained = zoo("train", str(path), "-o", str(tmp_path / "out"), "-q")
    assert trained.returncode == 0, trained.stderr
    lines = (tmp_path / "out" / "$name-tracked.train" / "acme.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert records[0] == {"run": "$name-tracked", "epochs": 2} and records[-1] == {"status": "finished"}
    assert [record["epoch"] for record in records[1:-1]] == [1, 2]
    assert all("train/loss" in record for record in records[1:-1])
'''


@dataclass(frozen=True)
class Template:
    """One kind's example: its source, its factory's name, what it imports from ``flexzoo.plugin``, the
    manifest lines that use it (``$name`` is the plugin; empty when a manifest does not name it), the
    parameters its conformance test must pass (a dict's source; empty when none are required) and its
    extra test. Each kind's declaration (``flexzoo.plugin.kinds``) names its template here."""

    source: str
    factory: str
    imports: tuple[str, ...]
    use: str = ""
    required: str = ""
    test: str = ""


BACKBONE_EXAMPLE = Template(BACKBONE, "flat", ("Backbone",), use='[backbone]\nuse = "$name:flat"\nwidth = 16\n')
HEAD_EXAMPLE = Template(HEAD, "dense", ("Head",), use='[heads.label]\nuse = "$name:dense"\nnum_classes = 3\n',
                        required='{"num_classes": 3}')
INITIALIZER_EXAMPLE = Template(INITIALIZER, "small_normal", ("Initializer",),
                               use='[[init]]\nuse = "$name:small_normal"\nmatch = "*"\n')
COMPRESSOR_EXAMPLE = Template(COMPRESSOR, "magnitude_prune", ("CompressionStep",),
                              use='[[compress]]\nuse = "$name:magnitude_prune"\namount = 0.25\n')
STRATEGY_EXAMPLE = Template(STRATEGY, "threads", ("SingleProcess", "Strategy"),
                            use='[distributed]\nuse = "$name:threads"\n', test=STRATEGY_TEST)
#: A data source is used by [train] data = "$name:stripes".
DATASET_EXAMPLE = Template(DATASET, "stripes", ("DataSource",))
#: A tracker is used by [track] use = ["jsonl_log"], its settings in [track.jsonl_log].
TRACKER_EXAMPLE = Template(TRACKER, "jsonl_log", ("Tracker",), test=TRACKER_TEST)
#: An explainer is used by zoo explain --method acme:gradient_times_input.
EXPLAINER_EXAMPLE = Template(EXPLAINER, "gradient_times_input", ("Explainer",))

#: What the manifest uses for a kind the plugin does not offer (the host's own components).
HOST_USE: dict[str, str] = {
    "backbone": '[backbone]\nuse = "builtin:mlp"\nwidths = [16]\n',
    "head": '[heads.label]\nuse = "builtin:linear"\nnum_classes = 3\n',
}

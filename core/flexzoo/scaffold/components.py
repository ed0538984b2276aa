"""The example component of each kind that ``zoo new-plugin`` writes, as source text templates.

Each template defines one factory, importing torch inside the function so that listing the new
plugin stays cheap; ``$name`` is the plugin's name. ``EXAMPLE_USE`` says how a manifest uses it.
"""

from __future__ import annotations

BACKBONE = '''

def flat(input_shape: tuple[int, ...], width: int = 32, activation: Activation = "relu") -> nn.Module:
    """Flatten the input and project it to `width` features.

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

def dense(in_features: int, num_classes: int, dropout: float = 0.0) -> nn.Module:
    """Dropout, then a linear layer to `num_classes` outputs.

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

def small_normal(std: float = 0.02) -> Callable[[nn.Module], None]:
    """Weights from N(0, std), biases zero, for the parameters a module owns directly.

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

def magnitude_prune(amount: float = 0.5) -> Callable[[nn.Module], nn.Module]:
    """Zero the smallest-magnitude `amount` of every weight matrix, in place.

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

class ThreadLimit:
    """Runs the model in this process with a fixed number of CPU threads, restored at teardown."""

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self.previous = 0

    def setup(self) -> None:
        import torch

        self.previous = torch.get_num_threads()
        torch.set_num_threads(self.threads)

    def wrap(self, model: nn.Module) -> nn.Module:
        return model

    def teardown(self) -> None:
        import torch

        torch.set_num_threads(self.previous)


def threads(threads: int = 1) -> ThreadLimit:
    """Single process with a fixed number of CPU threads.

    Args:
        threads: CPU threads torch may use while the model runs.
    """
    if threads <= 0:
        raise ParameterError("threads", f"must be positive, got {threads}")
    return ThreadLimit(threads)
'''

#: kind -> (template, factory name).
TEMPLATES: dict[str, tuple[str, str]] = {
    "backbone": (BACKBONE, "flat"),
    "head": (HEAD, "dense"),
    "initializer": (INITIALIZER, "small_normal"),
    "compressor": (COMPRESSOR, "magnitude_prune"),
    "strategy": (STRATEGY, "threads"),
}

#: kind -> the manifest lines that use the example component (``$name`` is the plugin).
EXAMPLE_USE: dict[str, str] = {
    "backbone": '[backbone]\nuse = "$name:flat"\nwidth = 16\n',
    "head": '[heads.label]\nuse = "$name:dense"\nnum_classes = 3\n',
    "initializer": '[[init]]\nuse = "$name:small_normal"\nmatch = "*"\n',
    "compressor": '[[compress]]\nuse = "$name:magnitude_prune"\namount = 0.25\n',
    "strategy": '[distributed]\nuse = "$name:threads"\n',
}

#: What the manifest uses for a kind the plugin does not offer (the host's own components).
HOST_USE: dict[str, str] = {
    "backbone": '[backbone]\nuse = "builtin:mlp"\nwidths = [16]\n',
    "head": '[heads.label]\nuse = "builtin:linear"\nnum_classes = 3\n',
}

"""The backbone factories: a keras.applications architecture, and a Sequential the manifest lists (cheap to import)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from flexzoo.plugin import ParameterError
from flexzoo.plugin.helpers import restoring_weights

if TYPE_CHECKING:
    from torch import nn

Pooling = Literal["avg", "max"]


def _keras_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    """keras's shape for flexzoo's: images (C, H, W) become channels-last (H, W, C); others stay."""
    return (*input_shape[1:], input_shape[0]) if len(input_shape) == 3 else tuple(input_shape)


def _wrap(build: Any, input_shape: tuple[int, ...]) -> nn.Module:
    from flexzoo_plugin_keras.module import KerasBackbone, seeded_from_torch

    with seeded_from_torch():
        model = build()
    return KerasBackbone(model, channels_last=len(input_shape) == 3)


def application(
    name: str,
    input_shape: tuple[int, ...],
    pretrained: str | None = None,
    pooling: Pooling = "avg",
    options: dict[str, Any] = {},  # noqa: B006 - never mutated; shown by `zoo info`
) -> nn.Module:
    """A keras.applications architecture without its classifier (include_top=False): images (B, C, H, W) to (B, F).

    Args:
        input_shape: one sample's shape (C, H, W), from [model] input_shape; keras receives it channels-last.
        pretrained: path of a local Keras weights file for this architecture without its top
            (a ``*_notop.h5`` or ``.weights.h5`` file); never downloaded.
        pooling: how the last feature map becomes a vector: "avg" or "max".
        options: further keyword arguments of the application (e.g. { alpha = 0.5 } for MobileNet).
    """
    if len(input_shape) != 3:
        raise ParameterError("input_shape", f"must be (channels, height, width) for keras.applications, "
                             f"got {list(input_shape)}")
    clash = sorted(set(options) & {"weights", "include_top", "pooling", "input_shape", "input_tensor", "classes"})
    if clash:
        raise ParameterError(f"options.{clash[0]}", "is set by the plugin",
                             "use pretrained for weights and pooling for pooling; the rest is fixed")
    from flexzoo_plugin_keras.backend import import_keras

    keras = import_keras()
    weights = None
    if pretrained is not None and not restoring_weights():  # flexzoo.load brings the weights itself
        from pathlib import Path

        weights = str(Path(pretrained).expanduser())
        if not Path(weights).is_file():
            raise ParameterError("pretrained", f"{weights}: no such file", "give a local Keras weights file (.h5)")
    factory = getattr(keras.applications, name)

    def build() -> Any:
        try:
            return factory(weights=weights, include_top=False, pooling=pooling,
                           input_shape=_keras_shape(input_shape), **options)
        except TypeError as exc:
            raise ParameterError("options", f"keras.applications.{name} refused them: {exc}") from None
        except ValueError as exc:
            key = "pretrained" if weights and "weights" in str(exc).lower() else "model.input_shape"
            message = str(exc).strip().splitlines()[0]
            if key == "model.input_shape":
                raise ValueError(f"keras.applications.{name}: {message}") from None
            raise ParameterError(key, message) from None

    return _wrap(build, input_shape)


def sequential(input_shape: tuple[int, ...], layers: list[dict[str, Any]]) -> nn.Module:
    """A keras.Sequential of the listed layers, each ``{ use = "<keras.layers class>", <its arguments> }``.

    Images (B, C, H, W) reach the first layer channels-last (B, H, W, C), as keras layers expect;
    the last layer must give (B, F) (end with Flatten or a global pooling layer).

    Args:
        input_shape: one sample's shape, from [model] input_shape.
        layers: the layers in order, e.g. [{ use = "Conv2D", filters = 16, kernel_size = 3 },
            { use = "GlobalAveragePooling2D" }].
    """
    if not layers:
        raise ParameterError("layers", "is empty", 'list at least one layer, e.g. [{ use = "Flatten" }]')
    from flexzoo_plugin_keras.backend import import_keras

    keras = import_keras()
    names = [n for n in dir(keras.layers) if n[:1].isupper()]
    made: list[Any] = []

    def build() -> Any:
        for index, spec in enumerate(layers):
            arguments = dict(spec)
            use = arguments.pop("use", None)
            if not isinstance(use, str):
                raise ParameterError(f"layers[{index}]", "has no `use`", 'name the layer: { use = "Dense", ... }')
            if use not in names:
                import difflib  # only a misspelt layer pays for it

                near = difflib.get_close_matches(use, names, n=3)
                raise ParameterError(f"layers[{index}].use", f"keras.layers has no {use!r}",
                                     f"did you mean {', '.join(near)}?" if near else "see keras.layers")
            arguments.setdefault("name", f"{use.lower()}_{index}")  # keras's own names count up per process
            try:
                made.append(getattr(keras.layers, use)(**arguments))
            except (TypeError, ValueError) as exc:
                raise ParameterError(f"layers[{index}]", f"keras.layers.{use} refused its arguments: "
                                     f"{str(exc).strip().splitlines()[0]}") from None
        return keras.Sequential([keras.Input(_keras_shape(input_shape)), *made], name="sequential")

    return _wrap(build, input_shape)

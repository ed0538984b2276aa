"""The host's own components, registered as the plugin ``builtin`` through the entry-point group.

Importing this module is cheap: factories import torch when called.
"""

from __future__ import annotations

from flexzoo.builtin import (
    backbones,
    datasets,
    dense_heads,
    ensembles,
    explainers,
    fusions,
    heads,
    hugging_face,
    initializers,
    sequences,
    strategies,
    web_dataset,
)
from flexzoo.plugin import Component, hookimpl
from flexzoo.plugin.helpers import DETECTION, SEGMENTATION

FLEXZOO_PLUGIN_API = 2


@hookimpl
def flexzoo_backbones() -> list[Component]:
    return [Component("mlp", backbones.mlp), Component("cnn", backbones.cnn), Component("lstm", sequences.lstm),
            Component("gru", sequences.gru), Component("transformer", sequences.transformer),
            Component("ensemble", ensembles.ensemble),
            Component("concat", fusions.concat), Component("sum", fusions.add),
            Component("attention", fusions.attention)]


@hookimpl
def flexzoo_heads() -> list[Component]:
    return [Component("linear", heads.linear), Component("mlp", heads.mlp), Component("mean", ensembles.mean),
            Component("vote", ensembles.vote),
            Component("segmentation", dense_heads.segmentation, tasks=(SEGMENTATION,)),
            Component("detection", dense_heads.detection, tasks=(DETECTION,))]


@hookimpl
def flexzoo_initializers() -> list[Component]:
    return [Component(name, factory) for name, factory in initializers.INITIALIZERS.items()]


@hookimpl
def flexzoo_strategies() -> list[Component]:
    return [Component("single", strategies.single)]


@hookimpl
def flexzoo_datasets() -> list[Component]:
    return [Component("digits", datasets.digits), Component("arrays", datasets.arrays),
            Component("imagefolder", datasets.imagefolder), Component("table", datasets.table),
            Component("huggingface", hugging_face.huggingface), Component("webdataset", web_dataset.webdataset)]


@hookimpl
def flexzoo_explainers() -> list[Component]:
    return [Component(name, factory) for name, factory in explainers.METHODS.items()]

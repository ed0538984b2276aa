"""A registry of the builtin plugin, this plugin, and a test plugin offering small real timm models."""

from __future__ import annotations

import flexzoo
import flexzoo_plugin_compress
from flexzoo.testing import registry_fixture


def timm_backbone(architecture: str, img_size: int = 0, depth: int = 0):
    """A timm model without its classifier (features = pooled output), randomly initialized.

    Args:
        architecture: timm model name.
        img_size: ViTs only: input resolution.
        depth: ViTs only: number of blocks.
    """
    import timm

    extra = {"img_size": img_size, "patch_size": 8, "depth": depth} if img_size else {}
    return timm.create_model(architecture, pretrained=False, num_classes=0, **extra)


class TimmModels:
    @flexzoo.hookimpl
    def flexzoo_backbones(self):
        return [flexzoo.Component("timm_model", timm_backbone)]


registry = registry_fixture(flexzoo_plugin_compress, scope="function", timm_test=TimmModels())

"""The compress plugin passes flexzoo's conformance kit on its steps that need no data or teacher."""

from __future__ import annotations

from flexzoo.testing import PluginConformance


class TestCompressPlugin(PluginConformance):
    plugin = "flexzoo_plugin_compress"
    # distill needs a [train] section and a teacher artifact; cast needs inputs in its dtype (the kit
    # feeds float32): both are covered by test_round_trip.py and test_training_steps.py instead.
    build = ("prune_channels", "prune_l1", "quantize_int8", "low_rank")
    examples = {"compressor": {"distill": {"teacher": "teacher.safetensors"}}}  # noqa: RUF012

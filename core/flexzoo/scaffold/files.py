"""The files of a new plugin package other than its components, as templates (``$name`` etc.)."""

from __future__ import annotations

PYPROJECT = '''[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "flexzoo-plugin-$name"
version = "0.1.0"
description = "$summary"
readme = "README.md"
requires-python = ">=3.10"
# flexzoo-plugin-api-$api tells flexzoo which plugin API this package is written for; the host reads it
# from the installed metadata and refuses an API it does not support before importing anything.
keywords = ["flexzoo", "flexzoo-plugin-api-$api"]
dependencies = ["flexzoo$requirement"]

[project.optional-dependencies]
test = ["pytest>=8"]

# The entry point's name is the plugin's name: manifests write "$name:<component>".
[project.entry-points.flexzoo]
$name = "flexzoo_plugin_$name"

[tool.setuptools]
packages = ["flexzoo_plugin_$name"]

[tool.pytest.ini_options]
testpaths = ["tests"]
'''

INIT = '''"""flexzoo-plugin-$name: $summary

Registration hooks return declarations only; the factories in ``components`` import torch when
a model is built, so ``zoo list`` stays fast. Everything from flexzoo comes from ``flexzoo.plugin``.
"""

from __future__ import annotations

from flexzoo.plugin import Component, hookimpl

from flexzoo_plugin_$name import components

#: The flexzoo plugin API this package is written for (its pyproject says so too: flexzoo-plugin-api-$api).
FLEXZOO_PLUGIN_API = $api
'''

HOOK = '''

@hookimpl
def $hook() -> list[Component]:
    return [Component("$component", components.$component)]
'''

COMPONENTS_HEADER = '''"""Components of flexzoo-plugin-$name. Cheap to import: factories import torch when called.

Each factory returns what its kind's Protocol in flexzoo.plugin describes; the conformance kit
(tests/test_${name}_conformance.py) checks that the host can use it.
"""

from __future__ import annotations
$imports'''

CONFORMANCE_TEST = '''"""flexzoo's conformance kit, run on every component this plugin declares."""

from __future__ import annotations

from typing import ClassVar

from flexzoo.testing import PluginConformance


class Test$title(PluginConformance):
    plugin = "flexzoo_plugin_$name"
    input_shape = (1, 8, 8)
    # Values for required parameters (and cheaper settings), per kind and component name.
    examples: ClassVar = $examples
'''

BUILD_TEST = '''"""A manifest naming this plugin's components builds into an artifact with `zoo build`."""

from __future__ import annotations

import json
import subprocess
import sys

from flexzoo.plugin.helpers import safetensors_shapes

MANIFEST = """
[model]
name = "$name-example"
seed = 0
input_shape = [1, 8, 8]

$manifest"""

#: The components the plugin declares, as manifests name them.
COMPONENTS = {$qualified
}


def zoo(*args: str) -> subprocess.CompletedProcess:
    """Run flexzoo's command line with this Python, as a user would."""
    return subprocess.run([sys.executable, "-m", "flexzoo", *args], capture_output=True, text=True, timeout=300)


def test_manifest_with_the_plugins_components_builds(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text(MANIFEST)
    built = zoo("build", str(path), "-o", str(tmp_path / "out"))
    assert built.returncode == 0, built.stderr
    shapes = safetensors_shapes(tmp_path / "out" / "$name-example.safetensors")
    label = [shape for name, shape in shapes.items() if name.startswith("heads.label.") and len(shape) == 2]
    assert label and label[-1][0] == 3  # the head's last layer has num_classes outputs


def test_components_are_listed_under_the_plugins_name():
    listed = zoo("list", "$name:*", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {component["qualified_name"] for component in json.loads(listed.stdout)} == COMPONENTS
$kind_tests'''

README = '''# flexzoo-plugin-$name

$summary

```console
$$ pip install flexzoo-plugin-$name
$$ zoo list '$name:*'
```

## Use it in a manifest

```toml
[model]
name = "example"
input_shape = [1, 8, 8]

$manifest```

## Develop

```console
$$ pip install -e '.[test]'
$$ pytest
```

The tests run flexzoo's conformance kit (`flexzoo.testing.PluginConformance`) on every component
the plugin declares, and build the manifest above. Publish with `python -m build` and `twine upload`;
to appear in `zoo search`, propose an entry for `zoo_index.json` in the flexzoo repository.
'''

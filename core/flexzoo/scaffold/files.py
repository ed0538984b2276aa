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
a model is built, so ``zoo list`` stays fast.
"""

from __future__ import annotations

import flexzoo
from flexzoo import Component

from flexzoo_plugin_$name import components

FLEXZOO_PLUGIN_API = $api
'''

HOOK = '''

@flexzoo.hookimpl
def $hook() -> list[Component]:
    return [Component("$component", components.$component)]
'''

COMPONENTS_HEADER = '''"""Components of flexzoo-plugin-$name. Cheap to import: factories import torch when called."""

from __future__ import annotations
$imports
from flexzoo import ParameterError

if TYPE_CHECKING:
    from torch import nn
'''

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

BUILD_TEST = '''"""A manifest naming this plugin's components builds into a model that runs."""

from __future__ import annotations

import flexzoo
import torch

MANIFEST = """
[model]
name = "$name-example"
seed = 0
input_shape = [1, 8, 8]

$manifest"""


def test_manifest_with_the_plugins_components_builds_and_runs(tmp_path):
    path = tmp_path / "model.toml"
    path.write_text(MANIFEST)
    model = flexzoo.build(path)
    out = model(torch.randn(4, 1, 8, 8))
    assert out["label"].shape == (4, 3)


def test_components_are_listed_under_the_plugins_name():
    names = {c.qualified_name for c in flexzoo.list_components()}
    assert {$qualified} <= names
'''

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

"""Every plugin kind as an outside author meets it: data sources checked where their samples enter training,
load failures named where they matter, trackers with settings of their own; each break reported with the
plugin's name and exit 1, never exit 3."""

from __future__ import annotations

import json
import textwrap

import pytest

ACME_DATA = '''
import numpy as np
from flexzoo.plugin import Component, hookimpl

FLEXZOO_PLUGIN_API = 2


class Shapes:
    """24 samples; `bad` (if any) gets label `wrong`, `mode` is the images' PIL mode ("" for arrays)."""

    def __init__(self, bad, wrong, mode):
        self.bad, self.wrong, self.mode = bad, wrong, mode
        self.description = "acme shapes (24 samples)"

    def __len__(self):
        return 24

    def __getitem__(self, index):
        label = self.wrong if index == self.bad else index % 2
        if self.mode:
            from PIL import Image
            return Image.new(self.mode, (10, 6), color=40 + 8 * index), {"label": label}
        return np.full((1, 4, 4), index / 24, dtype=np.float32), {"label": label}


def acme_shapes(location: str, bad: int = -1, wrong: int = 0, mode: str = ""):
    """Shapes, one of them labelled wrong.

    Args:
        location: unused.
        bad: the sample whose label is `wrong`.
        wrong: its label.
        mode: PIL mode of the images ("" for arrays).
    """
    return Shapes(bad, wrong, mode)


@hookimpl
def flexzoo_datasets():
    return [Component("acme_shapes", acme_shapes)]
'''

MANIFEST = """
[model]
name = "acme"
input_shape = {shape}

[backbone]
use = "mlp"
widths = [8]

[heads.label]
use = "linear"
num_classes = 2

[train]
data = "acme_shapes:here"
epochs = 1
batch_size = 8
{train}

[train.source]
{source}
"""


def manifest(tmp_path, shape="[1, 4, 4]", train="", source=""):
    path = tmp_path / "acme.toml"
    path.write_text(textwrap.dedent(MANIFEST.format(shape=shape, train=train, source=source)))
    return path


@pytest.fixture
def acme(zoo):
    zoo.install("flexzoo-plugin-acmedata", "1.0.0", {"acmedata": ACME_DATA}, {"acmedata": "acmedata"})
    return zoo


def test_an_out_of_range_label_in_the_middle_of_a_plugin_source_names_the_plugin_and_sample(acme, tmp_path):
    result = acme("train", str(manifest(tmp_path, source="bad = 13\nwrong = 5")), "-o", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "data source `acmedata:acme_shapes` (acme shapes (24 samples))" in result.stderr
    assert "sample 13: target `label` is class 5, outside the 0..1 the head trained on it outputs" in result.stderr
    assert 'on_bad_sample = "skip"' in result.stderr and "internal error" not in result.stderr


def test_on_bad_sample_skip_leaves_a_plugin_sources_bad_sample_out(acme, tmp_path):
    path = manifest(tmp_path, train='on_bad_sample = "skip"', source="bad = 13\nwrong = -1")
    result = acme("train", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "skipping unreadable sample sample 13: target `label` is class -1" in result.stderr
    assert (tmp_path / "out" / "acme.safetensors").is_file()


def test_grey_images_from_a_plugin_source_train_an_rgb_model(acme, tmp_path):
    path = manifest(tmp_path, shape="[3, 8, 8]", source='mode = "L"')
    result = acme("train", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "acme.safetensors").is_file()


BROKEN = ACME_DATA.replace("def flexzoo_datasets():", "def flexzoo_datasets(config):")
BROKEN_TRACKER = '''
from flexzoo.plugin import hookimpl

@hookimpl
def flexzoo_run_end(run, artifact, history, status, extra):
    pass
'''


def test_a_data_source_whose_plugin_failed_to_load_is_named_with_the_load_error(zoo, tmp_path):
    zoo.install("flexzoo-plugin-acmedata", "1.0.0", {"acmedata": BROKEN}, {"acmedata": "acmedata"})
    path = manifest(tmp_path)
    for verb in ("validate", "train"):
        result = zoo(verb, str(path))
        assert result.returncode == 1, result.stderr
        assert "`acme_shapes` is not a data source I know" in result.stderr
        assert ("plugin `acmedata` (distribution flexzoo-plugin-acmedata 1.0.0) is installed but failed to load: "
                "invalid hook implementation") in result.stderr
        assert "config" in result.stderr and "run `zoo plugins` for details" in result.stderr


def test_a_component_or_tracker_whose_plugin_failed_to_load_is_named(zoo, tmp_path):
    zoo.install("flexzoo-plugin-acmetrack", "0.4.0", {"acmetrack": BROKEN_TRACKER}, {"acmetrack": "acmetrack"})
    path = manifest(tmp_path)
    path.write_text(path.read_text().replace('data = "acme_shapes:here"', 'data = "digits"')
                    .replace("[train.source]", '[track]\nuse = ["acmetrack"]').replace("[1, 4, 4]", "[1, 8, 8]"))
    result = zoo("train", str(path), "-o", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "no installed plugin `acmetrack` implements the run hooks" in result.stderr
    assert "plugin `acmetrack` (distribution flexzoo-plugin-acmetrack 0.4.0) is installed but failed" in result.stderr
    info = zoo("info", "acmetrack:anything")
    assert info.returncode == 1 and "run `zoo plugins` for details" in info.stderr, info.stderr


ACME_LOG = '''
import json
from pathlib import Path

from flexzoo.plugin import Component, ParameterError, hookimpl

FLEXZOO_PLUGIN_API = 2


class Log:
    def __init__(self, every, prefix):
        self.every, self.prefix = every, prefix

    def run_start(self, run):
        run.run_dir.mkdir(parents=True, exist_ok=True)
        (run.run_dir / "acmelog.jsonl").write_text("")

    def epoch_end(self, run, epoch, metrics):
        if epoch % self.every == 0:
            with open(run.run_dir / "acmelog.jsonl", "a") as log:
                log.write(json.dumps({"epoch": epoch, f"{self.prefix}loss": metrics["train/loss"]}) + "\\n")

    def run_end(self, run, artifact, history, status):
        with open(run.run_dir / "acmelog.jsonl", "a") as log:
            log.write(json.dumps({"status": status, "settings": run.settings("acmelog")}) + "\\n")


def acmelog(every: int = 1, prefix: str = "") -> Log:
    """Log every `every` epochs to <run>/acmelog.jsonl.

    Args:
        every: epochs between lines.
        prefix: prefix of the logged names.
    """
    if every <= 0:
        raise ParameterError("every", f"must be positive, got {every}")
    return Log(every, prefix)


@hookimpl
def flexzoo_trackers():
    return [Component("acmelog", acmelog)]
'''

TRACKED = """
[model]
name = "logged"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [8]

[heads.digit]
use = "linear"
num_classes = 10

[train]
data = "digits"
epochs = 2
batch_size = 256

[track]
use = ["acmelog"]

[track.acmelog]
{settings}
"""


@pytest.fixture
def logged(zoo):
    zoo.install("flexzoo-plugin-acmelog", "2.0.0", {"acmelog": ACME_LOG}, {"acmelog": "acmelog"})
    return zoo


def test_a_trackers_own_settings_come_from_its_track_table(logged, tmp_path):
    path = tmp_path / "logged.toml"
    path.write_text(TRACKED.format(settings='every = 2\nprefix = "acme/"'))
    result = logged("train", str(path), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    lines = (tmp_path / "out" / "logged.train" / "acmelog.jsonl").read_text().splitlines()
    assert [json.loads(line).keys() for line in lines[:1]] == [{"epoch", "acme/loss"}]
    assert json.loads(lines[-1]) == {"status": "finished", "settings": {"every": 2, "prefix": "acme/"}}
    info = logged.json("info", "acmelog")
    assert info["kind"] == "tracker" and [p["name"] for p in info["parameters"]] == ["every", "prefix"]


def test_an_unknown_track_key_names_the_tracker_and_its_plugin(logged, tmp_path):
    path = tmp_path / "logged.toml"
    path.write_text(TRACKED.format(settings="evry = 2"))
    for verb in ("validate", "train"):
        result = logged(verb, str(path))
        assert result.returncode == 1, result.stderr
        assert "[track.acmelog.evry] unknown parameter `evry` for tracker `acmelog:acmelog`" in result.stderr
        assert "did you mean `every`?" in result.stderr
    path.write_text(TRACKED.format(settings='every = "2"'))
    result = logged("validate", str(path))
    assert result.returncode == 1 and "`every` expects int" in result.stderr, result.stderr


def test_a_data_source_is_named_with_its_plugin(acme, tmp_path):
    path = manifest(tmp_path)
    path.write_text(path.read_text().replace('"acme_shapes:here"', '"acmedata:acme_shapes:here"'))
    result = acme("train", str(path), "-o", str(tmp_path / "out"), "-q")
    assert result.returncode == 0, result.stderr
    card = acme.json("inspect", str(tmp_path / "out" / "acme.safetensors"))
    assert card["manifest"]["train"]["data"] == "acmedata:acme_shapes:here"


# -- the conformance kit ------------------------------------------------------------------------------------------


class Labelled:
    """30 samples of two classes; `bad` has label `wrong`; `listed` lists targets, corrupted at `corrupt`."""

    def __init__(self, bad=-1, wrong=0, corrupt=-1, mode="", nan=-1):
        import numpy as np

        self.bad, self.wrong, self.mode, self.nan = bad, wrong, mode, nan
        self.description = "labelled (30 samples)"
        self.labels = {"label": ["odd", "even"]}
        labels = np.array([self._label(i) for i in range(30)])
        if corrupt >= 0:
            labels[corrupt] = 1 - labels[corrupt]
        self.targets = {"label": labels}

    def _label(self, index):
        return self.wrong if index == self.bad else index % 2

    def __len__(self):
        return 30

    def __getitem__(self, index):
        import numpy as np

        if self.mode:
            from PIL import Image
            return Image.new(self.mode, (9, 7), color=8 * index), {"label": self._label(index)}
        value = np.full((3, 8, 8), index / 30, dtype=np.float32)
        if index == self.nan:
            value[0, 0, 0] = np.nan
        return value, {"label": self._label(index)}


def labelled(bad: int = -1, wrong: int = 0, corrupt: int = -1, mode: str = "", nan: int = -1) -> Labelled:
    """Labelled samples, some of them broken on purpose.

    Args:
        bad: the sample whose label is `wrong`.
        wrong: its label.
        corrupt: the index whose listed target is flipped.
        mode: PIL mode of the images ("" for arrays).
        nan: the sample whose input holds a NaN.
    """
    return Labelled(bad, wrong, corrupt, mode, nan)


def source_entry():
    from flexzoo.plugin.components import Component, RegisteredComponent

    return RegisteredComponent(kind="dataset", plugin="acmedata", component=Component("labelled", labelled))


@pytest.mark.parametrize(("example", "message"), [
    ({"bad": 17, "wrong": 2}, "sample 17: target `label` is class 2, outside the 0..1"),
    ({"corrupt": 11}, "`targets['label']` disagrees with the samples at 1 index(es) (first: sample 11: "
                      "`targets` says 0, the sample 1)"),
    ({"nan": 23}, "sample 23: its input holds NaN or infinite values"),
])
def test_the_kit_reads_every_sample_and_the_listed_targets_of_a_data_source(example, message):
    from flexzoo.testing import check_dataset

    with pytest.raises(AssertionError) as failed:
        check_dataset(source_entry(), (3, 8, 8), example, train=False)
    assert "dataset acmedata:labelled at input_shape [3, 8, 8]" in str(failed.value)
    assert message in str(failed.value)


def test_the_kit_trains_one_epoch_on_grey_images_for_an_rgb_input():
    from flexzoo.testing import check_dataset

    check_dataset(source_entry(), (3, 8, 8), {"mode": "L"})


def test_the_kit_reads_a_large_source_at_a_seeded_thousand_and_both_ends():
    from flexzoo.testing.datasets import EVERY_SAMPLE_UP_TO, checked_indices

    chosen = checked_indices(50_000, seed=3)
    assert chosen == checked_indices(50_000, seed=3) and {0, 49_999} <= set(chosen)
    assert len(chosen) >= EVERY_SAMPLE_UP_TO and checked_indices(999) == list(range(999))


def test_the_kit_checks_a_tracker_through_a_real_run():
    import types

    from flexzoo.plugin.components import Component, RegisteredComponent
    from flexzoo.testing import check_tracker_component

    module = types.ModuleType("acmelog")
    exec(ACME_LOG, module.__dict__)
    good = RegisteredComponent(kind="tracker", plugin="acmelog", component=Component("acmelog", module.acmelog))
    check_tracker_component(good, {"every": 1})

    class Broken(module.Log):
        def epoch_end(self, run, epoch, metrics):
            raise KeyError("validation/accuracy")

    def broken(every: int = 1) -> Broken:
        """A tracker that fails at the end of an epoch.

        Args:
            every: epochs between lines.
        """
        return Broken(every, "")

    bad = RegisteredComponent(kind="tracker", plugin="acmelog", component=Component("acmelog", broken))
    with pytest.raises(Exception, match=r"tracker `acmelog:acmelog` failed in epoch_end: KeyError"):
        check_tracker_component(bad)


OLD_API = ACME_DATA.replace("FLEXZOO_PLUGIN_API = 2", "FLEXZOO_PLUGIN_API = 1")


def test_zoo_plugins_shows_each_plugins_api_and_marks_a_deprecated_one(zoo):
    zoo.install("flexzoo-plugin-acmedata", "1.0.0", {"acmedata": ACME_DATA}, {"acmedata": "acmedata"})
    zoo.install("flexzoo-plugin-oldacme", "0.9.0", {"oldacme": OLD_API}, {"oldacme": "oldacme"})
    listed = {p["name"]: p for p in zoo.json("plugins")}
    assert (listed["acmedata"]["api"], listed["acmedata"]["deprecated_api"]) == (2, False)
    assert (listed["oldacme"]["api"], listed["oldacme"]["deprecated_api"]) == (1, True)
    rows = {line.split()[0]: line for line in zoo("plugins").stdout.splitlines()[1:]}
    assert rows["oldacme"].split()[3:6] == ["1", "(deprecated)", "loaded"]
    assert "plugin API 1 is deprecated" in rows["oldacme"] and rows["acmedata"].split()[3] == "2"

"""`zoo report`: one self-contained HTML page with the card, curves, confusion matrices, compression and exports."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import flexzoo
from flexzoo.cli import main

MANIFEST = """
[model]
name = "reported"
input_shape = [1, 8, 8]

[backbone]
use = "mlp"
widths = [32]

[heads.digit]
use = "linear"
num_classes = 10

[heads.parity]
use = "linear"
num_classes = 2

[[compress]]
use = "prune_l1"
amount = 0.5

[train]
data = "digits"
epochs = 2
batch_size = 128
lr = 0.01

[export]
formats = ["exported-program"]
"""


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sections: dict[str, int] = {}  # h2 title -> number of <svg> under it
        self.fetched: list[str] = []  # anything a browser would load
        self._current = ""
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
        if tag == "svg" and self._current:
            self.sections[self._current] += 1
        if tag in ("script", "img", "link", "iframe") and (attrs.get("src") or attrs.get("href")):
            self.fetched.append(attrs.get("src") or attrs.get("href"))
        if tag == "image" and re.match(r"https?:", attrs.get("xlink:href") or attrs.get("href") or ""):
            self.fetched.append(attrs.get("href"))

    def handle_endtag(self, tag):
        self._in_h2 = False if tag == "h2" else self._in_h2

    def handle_data(self, data):
        if self._in_h2:
            self._current = data
            self.sections[data] = 0


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    (folder / "m.toml").write_text(MANIFEST)
    assert main(["train", str(folder / "m.toml"), "-o", str(folder), "-q"]) == 0
    assert main(["report", str(folder / "reported.safetensors"), "-o", str(folder / "r.html")]) == 0
    text = (folder / "r.html").read_text()
    parser = _Page()
    parser.feed(text)
    return text, parser, folder


@pytest.mark.slow
def test_every_chart_is_inline_and_nothing_is_fetched_at_view_time(page):
    _, parser, _ = page
    assert parser.fetched == []
    assert parser.sections == {"Model card": 0, "Training curves": 1 + 2 * 3, "Confusion matrix (validation split)": 2,
                               "Robustness": 0, "Compression": 3, "Export checks": 0}
    # curves: the loss, then each head's loss, accuracy and macro_f1; compression: size, latency, metrics


@pytest.mark.slow
def test_the_page_holds_the_card_and_a_passed_export_check(page):
    text, _, _ = page
    assert "reported 0.1.0" in text and "compression   prune_l1" in text
    assert re.search(r"<td>exported-program</td><td>passed</td>", text)


@pytest.mark.slow
def test_a_model_and_an_artifact_show_their_card_in_jupyter(page):
    _, _, folder = page
    model = flexzoo.load(folder / "reported.safetensors")
    assert "<strong>reported 0.1.0</strong>" in model._repr_html_()
    assert "compress 0" in model._repr_html_()
    from flexzoo.artifact.format import read_artifact

    assert "input shape   [1, 8, 8]" in read_artifact(folder / "reported.safetensors")._repr_html_()

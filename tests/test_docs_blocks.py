"""Every code block of the documentation runs (tests/docs_blocks.py says how), and a broken one fails."""

from __future__ import annotations

import pytest

import docs_blocks
from docs_blocks import BlockFailed, run_page

PAGES = docs_blocks.pages()
RAN: dict[str, int] = {}


@pytest.mark.processes
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(docs_blocks.DOCS)) for p in PAGES])
def test_every_block_of_the_page_runs(page, tmp_path):
    outcome = run_page(page, tmp_path)
    RAN[page.name] = outcome.ran
    print(f"{page.relative_to(docs_blocks.ROOT)}: {outcome.ran} blocks run, {len(outcome.skipped)} skipped")
    for reason in outcome.skipped:
        print(f"  skipped {reason}")
    assert outcome.ran + len(outcome.skipped) == len([b for b in docs_blocks.blocks(page)
                                                      if b.language in docs_blocks.RUN_LANGUAGES])


def test_the_pages_hold_many_runnable_blocks():
    counted = [b for page in PAGES for b in docs_blocks.blocks(page) if b.language in docs_blocks.RUN_LANGUAGES
               and not b.skip_reason]
    skipped = [b for page in PAGES for b in docs_blocks.blocks(page) if b.skip_reason]
    print(f"{len(counted)} runnable blocks on {len(PAGES)} pages, {len(skipped)} skipped with a reason")
    assert len(counted) >= 40 and len(skipped) <= len(counted) // 3


def _page(tmp_path, text):
    page = tmp_path / "page.md"
    page.write_text(text)
    work = tmp_path / "work"
    work.mkdir()
    return page, work


def test_a_manifest_that_went_stale_fails(tmp_path):
    page, work = _page(tmp_path, '```toml\n[backbone]\nuse = "cnn"\nchanels = [8]\n```\n')
    with pytest.raises(BlockFailed, match=r"page\.md:1: the manifest does not validate"):
        run_page(page, work)


def test_a_command_whose_output_changed_fails(tmp_path):
    page, work = _page(tmp_path, "```console\n$ zoo list backbones cnn\nbackbone  cnn   somebody-else\n```\n")
    with pytest.raises(BlockFailed, match="printed something else"):
        run_page(page, work)


def test_a_python_block_that_raises_fails(tmp_path):
    page, work = _page(tmp_path, "```python\nimport flexzoo\nflexzoo.no_such_function()\n```\n")
    with pytest.raises(BlockFailed, match="raised AttributeError"):
        run_page(page, work)


def test_a_broken_copy_of_a_real_page_fails(tmp_path):
    original = docs_blocks.DOCS / "getting-started" / "first-build.md"
    text = original.read_text().replace("channels = [8, 16]", "channels = [8, 0]", 1)
    page, work = _page(tmp_path, text)
    with pytest.raises(BlockFailed, match="does not validate"):
        run_page(page, work)


def test_a_block_the_runner_cannot_run_must_say_why(tmp_path):
    page, work = _page(tmp_path, "```console\n$ curl http://example.com\n```\n")
    with pytest.raises(BlockFailed, match="does not run `curl`"):
        run_page(page, work)


def test_a_block_showing_a_file_that_holds_something_else_fails(tmp_path):
    page, work = _page(tmp_path, '<!-- docs-test: in pyproject.toml -->\n```toml\n[project]\nname = "acme"\n```\n')
    (work / "pyproject.toml").write_text('[project]\nname = "flexzoo-plugin-acme"\nversion = "0.1.0"\n')
    with pytest.raises(BlockFailed, match=r"pyproject\.toml does not hold what the block shows"):
        run_page(page, work)


def test_pip_install_installs_only_a_local_package(tmp_path):
    page, work = _page(tmp_path, "```console\n$ pip install requests\n```\n")
    with pytest.raises(BlockFailed, match="installs one local package"):
        run_page(page, work)

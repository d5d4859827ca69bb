"""The whole book builds with -W, every chapter executed, with working launch links."""

from __future__ import annotations

import re
from urllib.parse import unquote, urlparse

import pytest
import yaml
from conftest import REPO_ROOT, chapter_notebooks

pytestmark = pytest.mark.book

CHAPTERS = chapter_notebooks()
CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())


def chapter_html(built_book, chapter) -> str:
    path = built_book / chapter.relative_to(REPO_ROOT).with_suffix(".html")
    assert path.exists(), f"{path} was not built"
    return path.read_text()


def test_every_chapter_is_built_executed_and_error_free(built_book):
    for chapter in CHAPTERS:
        html = chapter_html(built_book, chapter)
        assert 'class="cell_output' in html, f"{chapter.stem}: no executed output in the page"
        assert "profile: quick" in html, f"{chapter.stem}: the run context (describe()) is missing"
        for marker in ("Traceback (most recent call last)", 'class="output traceback', 'class="output error'):
            assert marker not in html, f"{chapter.stem}: the page shows an error ({marker})"


def test_sidebar_lists_every_chapter(built_book):
    html = (built_book / "book" / "intro.html").read_text()
    for chapter in CHAPTERS:
        assert f'href="{chapter.stem}.html"' in html, f"{chapter.stem} missing from the sidebar"


def test_colab_links_open_the_chapter_notebook_on_github(built_book):
    owner_repo = urlparse(CONFIG["repository"]["url"]).path.strip("/")
    branch = CONFIG["repository"]["branch"]
    for chapter in CHAPTERS:
        html = chapter_html(built_book, chapter)
        links = set(re.findall(r'href="(https://colab\.research\.google\.com/[^"]+)"', html))
        assert len(links) == 1, f"{chapter.stem}: expected one Colab link, found {links}"
        url = unquote(links.pop())
        prefix = f"https://colab.research.google.com/github/{owner_repo}/blob/{branch}/"
        assert url.startswith(prefix), url
        path_in_repo = url.removeprefix(prefix)
        assert "/./" not in url and not path_in_repo.startswith(("./", "/")), url
        assert (REPO_ROOT / path_in_repo).is_file(), f"Colab link points to a missing file: {path_in_repo}"
        assert path_in_repo == chapter.relative_to(REPO_ROOT).as_posix()


def test_binder_links_open_the_chapter_notebook(built_book):
    owner_repo = urlparse(CONFIG["repository"]["url"]).path.strip("/")
    for chapter in CHAPTERS:
        links = set(re.findall(r'href="(https://mybinder\.org/[^"]+)"', chapter_html(built_book, chapter)))
        assert len(links) == 1, f"{chapter.stem}: expected one Binder link, found {links}"
        url = unquote(links.pop()).replace("&amp;", "&")
        assert url.startswith(f"https://mybinder.org/v2/gh/{owner_repo}/{CONFIG['repository']['branch']}"), url
        target = url.split("urlpath=tree/", 1)[1]
        assert (REPO_ROOT / target).is_file(), f"Binder link points to a missing file: {target}"


def test_binder_environment_files_exist():
    assert "graphviz" in (REPO_ROOT / "apt.txt").read_text().split()
    requirements = (REPO_ROOT / "requirements.txt").read_text()
    for package in ("tensorflow==", "keras==", "jupyter-book==1.0.4", "pydot=="):
        assert package in requirements


def test_training_chapter_learns_imagenette(built_book):
    """On Imagenette the quick profile's AlexNet reaches a top-1 a reader respects (aim 60%)."""
    html = (built_book / "book" / "08_training.html").read_text()
    match = re.search(r"final validation top-1 accuracy: ([\d.]+)% \(chance: ([\d.]+)%\)", html)
    assert match, "08_training.html does not print its final validation accuracy"
    accuracy, chance = (float(value) for value in match.groups())
    assert chance == 10.0, "the training chapter did not run on the ten Imagenette classes"
    assert accuracy >= 55.0, f"validation top-1 {accuracy}% (the quick profile reached 61%)"



def test_the_original_set_up_learns_less_in_the_same_cpu_time(built_book):
    """08 trains the annotated original's set-up and the book's for the same CPU time."""
    html = (built_book / "book" / "08_training.html").read_text()
    text = re.sub(r"<[^>]+>", "", html)
    match = re.search(r"the book.s set-up reaches ([\d.]+)% top-1\s+and the original.s "
                      r"([\d.]+)%", text)
    assert match, "08_training.html does not compare the set-ups in the same CPU time"
    book, original = (float(value) for value in match.groups())
    assert book >= original + 5, f"book's set-up {book}%, the original's {original}%"

# Chapters that load photographs, and the data set their run context must name (02 and 05: below).
REAL_DATA = {"06_data_augmentation": "Imagenette-160", "08_training": "Imagenette-160",
             "09_evaluation": "Imagenette-160", "10_small_data": "Oxford 17 Flowers",
             "11_discussion": "Imagenette-160"}


def test_every_experiment_ran_on_photographs(built_book):
    # 02 and 05 train on Figure 1's data, CIFAR-10, when Keras has it cached, else on Imagenette.
    from helpers.experiments import CIFAR10_CACHE

    figure1_data = "CIFAR-10" if CIFAR10_CACHE.is_dir() else "Imagenette-160"
    expected = {"02_relu_vs_tanh": figure1_data, "05_dropout": figure1_data, **REAL_DATA}
    for chapter, data_set in expected.items():
        html = (built_book / "book" / f"{chapter}.html").read_text()
        # The run context's indented "data:" line, not a chapter title in the sidebar.
        context = re.search(r"^\s+data: ([^\n<]+)", html, re.MULTILINE)
        assert context and data_set in context.group(1), f"{chapter}: ran on {context}"
        assert "Drawn shapes, not photographs" not in html, f"{chapter} shows the drawn set"


def test_the_claims_ledger_lists_what_every_chapter_computed(built_book):
    html = (built_book / "book" / "12_claims_ledger.html").read_text()
    table = html[html.index('<table class="claims-ledger"'):]
    table = table[:table.index("</table>")]
    rows = re.findall(r"<tr>(.*?)</tr>", table, re.DOTALL)[1:]  # after the header
    assert len(rows) >= 40, f"the ledger lists {len(rows)} claims"
    full_profile = []
    for row in rows:
        cells = [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        assert cells[-1] != "not computed in this build", f"not computed: {cells[1]}"
        assert "not executed in this build" not in cells[4], f"not executed: {cells[1]}"
        full_profile.append(cells[5])
    # the full profile's column: the reference run's values where it measured the claim
    assert sum(value != "not measured yet" for value in full_profile) >= 4
    assert any(value.startswith("rate divided by 10 before epochs") for value in full_profile)
    for verdict in ("reproduced", "direction reproduced", "cited only"):
        assert verdict in html

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


def test_training_chapter_learns_well_above_chance(built_book):
    """The quick profile's AlexNet reaches at least 2.5x chance on the validation images."""
    html = (built_book / "book" / "08_training.html").read_text()
    match = re.search(r"final validation top-1 accuracy: ([\d.]+)% \(chance: ([\d.]+)%\)", html)
    assert match, "08_training.html does not print its final validation accuracy"
    accuracy, chance = (float(value) for value in match.groups())
    assert accuracy >= 2.5 * chance, f"validation top-1 {accuracy}% is not well above chance ({chance}%)"

"""The built website, checked as a reader sees it.

The browser tests open every page of the book (built once by the ``built_book`` fixture) in
headless Chromium through Playwright, served over http from 127.0.0.1 (the search page needs
http, not file://). They check that each page loads without console errors, that every image
has loaded, that the sidebar lists every chapter, that search finds a term, and that the Binder
and Colab buttons point at the repository named in ``_config.yml``. A screenshot of each page is
saved under ``test-artifacts/screenshots/``. The internal-link check parses the HTML and needs
no browser.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml
from conftest import CHROMIUM, REPO_ROOT, missing_browser

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
CONFIG = yaml.safe_load((REPO_ROOT / "_config.yml").read_text())
TOC = yaml.safe_load((REPO_ROOT / "_toc.yml").read_text())
# Every page of the table of contents, as its path in the site without ".html" (book/intro, ...).
PAGES = [TOC["root"]] + [chapter["file"] for part in TOC["parts"] for chapter in part["chapters"]]
NOTEBOOK_PAGES = [page for page in PAGES if (REPO_ROOT / f"{page}.ipynb").exists()]
LOCAL_HOST = "127.0.0.1"


# --------------------------------------------------------------------------- serving and browsing


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # keep the test output free of one line per request


@pytest.fixture(scope="module")
def site(built_book: Path) -> Iterator[str]:
    """Serve the built HTML folder on 127.0.0.1 from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer((LOCAL_HOST, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOCAL_HOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium from the system package (no browser download is possible or wanted).

    A session that selects these tests without one stops in its first seconds (``conftest.py``); the same check
    here fails the tests themselves if they run all the same.
    """
    problem = missing_browser()
    if problem:
        pytest.fail(problem)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("", "data", "blob", "about") or parts.hostname == LOCAL_HOST


class _Visit:
    """One page opened in a fresh browser page, with what went wrong while it loaded."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.external_failures: list[str] = []
        # The site references a few resources on other hosts (MathJax and require.js from a CDN,
        # the launch buttons' targets). CI machines may have no network, so every request that
        # leaves 127.0.0.1 is aborted here: the outcome is then the same with and without a
        # network, and the book must work without those resources.
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"uncaught exception: {error}"))
        self.page.on("requestfailed", self._request_failed)
        self.response = self.page.goto(url, wait_until="load", timeout=60_000)

    def _route(self, route) -> None:
        if _is_local(route.request.url):
            route.continue_()
        else:
            route.abort()

    def _request_failed(self, request) -> None:
        if _is_local(request.url):
            self.errors.append(f"failed to load {request.url}: {request.failure}")
        else:
            self.external_failures.append(request.url)

    def _console(self, message) -> None:
        if message.type != "error":
            return
        source = (message.location or {}).get("url", "")
        # A failed load of an external (non-127.0.0.1) resource is expected: we aborted it above
        # and it is what a reader without a network sees. Chromium reports it as a console error
        # "Failed to load resource: ..." located at the external URL. Only those are filtered out;
        # every other console error, and any failed load from the site itself, fails the test.
        if message.text.startswith("Failed to load resource") and source and not _is_local(source):
            return
        self.errors.append(f"console error: {message.text} (at {source})")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, site):
    visits: list[_Visit] = []

    def open_page(path: str) -> _Visit:
        opened = _Visit(browser, f"{site}/{path}")
        visits.append(opened)
        return opened

    yield open_page
    for opened in visits:
        opened.close()


# --------------------------------------------------------------------------- browser tests


@pytest.mark.browser
@pytest.mark.parametrize("page", PAGES)
def test_page_loads_without_errors_and_its_images_load(visit, page):
    opened = visit(f"{page}.html")
    status = opened.response.status if opened.response else None
    assert opened.response is not None and opened.response.ok, f"{page}.html: HTTP {status}"
    opened.page.wait_for_load_state("networkidle")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    opened.page.screenshot(path=str(SCREENSHOTS / f"{Path(page).name}.png"), full_page=True)
    assert not opened.errors, f"{page}.html:\n" + "\n".join(opened.errors)
    images = opened.page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth}))")
    broken = [image["src"] for image in images if _is_local(image["src"]) and image["width"] == 0]
    assert not broken, f"{page}.html: images that did not load: {broken}"


@pytest.mark.browser
def test_chapters_show_their_figures(visit):
    """Chapters that draw a figure show it as a loaded image with alt text or a caption."""
    problems = []
    for page in NOTEBOOK_PAGES:
        opened = visit(f"{page}.html")
        figures = opened.page.eval_on_selector_all(
            "article img",
            """imgs => imgs.map(i => ({
                   src: i.src, width: i.naturalWidth, alt: (i.getAttribute('alt') || '').trim(),
                   caption: (i.closest('figure')?.querySelector('figcaption')?.innerText || '').trim()}))""")
        for number, figure in enumerate(figures, start=1):
            if figure["width"] == 0:
                problems.append(f"{page}.html: figure {number} ({figure['src']}) did not load")
            # An alt text that is only the image's file name describes nothing.
            alt = figure["alt"] if not re.search(r"\.(png|jpe?g|svg)$", figure["alt"]) else ""
            if not (figure["caption"] or alt):
                problems.append(f"{page}.html: figure {number} has neither alt text nor a caption")
    assert not problems, ("\n".join(problems) + "\nGive each figure cell the metadata "
                          "`mystnb: {image: {alt: ...}, figure: {caption: ...}}`.")


@pytest.mark.browser
def test_sidebar_lists_every_chapter(visit):
    opened = visit(f"{PAGES[0]}.html")
    links = opened.page.eval_on_selector_all(
        "nav.bd-docs-nav a.reference.internal", "links => links.map(a => a.getAttribute('href'))")
    listed = {Path(urlsplit(href).path).stem for href in links}
    missing = [page for page in PAGES[1:] if Path(page).name not in listed]
    assert not missing, f"the sidebar does not list: {missing} (it lists {sorted(listed)})"


@pytest.mark.browser
def test_search_finds_lrn(visit):
    opened = visit("search.html?q=LRN")
    opened.page.wait_for_selector("#search-results ul.search li", timeout=30_000)
    hits = opened.page.eval_on_selector_all(
        "#search-results ul.search li a", "links => links.map(a => a.getAttribute('href'))")
    found = any("04_local_response_normalization" in href for href in hits)
    assert found, f"search for LRN did not find the LRN chapter, only {hits}"
    assert not opened.errors, "\n".join(opened.errors)


@pytest.mark.browser
@pytest.mark.parametrize("page", NOTEBOOK_PAGES[:1] + NOTEBOOK_PAGES[-1:])
def test_binder_and_colab_buttons_open_this_notebook(visit, page):
    opened = visit(f"{page}.html")
    repository = urlsplit(CONFIG["repository"]["url"]).path.strip("/")
    branch = CONFIG["repository"]["branch"]
    notebook = f"{page}.ipynb"
    expected = {
        "Binder": f"https://mybinder.org/v2/gh/{repository}/{branch}?urlpath=tree/{notebook}",
        "Colab": f"https://colab.research.google.com/github/{repository}/blob/{branch}/{notebook}",
    }
    hrefs = opened.page.eval_on_selector_all("a", "links => links.map(a => a.href)")
    for name, target in expected.items():
        assert target in hrefs, f"{page}.html: no {name} button to {target}"


@pytest.mark.browser
@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_set_up_code_is_hidden(visit, page):
    """The bootstrap cell (tag remove-cell) is not on the page; the first visible code is the run context."""
    opened = visit(f"{page}.html")
    text = opened.page.inner_text("article")
    assert "google.colab" not in text, f"{page}.html shows the set-up cell"
    assert "profile:" in text, f"{page}.html does not show the run context (show_context)"


@pytest.mark.browser
def test_code_never_scrolls_sideways_at_1280_px(visit):
    """Every code block (inputs, outputs, shown helper source) fits the content column."""
    wide = []
    for page in NOTEBOOK_PAGES:
        opened = visit(f"{page}.html")
        wide += [f"{page}.html: {block}" for block in opened.page.eval_on_selector_all(
            "article pre",
            """blocks => blocks.filter(b => b.scrollWidth > b.clientWidth + 1)
                              .map(b => b.innerText.split('\\n').sort((x, y) => y.length - x.length)[0])""")]
    assert not wide, "code blocks wider than the column (their longest line):\n" + "\n".join(wide)


# Where each chapter puts the helper code it teaches on the page (issue: code on the page).
SHOWN_CODE = {
    "03_convolution_shapes": ["def conv2d(", "def max_pool2d("],
    "04_local_response_normalization": ["def local_response_normalization(", "def band_matrix("],
    "05_dropout": ["def dropout("],
    "06_data_augmentation": ["def augment_batch(", "def pca_color_shift("],
    "07_model": ["def build_alexnet("],
    "08_training": ["def update_step(", "def update(self"],
    "09_evaluation": ["def top_k_accuracy(", "def predict_ten_view("],
}


@pytest.mark.browser
@pytest.mark.parametrize("chapter", sorted(SHOWN_CODE))
def test_the_code_being_taught_is_on_the_page(visit, chapter):
    opened = visit(f"book/{chapter}.html")
    text = opened.page.inner_text("article")
    missing = [code for code in SHOWN_CODE[chapter] if code not in text]
    assert not missing, f"{chapter}.html does not show {missing}"


# --------------------------------------------------------------------------- internal links


class _LinkCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("name"):
            self.ids.add(values["name"])
        for attribute in ("href", "src"):
            hint = tag == "link" and values.get("rel") in ("preconnect", "dns-prefetch")
            if values.get(attribute) and not hint:
                self.links.append(values[attribute])


@functools.cache
def _parse(path: Path) -> _LinkCollector:
    collector = _LinkCollector()
    collector.feed(path.read_text(encoding="utf-8", errors="replace"))
    return collector


def broken_internal_links(html_root: Path) -> list[str]:
    """Every relative link or image of every page that points at a missing file or anchor.

    External links (http, https, mailto, ...) are not fetched: CI has no network. Files under
    ``_static/`` are the theme's assets (some are Jinja macro files named ``.html``), not pages.
    """
    broken = []
    for page in sorted(html_root.rglob("*.html")):
        if "_static" in page.relative_to(html_root).parts:
            continue
        for link in _parse(page).links:
            parts = urlsplit(link)
            if parts.scheme or parts.netloc or link.startswith("javascript:"):
                continue
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = f"{page.relative_to(html_root)}: {link}"
            if not target.exists():
                broken.append(f"{where} (no file {target})")
            elif (parts.fragment and target.suffix == ".html"
                  and unquote(parts.fragment) not in _parse(target).ids):
                broken.append(f"{where} (no anchor #{parts.fragment})")
    return broken


def test_broken_internal_links_are_detected(tmp_path):
    (tmp_path / "a.html").write_text(
        '<a href="b.html#there">ok</a><a href="c.html">missing</a><a href="#nowhere">x</a>'
        '<a href="https://example.org/">external</a><h1 id="top"></h1>')
    (tmp_path / "b.html").write_text('<p id="there"></p>')
    assert broken_internal_links(tmp_path) == [
        f"a.html: c.html (no file {tmp_path / 'c.html'})",
        "a.html: #nowhere (no anchor #nowhere)",
    ]


@pytest.mark.book
def test_every_internal_link_resolves(built_book):
    broken = broken_internal_links(built_book)
    assert not broken, f"{len(broken)} broken internal links:\n" + "\n".join(broken[:50])

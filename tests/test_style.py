"""The book's code lints clean (ruff): helpers, chapters, scripts and tests.

The chapters (``book/*.ipynb``, which ruff reads as notebooks) and the helpers shown on
the pages follow ``book/ruff.toml``: at most 88 characters a line, the width of the site's
code column; the rest of the repository follows ``pyproject.toml``.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess

from conftest import REPO_ROOT, chapter_notebooks


def test_ruff_passes_on_chapters_helpers_scripts_and_tests():
    ruff = shutil.which("ruff")
    assert ruff, "ruff is missing: pip install -r requirements.txt"
    paths = ["book", "data_scripts", "tests"]
    result = subprocess.run([ruff, "check", *paths], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_reads_the_chapters():
    """Guard against a configuration that silently skips the notebooks."""
    ruff = shutil.which("ruff")
    listed = subprocess.run([ruff, "check", "book", "--show-files"], cwd=REPO_ROOT,
                            capture_output=True, text=True).stdout
    for chapter in chapter_notebooks():
        assert chapter.name in listed, f"ruff does not check {chapter.name}"


def test_chapter_code_fits_the_column():
    long = [f"{chapter.name}: {line}" for chapter in chapter_notebooks()
            for cell in json.loads(chapter.read_text())["cells"] if cell["cell_type"] == "code"
            for line in "".join(cell["source"]).splitlines() if len(line) > 88]
    assert not long, "code lines over 88 characters:\n" + "\n".join(long)


def _helper_modules() -> dict[str, str]:
    """Each helper module's file name and docstring."""
    folder = REPO_ROOT / "book" / "helpers"
    return {p.name: ast.get_docstring(ast.parse(p.read_text())) or ""
            for p in sorted(folder.glob("*.py")) if p.name != "__init__.py"}


def test_each_helper_names_its_existing_tests_and_chapters():
    """A helper's docstring links to its tests and chapters, and the links resolve."""
    problems = []
    for name, doc in _helper_modules().items():
        tests = re.findall(r"tests/[\w/]+\.py", doc)
        chapters = re.findall(r"book/\d\d_\w+\.ipynb", doc)
        if not tests:
            problems.append(f"{name}: its docstring names no test file")
        problems += [f"{name}: names {path}, which does not exist"
                     for path in tests + chapters if not (REPO_ROOT / path).exists()]
    assert not problems, "\n".join(problems)


def test_the_readme_table_lists_every_helper():
    readme = (REPO_ROOT / "README.md").read_text()
    helper_cells = {name for row in readme.splitlines() if row.startswith("| ")
                    for name in re.findall(r"`(\w+\.py)`", row.split("|")[2])}
    missing = [name for name in _helper_modules() if name not in helper_cells]
    assert not missing, f"README's concept → helper table lacks {missing}"


def _imports(chapter: str, module: str) -> bool:
    """Whether a chapter's source imports ``helpers.<module>`` or a name it defines."""
    if f"helpers.{module} import" in chapter or f"import helpers.{module}" in chapter:
        return True
    tree = ast.parse((REPO_ROOT / "book" / "helpers" / f"{module}.py").read_text())
    defined = {node.name for node in tree.body
               if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    imported = re.findall(r"from helpers import ([\w, ]+)", chapter)
    return any(name.strip() in defined for line in imported for name in line.split(","))


def test_the_readme_table_names_chapters_that_use_the_helper():
    """Each chapter in a row's "taught in" column imports one of the row's helpers."""
    readme = (REPO_ROOT / "README.md").read_text()
    chapters = {path.name[:2]: path.read_text() for path in chapter_notebooks()}
    wrong = []
    for row in readme.splitlines():
        cells = row.split("|")
        modules = re.findall(r"`(\w+)\.py`", cells[2]) if row.startswith("| ") else []
        if not modules or cells[2].strip().startswith("helper"):
            continue
        named = (list(chapters) if "every chapter" == cells[4].strip()
                 else re.findall(r"\b\d\d\b", cells[4]))
        wrong += [f"{number}: {modules}" for number in named
                  if not any(_imports(chapters[number], module) for module in modules)]
    assert not wrong, f"chapters that import none of their row's helpers: {wrong}"

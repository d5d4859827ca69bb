"""Small fixes to the HTML theme stack: no console errors, code that fits the column."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STATIC = Path(__file__).parent / "static"


def _unique_scripts(app: Any, pagename: str, templatename: str, context: dict,
                    doctree: Any) -> None:
    """Drop repeated inline scripts: sphinx-thebe 0.3 registers its configuration
    snippet twice under Sphinx 7 (once with filename None, once ''), and the second
    `const` declaration throws "Identifier 'THEBE_JS_URL' has already been declared"."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in scripts:
        attributes = repr(sorted(getattr(script, "attributes", {}).items()))
        key = (getattr(script, "filename", None) or "", attributes)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _add_static(app: Any) -> None:
    app.config.html_static_path.append(str(STATIC))


def setup(app: Any) -> dict[str, Any]:
    app.connect("html-page-context", _unique_scripts)
    app.connect("builder-inited", _add_static)
    app.add_css_file("code-column.css")  # 88-character code lines fit at 1280 px
    return {"parallel_read_safe": True, "parallel_write_safe": True}

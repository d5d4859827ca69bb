"""Putting the book's own code and context on the page.

``show_source(obj)`` renders the source of a helper function or class where the chapter
teaches it (on the website, in Jupyter and on Colab alike), so that the code being
annotated is read, not only imported. ``show_context`` prints the run context every
chapter opens with and, when the evidence comes from the drawn offline set instead of
photographs, says so in a visible warning box. ``glue`` hands a computed number to the
page's prose (myst-nb's ``{glue:text}``), as a plain Python number.

Used by every chapter; checked by ``tests/portable/test_show.py``.
"""

from __future__ import annotations

import ast
import html
import inspect
import textwrap
from typing import Any

import numpy as np
from IPython.display import HTML, Code, display

from helpers.profile import EPOCH_CAP_VARIABLE, Profile, describe, get_profile

DRAWN_DATA_WARNING = (
    "These results come from the offline set of drawn shapes, not from photographs: "
    "no real images were found and none could be downloaded. Their accuracies say "
    "nothing about ImageNet. Install Imagenette with `python -m "
    "data_scripts.download_imagenette --variant 160` and build again."
)
DRY_RUN_WARNING = (
    "{variable}={cap} caps every experiment at {cap} epoch(s): this build checks that "
    "the profile's code runs (its image sizes, batches and models), and its numbers "
    "say nothing about the paper. Unset {variable} for the real experiments."
)


def source_of(obj: Any, *, skip_docstring: bool = False) -> str:
    """The source of a function, class or method, dedented (optionally no docstring)."""
    text = textwrap.dedent(inspect.getsource(obj))
    definition = ast.parse(text).body[0]
    if not skip_docstring or ast.get_docstring(definition) is None:
        return text
    docstring = definition.body[0]  # the expression statement holding the string
    lines = text.splitlines(keepends=True)
    return "".join(lines[:docstring.lineno - 1] + lines[docstring.end_lineno:])


def show_source(*objects: Any, skip_docstring: bool = False) -> Code:
    """The source of ``objects`` (functions, classes, methods) in one code block."""
    sources = [source_of(o, skip_docstring=skip_docstring) for o in objects]
    return Code("\n\n".join(sources), language="python")


def show_context(data: Any = None, profile: Profile | None = None) -> None:
    """Print the run context (profile, device, versions, data); warn on drawn data and
    on a dry run (``ALEXNET_MAX_EPOCHS``).

    ``data``: a ``DataSource`` (its description is printed), a description string, or
    ``None`` for a chapter that loads no data set.
    """
    profile = profile or get_profile()
    description = getattr(data, "description", data)
    print(describe(**({"data": description} if description else {}), profile=profile))
    if getattr(data, "is_real", True) is False:
        display_warning("Drawn shapes, not photographs", DRAWN_DATA_WARNING)
    if profile.epoch_cap:
        display_warning("A dry run, not the experiment", DRY_RUN_WARNING.format(
            cap=profile.epoch_cap, variable=EPOCH_CAP_VARIABLE))


def display_warning(title: str, text: str) -> None:
    """Show a warning box that renders alike on the site, in Jupyter and on Colab."""
    heading = f'<p class="admonition-title">{html.escape(title)}</p>'
    body = f"<p>{html.escape(text)}</p>"
    display(HTML(f'<div class="admonition warning">{heading}{body}</div>'))


def glue(name: str, value: Any, display: bool = False) -> None:
    """Give ``value`` to the prose (``{glue:text}`name```) as a plain Python number.

    myst-nb formats glued numbers from their text form, which for a NumPy scalar reads
    ``np.float64(...)``. Outside a book build (Colab, Jupyter) there is nothing to glue.
    """
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # not building the book: the prose is not rendered here
        return
    plain = value.item() if isinstance(value, np.generic) else value
    myst_glue(name, plain, display=display)

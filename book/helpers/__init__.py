"""Shared code for *The Annotated AlexNet*.

One module per concept: ``profile`` (runtime profiles and the run context),
``seeding`` (reproducibility), ``paths`` (where data and artefacts live), and the
modules the chapters add (``layers``, ``shapes``, ``model``, ``data``, ``train``,
``evaluate``, ``plots``). Chapters import them from the book's folder; tests import
them through pytest's ``pythonpath``.
"""

from helpers.profile import Profile, describe, get_profile
from helpers.seeding import set_seed

__all__ = ["Profile", "describe", "get_profile", "set_seed"]

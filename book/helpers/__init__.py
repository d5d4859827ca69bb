"""Shared code for *The Annotated AlexNet*: one module per concept.

- the run: ``profile`` (profiles, precision, the run context), ``seeding``, ``paths``
  (where data and artefacts live), ``show`` (code and numbers on the page), ``timing``;
- the network: ``layers`` (NumPy references), ``shapes`` (the architecture table and
  its output sizes), ``lrn``, ``model``, ``distribute`` (two devices, data parallelism);
- the data: ``datasets`` (finding a data set), ``data`` (decoding, batches),
  ``augment``;
- training: ``optim`` (the paper's SGD and schedule), ``train``, ``checkpoints``;
- the paper's experiments: ``experiments`` (small CNNs), ``saturation``,
  ``thresholds`` and ``figure1_study`` (Figure 1), ``ablation``, ``reference_run``
  (the full profile's runs on record);
- the results: ``evaluate``, ``plots``, ``claims`` (the claims ledger).

``pip install -e .`` (a line of ``requirements.txt``) installs the package, so that the
chapters, the tests and the scripts ``import helpers`` from anywhere.
"""

from helpers.profile import Profile, describe, get_profile
from helpers.seeding import set_seed

__all__ = ["Profile", "describe", "get_profile", "set_seed"]

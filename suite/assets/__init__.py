"""The files the installed suite carries (package data, in every wheel).

- ``selfie_general.npz``, ``selfie_landscape.npz``: the ``person`` presets'
  weights (:mod:`suite.unet.presets`), converted by the repository's
  ``assets/convert_selfie.py``.
- ``photos/``, ``styles/`` and ``demo_unet.keras``: the bundled photos,
  artworks and demo U-Net that ``suite serve`` offers first.

In a source checkout the repository's ``assets/photos``, ``assets/styles`` and
``assets/demo_unet.keras`` are links to these, so the README's commands keep
their paths. Attribution: the repository's ``assets/ATTRIBUTION.md``.
"""

from pathlib import Path

#: This folder, wherever the suite is installed.
FOLDER = Path(__file__).resolve().parent

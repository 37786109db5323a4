"""What people see: the CLI helpers (:mod:`~suite.common.ui.cli`), progress bars and tables,
pictures (activation grids, labelled rows, layer features) and the mask palette.

Layer rule: the top layer; may import nn, io and the ``suite.common`` basics.
"""

"""Images and files on disk: :mod:`~suite.common.io.images` (reading, listing, saving pictures)
and :mod:`~suite.common.io.atomic` (atomic writes, JSON, output folders).

Layer rule: imports only the ``suite.common`` basics (options, log, device), never nn or ui.
"""

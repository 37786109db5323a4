"""Model parts shared by the tasks: backbones and their weights, layers, Magenta's embedded
networks, conv arithmetic, and safe loading of saved models (:mod:`~suite.common.nn.saving`).

Layer rule: imports io and the ``suite.common`` basics, never ui. Importing this package
does not import Keras; its modules do.
"""

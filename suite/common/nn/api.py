"""One decorator that makes a class public and Keras-serializable.

Registering under ``package="suite"`` lets ``keras.saving.load_model`` rebuild
suite layers and losses without ``custom_objects``, the way keras-hub's
``api_export`` does for its symbols.
"""

import keras

PACKAGE = "suite"


def suite_export(cls):
    """Registers ``cls`` as ``suite>ClassName`` for Keras serialization.

    Args:
        cls: A Keras layer, loss, metric or model class.

    Returns:
        The same class, registered.
    """
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)

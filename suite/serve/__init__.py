"""``suite serve``: a local web page to stylize and segment photos over the suite's public functions.

:func:`create_app` (:mod:`suite.serve.app`) builds the Flask app; ``suite serve``
runs it on 127.0.0.1 by default. Needs the ``serve`` extra (``pip install -e ".[serve]"``).
"""


def create_app(*args, **kwargs):
    """See :func:`suite.serve.app.create_app` (imported lazily: Flask is an optional extra)."""
    from suite.serve.app import create_app as _create_app

    return _create_app(*args, **kwargs)


__all__ = ["create_app"]

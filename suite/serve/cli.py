"""``suite serve``: runs :func:`suite.serve.app.create_app` on a local address."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

import click

from suite.common.options import finite_float
from suite.common.ui.cli import compute_options, output_options

# Mirrors suite.serve.app's defaults without importing Flask at `suite --help` time.
_DEF_MAX_UPLOAD_MB = 20
_DEF_MAX_PIXELS = 40_000_000
_DEF_MAX_SIZE = 1024
_DEF_MAX_CLIP_SECONDS = 20.0


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _make_server(make_server, host, port, app):
    """Werkzeug's server; its two-line report of a busy port (printed, then ``sys.exit(1)``) becomes one line."""
    import contextlib
    import io

    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said):
            server = make_server(host, port, app, threaded=True)
    except SystemExit:
        text = said.getvalue()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        reason = "in use by another program" if "in use" in text else (lines[0] if lines else "cannot listen")
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {reason}; stop that program or pass another --port"
        ) from None
    if said.getvalue().strip():  # anything else werkzeug said on the way: shown as it was
        click.echo(said.getvalue().rstrip("\n"), err=True)
    return server


@click.command()
@click.argument("folders", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Only this machine can reach 127.0.0.1; 0.0.0.0 opens the page to the network.",
)
@click.option(
    "--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0 = any free port)."
)
@click.option(
    "--max-upload-mb",
    default=_DEF_MAX_UPLOAD_MB,
    show_default=True,
    type=finite_float(0.01, 4096),
    help="Largest upload accepted, in megabytes.",
)
@click.option(
    "--max-pixels",
    default=_DEF_MAX_PIXELS,
    show_default=True,
    type=click.IntRange(1, None),
    help="Largest image (or clip frame) accepted, in pixels (width x height).",
)
@click.option(
    "--max-clip-seconds",
    default=_DEF_MAX_CLIP_SECONDS,
    show_default=True,
    type=finite_float(0.1, 3600),
    help="Longest clip accepted, in seconds (clips need the 'video' extra, PyAV).",
)
@click.option(
    "--max-size",
    default=_DEF_MAX_SIZE,
    show_default=True,
    type=click.IntRange(16, 8192),
    help="Largest style-transfer output side a page may ask for.",
)
@output_options(json_output=False)
@compute_options
def serve(folders, host, port, max_upload_mb, max_pixels, max_clip_seconds, max_size):
    """A local web page to stylize photos and short clips and to segment photos: http://127.0.0.1:8765/.

    FOLDERS (optional) are offered on the pages next to the bundled assets: their
    images as photos and artworks, their videos as clips, their .keras files as segmentation models. The
    page can read nothing outside them. Jobs run one at a time; Ctrl-C stops.

    \b
    Example:
      suite serve                 # bundled photos, artworks and the demo U-Net
      suite serve ~/Pictures models/
    """
    try:
        from werkzeug.serving import make_server

        from suite.serve.app import create_app
    except ModuleNotFoundError as e:
        raise click.ClickException(
            f"suite serve needs the 'serve' extra ({e.name} is missing): pip install -e \".[serve]\""
        ) from None
    if not _is_loopback(host):
        click.echo(
            f"warning: listening on {host}: anyone who can reach this machine can use the page "
            "(and its CPU); there is no login.",
            err=True,
        )
    from suite.common.log import VERBOSE, verbosity

    # One line per request (thumbnails, event streams) would bury the messages that matter; -v shows them.
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbosity() == VERBOSE else logging.WARNING)
    app = create_app(
        folders,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels,
        max_size=max_size,
        max_clip_seconds=max_clip_seconds,
    )
    # make_server rather than app.run: no development-server banner; a port in use is our one line.
    server = _make_server(make_server, host, port, app)
    from suite.common.ui.cli import INTERRUPT_HINT

    click.get_current_context().meta[INTERRUPT_HINT] = "suite serve stopped."
    if _is_loopback(host):
        # Only the loopback names are expected in the Host header (no DNS rebinding to this port).
        port_s = server.server_port
        app.config["SUITE_ALLOWED_HOSTS"] = {f"{h}:{port_s}" for h in ("127.0.0.1", "localhost", "[::1]", host.lower())}
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"suite serve: http://{shown}:{server.server_port}/  (Ctrl-C stops)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        click.echo("\nstopped", err=True)
    finally:
        server.server_close()


#: The commands ``suite/cli.py`` adds to the ``suite`` group.
COMMANDS = (serve,)

"""`upscaler explore`: the live model explorer, a local web app (optional extra)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
from typing import Any

from upscaler.errors import UpscalerError

logger = logging.getLogger("upscaler.explore")


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be a number, got {text!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port must be in 1..65535, got {port}")
    return port


def register(sub: Any) -> None:
    """Add `upscaler explore`."""
    exp = sub.add_parser(
        "explore",
        help="open the live model explorer (needs the 'explore' extra)",
        description="A local web app: pick attributes, see the resolver's answer live, run "
        "the upscale with a before/after slider, and copy the exact Upscaler(...) code and "
        "`upscaler upscale` command. Needs: pip install 'upscaler[explore]'.",
    )
    exp.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only)",
    )
    exp.add_argument(
        "--port",
        type=_port,
        default=None,
        help="port to listen on (default: the first free one from 7860)",
    )
    exp.add_argument("--no-browser", action="store_true", help="do not open a browser tab on start")
    exp.set_defaults(handler=cmd_explore)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _announce(url: str) -> None:
    print(f"serving the explorer on {url} (Ctrl+C stops it)", flush=True)


def cmd_explore(args: argparse.Namespace) -> int:
    """Serve the explorer until interrupted."""
    from upscaler.explore.app import import_gradio, launch

    import_gradio()  # a missing extra fails here, before anything else happens
    if not _is_loopback(args.host):
        logger.warning(
            "binding to %s: anyone who can reach this machine can use the explorer", args.host
        )
    try:
        launch(
            host=args.host,
            port=args.port,
            open_browser=not args.no_browser,
            announce=_announce,
        )
    except OSError as exc:  # Gradio's "Cannot find empty port", or a bad --host
        raise UpscalerError(
            f"cannot serve the explorer on {args.host}: {exc}",
            hint="pick another --port (or leave it out to take the first free one from 7860)",
        ) from exc
    return 0

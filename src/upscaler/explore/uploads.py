"""What the explorer's web server lets in: request bodies of bounded size, and uploads
that are images within the pixel limit.

Gradio stores an upload on disk and hands the page its path; nothing looks at the file
until a run opens it. A 12000x12000 PNG of a few hundred kilobytes then cost 45 s and
6.4 GB of server memory, and an upload above ``UPSCALER_MAX_PIXELS`` was upscaled anyway
(issue 29). :class:`UploadGuard`, an ASGI middleware in front of Gradio's routes, closes
both doors:

* **Bodies.** A request whose ``Content-Length`` exceeds its limit is answered 413 before
  a byte of it is read; a body without one (chunked) is counted as it streams and cut off
  at the limit. An upload may be as large as a file the CLI would read
  (:func:`~upscaler.runtime.image_io.max_file_bytes`; Gradio streams it to disk and stops
  at the same size, see :func:`upload_limit`); every other request is a small JSON
  message, limited to :data:`OTHER_BODY_BYTES` because Gradio reads those into memory.
* **Uploads.** Each file of an upload is checked from its header, as the CLI checks its
  inputs (:func:`~upscaler.runtime.image_io.check_image_file`): not an image, too many
  pixels or frames is answered 413 or 422 with a message naming the file, its size, the
  limit and ``UPSCALER_MAX_PIXELS``, and the file is deleted. The browser shows that
  message where the upload failed.

The page's own run handlers decode through the same guarded decoder, so an image that
reaches them some other way (an API client, a limit lowered since) is refused there too.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

from python_multipart.exceptions import MultipartParseError

from upscaler import settings
from upscaler.errors import ImageError

logger = logging.getLogger("upscaler.explore")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OTHER_BODY_BYTES = 16 << 20
"""The largest request body other than an upload: Gradio's event messages carry file
paths, not files, and are a few kilobytes; it reads them whole into memory."""
_MULTIPART_SLACK = 1 << 20  # form boundaries and part headers around the one file
UPLOAD_SUFFIX = "/upload"  # Gradio's upload route, under its API prefix (/gradio_api)


def upload_limit() -> int:
    """The largest file an upload may be: the largest the CLI reads for an image within
    the pixel limit, read at call time like the limit itself."""
    from upscaler.runtime.image_io import max_file_bytes

    return max_file_bytes(None)


def _is_upload(scope: Scope) -> bool:
    return str(scope.get("path", "")).rstrip("/").endswith(UPLOAD_SUFFIX)


def body_limit(scope: Scope) -> int:
    """The largest body this request may carry (see the module docstring)."""
    return upload_limit() + _MULTIPART_SLACK if _is_upload(scope) else OTHER_BODY_BYTES


def _mib(size: int) -> str:
    return f"{size / (1 << 20):,.0f} MiB"


def _too_large_message(scope: Scope, size: int | None) -> str:
    limit = body_limit(scope)
    said = f" of {_mib(size)}" if size is not None else ""
    if _is_upload(scope):
        return (
            f"the upload{said} is larger than any image within the pixel limit can be "
            f"({_mib(limit)}); restart upscaler explore with a higher "
            f"{settings.ENV_MAX_PIXELS} for larger images"
        )
    return (
        f"the request body{said} is larger than the {_mib(limit)} the explorer accepts "
        "outside file uploads; send images as uploads (Gradio's /upload route)"
    )


class BodyTooLarge(MultipartParseError):
    """Raised from ``receive`` once a streamed body passes its limit.

    A multipart parse error, because Gradio's upload parser catches those and deletes the
    partial files it has stored; from any other route it reaches :class:`UploadGuard`.
    """


def check_upload(path: Path) -> None:
    """Refuse an uploaded file that is no image we would upscale, from its header alone;
    the message names the file by its uploaded name and says how to raise the limit."""
    try:
        from upscaler.runtime.image_io import check_image_file

        check_image_file(path, label=path.name)
    except ImageError as exc:
        if settings.ENV_MAX_PIXELS in (exc.hint or ""):
            raise ImageError(
                exc.message,
                hint=f"upload a smaller image, or restart upscaler explore with a higher "
                f"{settings.ENV_MAX_PIXELS} (now {settings.max_pixels():,})",
            ) from None
        raise


def refusal_status(exc: ImageError) -> int:
    """413 (Content Too Large, RFC 9110 section 15.5.14) for an image over the limit,
    422 (Unprocessable Content) for anything else about its content."""
    return 413 if settings.ENV_MAX_PIXELS in (exc.hint or "") else 422


def _remove(path: Path) -> None:
    """Delete a refused upload and the per-upload folder Gradio made for it, if empty."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        logger.warning("could not delete the refused upload %s: %s", path, exc)
    with contextlib.suppress(OSError):  # not empty: the same bytes under another name
        path.parent.rmdir()


async def _answer(send: Send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _declared_length(scope: Scope) -> int | str | None:
    """The Content-Length header as a number, None without one, or why it is unusable."""
    values = [v for k, v in scope.get("headers", []) if k.lower() == b"content-length"]
    if not values:
        return None
    if len(set(values)) > 1:
        return "the request has several different Content-Length headers"
    text = values[0].decode("latin-1").strip()
    if not text.isdigit():
        return f"the Content-Length header {text[:40]!r} is not a number of bytes"
    return int(text)


class UploadGuard:
    """ASGI middleware: bounded request bodies, and uploads that are images within the
    pixel limit (see the module docstring). ``check`` is :func:`check_upload`."""

    def __init__(self, app: ASGIApp, check: Callable[[Path], None] = check_upload) -> None:
        self.app = app
        self.check = check

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(scope)
        declared = _declared_length(scope)
        if isinstance(declared, str):
            await _answer(send, 400, declared)
            return
        if declared is not None and declared > limit:
            logger.warning("refused a %d-byte body to %s", declared, scope.get("path"))
            await _answer(send, 413, _too_large_message(scope, declared))
            return
        state = {"read": 0, "over": False, "started": False}

        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True
                    raise BodyTooLarge(f"request body over {limit} bytes")
            return message

        async def guarded(message: Message) -> None:
            if state["over"]:
                return  # the app's answer to a body it never got whole: ours goes instead
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        if _is_upload(scope) and scope.get("method") == "POST":
            await self._upload(scope, counted, guarded)
        else:
            with contextlib.suppress(BodyTooLarge):
                await self.app(scope, counted, guarded)
        if state["over"] and not state["started"]:
            logger.warning("refused a streamed body over %d bytes to %s", limit, scope["path"])
            await _answer(send, 413, _too_large_message(scope, None))

    async def _upload(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run Gradio's upload route with its answer held back until every stored file
        has passed :attr:`check`; a refused upload is deleted and answered 413/422.
        ``send`` is the guarded one: after a body over the limit it lets nothing through,
        and the caller answers 413."""
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        try:
            await self.app(scope, receive, hold)
        except BodyTooLarge:
            return
        start = next((m for m in held if m["type"] == "http.response.start"), None)
        if start is not None and start["status"] == 413:
            # Gradio stopped a streamed file at max_file_size; say why the limit is what it is
            logger.warning("stopped a streamed upload at the %d-byte file limit", upload_limit())
            await _answer(send, 413, _too_large_message(scope, None))
            return
        if start is None or start["status"] != 200:
            for message in held:
                await send(message)
            return
        body = b"".join(m.get("body", b"") for m in held if m["type"] == "http.response.body")
        stored = [Path(p) for p in json.loads(body)]
        from starlette.concurrency import run_in_threadpool

        for path in stored:
            try:
                await run_in_threadpool(self.check, path)
            except ImageError as exc:
                for each in stored:
                    await run_in_threadpool(_remove, each)
                logger.warning("refused the upload %s: %s", path.name, exc)
                await _answer(send, refusal_status(exc), str(exc))
                return
        for message in held:
            await send(message)


def server_options() -> dict[str, Any]:
    """What ``Blocks.launch`` needs for the guard: Gradio's own per-file limit (it stops
    a streamed upload at that size and shows the limit in the page before sending) and
    the middleware itself."""
    from starlette.middleware import Middleware

    return {
        "max_file_size": upload_limit(),
        "app_kwargs": {"middleware": [Middleware(UploadGuard)]},
    }


@contextlib.contextmanager
def pillow_limit_lifted() -> Iterator[None]:
    """Let Pillow open what UPSCALER_MAX_PIXELS allows, while the server runs. Gradio
    opens every uploaded image with Pillow before a handler sees it, and Pillow refuses
    anything above twice its own default limit (about 179 MP) outright; uploads above
    ours never get that far (:func:`check_upload`), so ours is the one that counts.
    Pillow's limit is process-wide, so it is put back when the server stops."""
    from PIL import Image

    previous = Image.MAX_IMAGE_PIXELS
    ours = settings.max_pixels()
    if previous is not None and previous < ours:
        Image.MAX_IMAGE_PIXELS = ours
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


__all__ = [
    "OTHER_BODY_BYTES",
    "UploadGuard",
    "check_upload",
    "pillow_limit_lifted",
    "server_options",
    "upload_limit",
]

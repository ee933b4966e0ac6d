"""Hostile uploads to the explorer (issue 29, item 10 and its siblings).

Most cases talk HTTP to a real ``upscaler explore`` (a subprocess on a loopback port,
the tiny local catalog, ``UPSCALER_MAX_PIXELS=1000000``): the 4xx answers, the messages
and what is left in Gradio's upload folder are what a browser or an API client meets.
The cases about decoding run the explorer's handlers in this process, where a spy can
tell whether a pixel was decoded.
"""

from __future__ import annotations

import io
import json
import os
import select
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from upscaler.catalog import Catalog, load_catalog
from upscaler.errors import ImageError

gradio = pytest.importorskip("gradio", reason="the explorer needs the explore extra")

from explore import explore_tiny_catalog as swap_catalog  # noqa: E402 (after the skip)

LIMIT = 1_000_000  # the server's UPSCALER_MAX_PIXELS
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


# ------------------------------------------------------------------------ files


def png_bytes(pixels: np.ndarray, **params: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", **params)
    return buffer.getvalue()


def flat_png(width: int, height: int, value: int = 9) -> bytes:
    """A real PNG of one gray value: a few kilobytes however many pixels it has."""
    return png_bytes(np.full((height, width), value, np.uint8))


def noise(height: int, width: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")


def gray_bomb(side: int) -> bytes:
    """A valid side x side 8-bit gray PNG of zeros: every row is there, deflated, so a
    decoder that starts on it really allocates side² bytes (12000 → 144 MB from ~140 KB)."""
    deflate = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    idat = b"".join(deflate.compress(row) for _ in range(side)) + deflate.flush()
    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    signature = b"\x89PNG\r\n\x1a\n"
    return signature + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def gif_frames(count: int) -> bytes:
    images = [Image.fromarray(noise(8, 8, seed=i)) for i in range(count)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:])
    return buffer.getvalue()


# ------------------------------------------------------------------------ the server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    uploads: Path  # GRADIO_TEMP_DIR: where Gradio stores uploads
    log: Path

    def stored(self) -> set[str]:
        """Names of the files under the upload folder."""
        return {p.name for p in self.uploads.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``upscaler explore`` on a free loopback port with a 1 MP pixel limit."""
    base = tmp_path_factory.mktemp("explore-uploads")
    uploads = base / "deep" / "er" / "gradio"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UPSCALER_", "GRADIO_"))}
    env.update(
        UPSCALER_CATALOG=str(swap_catalog.write_catalog(base / "tiny")),
        UPSCALER_HOME=str(base / "home"),
        UPSCALER_OFFLINE="1",
        UPSCALER_MAX_PIXELS=str(LIMIT),
        GRADIO_TEMP_DIR=str(uploads),
    )
    log = base / "explore.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "upscaler", "explore", "--port", str(port), "--no-browser"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=base,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        while True:  # a server that never answers is a hang: the timeout marker ends it
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            try:
                with urllib.request.urlopen(url + "/", timeout=2) as reply:  # loopback only
                    if reply.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        yield Server(url, port, uploads, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def upload(server: Server, *files: tuple[str, bytes], fields: dict[str, str] | None = None) -> Any:
    """POST a multipart form to Gradio's upload route: (status, decoded body)."""
    boundary = "----upscaler-test-boundary"
    parts: list[bytes] = []
    for name, value in (fields or {}).items():
        disposition = f'Content-Disposition: form-data; name="{name}"'
        parts.append(f"--{boundary}\r\n{disposition}\r\n\r\n{value}\r\n".encode())
    for filename, data in files:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        )
        parts.append(head.encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        server.url + "/gradio_api/upload",
        data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            status, text = reply.status, reply.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    return status, (json.loads(text) if status == 200 else text)


def raw_answer(sock: socket.socket) -> str:
    """Everything the server sends until it closes (or 60 s pass)."""
    sock.settimeout(60)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received.decode("latin-1")


def streamed_answer(sock: socket.socket, chunk: bytes, count: int) -> tuple[int, str | None]:
    """Send ``chunk`` up to ``count`` times, stopping as soon as the server answers: how
    many were sent, and the answer. None when the server reset the connection instead: it
    closes with our unread bytes in its buffer, and the kernel may then drop its answer
    before we read it (the server's log says what it refused)."""
    sent = 0
    try:
        while sent < count and not select.select([sock], [], [], 0.05)[0]:
            sock.sendall(chunk)
            sent += 1
        return sent, raw_answer(sock)
    except (BrokenPipeError, ConnectionResetError):
        return sent, None


# ------------------------------------------------------------------------ item 10


def test_upload_over_the_pixel_limit_is_413_naming_size_limit_and_setting(
    server: Server,
) -> None:
    """Issue 29, item 10: with UPSCALER_MAX_PIXELS=1000000 a 2000x2000 upload was taken
    and upscaled. Now the upload itself is answered 413 (the browser shows the text) and
    the file is gone."""
    status, text = upload(server, ("big-upload.png", flat_png(2000, 2000)))
    assert status == 413, text
    assert "big-upload.png is 2000x2000 = 4,000,000 pixels" in text
    assert "above the limit of 1,000,000" in text
    assert "UPSCALER_MAX_PIXELS" in text
    assert "big-upload.png" not in server.stored()


def test_within_the_limit_is_stored_and_named_by_its_path(server: Server) -> None:
    data = png_bytes(noise(10, 20))
    status, paths = upload(server, ("small-upload.png", data))
    assert status == 200, paths
    (stored,) = paths
    assert Path(stored).read_bytes() == data
    assert Path(stored).is_relative_to(server.uploads)


@pytest.fixture(scope="module")
def bomb_12000() -> bytes:
    return gray_bomb(12_000)


@pytest.fixture
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail loudly if Pillow starts decoding pixels (instead of spending 45 s and GBs)."""
    from PIL import ImageFile

    calls: list[str] = []

    def refuse(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(str(getattr(self, "filename", "") or self.format))
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)
    return calls


def test_bomb_under_the_default_limit_is_refused_from_its_header(
    tmp_path: Path, bomb_12000: bytes, no_decoding: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under the default limit a 12000x12000 upload of a few hundred kilobytes took 45 s
    and 6.4 GB. The upload check reads the header and stops there."""
    from upscaler.explore.uploads import check_upload, refusal_status

    monkeypatch.delenv("UPSCALER_MAX_PIXELS", raising=False)
    path = tmp_path / "abc123" / "bomb.png"
    path.parent.mkdir()
    path.write_bytes(bomb_12000)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageError) as info:
        check_upload(path)
    assert "bomb.png is 12000x12000 = 144,000,000 pixels" in info.value.message
    assert "100,000,000" in info.value.message
    assert "UPSCALER_MAX_PIXELS" in str(info.value)
    assert refusal_status(info.value) == 413
    assert no_decoding == []


def test_a_run_on_a_bomb_stops_before_decoding(
    tiny_catalog: Catalog, tmp_path: Path, bomb_12000: bytes, no_decoding: list[str]
) -> None:
    """An image that reaches a run by another way (an API client's path) meets the same
    guarded decoder: an ImageError the page shows, no pixel decoded, no model loaded."""
    from upscaler.explore.app import Explorer
    from upscaler.explore.codegen import Choice

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_12000)
    explorer = Explorer(tiny_catalog)
    with pytest.raises(ImageError, match=r"144,000,000 pixels, above the limit of 100,000,000"):
        explorer.run(str(bomb), Choice().normalised(tiny_catalog))
    with pytest.raises(ImageError, match="above the limit"):
        explorer.compare(str(bomb), ["tiny-swap.x2", "tiny-swap.x4"])
    assert no_decoding == []
    assert explorer._upscalers == {}  # refused before any model was built


def test_the_page_shows_the_refusal(server: Server, tmp_path: Path) -> None:
    """What a person sees: the upload fails with the server's message in the page."""
    pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")
    from explore.browser_support import CHROMIUM, launch
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no {CHROMIUM}")
    big = tmp_path / "too-big.png"
    big.write_bytes(flat_png(1200, 1000))
    with sync_playwright() as pw:
        context = launch(pw, CHROMIUM, tmp_path / "profile")
        try:
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(server.url + "/")
            expect(page.locator("#resolution")).to_contain_text("Exact match: tiny-swap.x2")
            page.locator("#input-image input[type=file]").set_input_files(str(big))
            message = page.get_by_text("too-big.png is 1200x1000 = 1,200,000 pixels")
            expect(message).to_be_visible()
            expect(message).to_contain_text("UPSCALER_MAX_PIXELS")
        finally:
            context.close()
    assert "too-big.png" not in server.stored()


# ------------------------------------------------------------------------ body sizes


def test_huge_content_length_is_refused_before_the_body_is_sent(server: Server) -> None:
    """A multi-GB POST is answered 413 from its Content-Length: the server never waits
    for (or stores, or holds) a byte of it."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(
            b"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=x\r\n"
            b"Content-Length: 5000000000\r\n\r\n"
        )
        answer = raw_answer(sock)
    assert answer.startswith("HTTP/1.1 413"), answer[:300]
    assert "4,768 MiB" in answer and "UPSCALER_MAX_PIXELS" in answer


def test_streamed_body_is_cut_off_at_the_limit(server: Server) -> None:
    """A chunked body (no Content-Length) to an event route is counted as it streams
    and answered 413 once past 16 MiB, long before the 256 MiB it would have sent."""
    total = 256
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(
            b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n" % (1 << 20) + b" " * (1 << 20) + b"\r\n"
        sent, answer = streamed_answer(sock, chunk, total)
    assert sent < total
    if answer is not None:
        assert answer.startswith("HTTP/1.1 413"), answer[:300]
        assert "16 MiB" in answer
    assert "refused a streamed body over 16777216 bytes to /gradio_api/queue/join" in (
        server.log.read_text(errors="replace")
    )


def test_streamed_upload_stops_at_the_file_limit_and_leaves_nothing(server: Server) -> None:
    """A chunked upload bigger than any image within the limit can be is stopped while
    it streams (Gradio's per-file limit, set from ours), its partial file deleted."""
    from upscaler.runtime.image_io import max_file_bytes

    before = server.stored()
    limit_mib = max_file_bytes(LIMIT) >> 20
    with socket.create_connection(("127.0.0.1", server.port), timeout=60) as sock:
        sock.sendall(
            b"POST /gradio_api/upload HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        head = (
            b'--xyz\r\nContent-Disposition: form-data; name="files"; filename="endless.png"\r\n\r\n'
        )
        sock.sendall(b"%x\r\n%s\r\n" % (len(head), head))
        chunk = b"%x\r\n" % (1 << 20) + b"\x00" * (1 << 20) + b"\r\n"
        sent, answer = streamed_answer(sock, chunk, 4 * limit_mib)
    assert sent < 4 * limit_mib
    if answer is not None:
        assert answer.startswith("HTTP/1.1 413"), answer[:300]
        assert "UPSCALER_MAX_PIXELS" in answer
    assert "stopped a streamed upload at the" in server.log.read_text(errors="replace")
    assert server.stored() == before


# ------------------------------------------------------------------------ what is uploaded


def test_non_image_upload_is_422(server: Server) -> None:
    status, text = upload(server, ("notes.png", b"these are my notes, not a picture\n"))
    assert status == 422, text
    assert "cannot decode notes.png as an image" in text
    assert "notes.png" not in server.stored()


def test_multi_frame_gif_is_refused(server: Server) -> None:
    """Only the first frame used to be upscaled, the rest silently dropped."""
    status, text = upload(server, ("moving.gif", gif_frames(3)))
    assert status == 422, text
    assert "moving.gif has 3 frames" in text
    assert "moving.gif" not in server.stored()


def test_form_without_a_file_stores_nothing_and_is_no_server_error(server: Server) -> None:
    before = server.stored()
    status, paths = upload(server, fields={"note": "no file here"})
    assert (status, paths) == (200, [])
    request = urllib.request.Request(
        server.url + "/gradio_api/upload", data=b"files=x", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=60)
    assert info.value.code == 400
    assert server.stored() == before


@pytest.mark.parametrize(
    "name", ["../../escape.png", "..\\..\\escape.png", "/tmp/escape.png", "; rm -rf ~ ;.png"]
)
def test_path_like_upload_names_are_never_used_as_paths(server: Server, name: str) -> None:
    """The name a browser sends is a label: the file lands inside the upload folder, the
    generated code names its last part (quoted for the shell), nothing lands outside."""
    from upscaler.explore.codegen import Choice, cli_command

    outside = server.uploads.parent.parent
    before = {p for p in outside.rglob("*") if not p.is_relative_to(server.uploads)}
    status, paths = upload(server, (name, png_bytes(noise(4, 4, seed=len(name)))))
    assert status == 200, paths
    (stored,) = paths
    assert Path(stored).resolve().is_relative_to(server.uploads.resolve())
    after = {p for p in outside.rglob("*") if not p.is_relative_to(server.uploads)}
    assert after == before
    from upscaler.explore.app import display_name

    shown = display_name(stored)
    assert shown == Path(stored).name and "/" not in shown
    command = cli_command(Choice(), input_path=shown, output="out.png")
    assert shown in shlex.split(command)  # one quoted word: the shell never runs it


def test_refused_upload_with_a_path_like_name_deletes_only_its_own_file(
    server: Server,
) -> None:
    """Deleting a refused upload must not follow the name it was sent under."""
    victim = server.uploads.parent / "victim.png"
    victim.write_bytes(b"mine")
    status, text = upload(server, ("../victim.png", flat_png(1500, 1000)))
    assert status == 413, text
    assert victim.read_bytes() == b"mine"


def test_concurrent_uploads_each_get_their_own_answer(server: Server) -> None:
    """Eight uploads at once, half of them over the limit: every good one is stored
    with its own bytes, every bad one refused, no answer crossed."""
    results: dict[int, Any] = {}

    def send(i: int) -> None:
        if i % 2:
            results[i] = upload(server, (f"par-{i}.png", flat_png(1100 + i, 1000, value=i)))
        else:
            results[i] = upload(server, (f"par-{i}.png", png_bytes(noise(6, 7, seed=i))))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert sorted(results) == list(range(8))
    for i, (status, body) in results.items():
        if i % 2:
            assert status == 413, body
            assert f"par-{i}.png is {1100 + i}x1000" in body
        else:
            assert status == 200, body
            assert Path(body[0]).name == f"par-{i}.png"
            assert Path(body[0]).read_bytes() == png_bytes(noise(6, 7, seed=i))
    stored = server.stored()
    assert not any(f"par-{i}.png" in stored for i in range(1, 8, 2))


# ------------------------------------------------------------------------ runs


@pytest.fixture
def tiny_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Catalog:
    """The explorer's tiny catalog in this process, offline, with its own cache."""
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("UPSCALER_OFFLINE", "1")
    monkeypatch.delenv("UPSCALER_MAX_PIXELS", raising=False)
    return load_catalog(swap_catalog.write_catalog(tmp_path / "tiny"))


def test_truncated_image_is_an_image_error_not_a_crash(
    tiny_catalog: Catalog, tmp_path: Path
) -> None:
    """A PNG cut short passes the header check at upload; the run says what is wrong
    (before: Pillow's OSError, which the page showed as a bare 'Error')."""
    from upscaler.explore.app import Explorer, error_line
    from upscaler.explore.codegen import Choice

    whole = png_bytes(noise(40, 50))
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ImageError) as info:
        Explorer(tiny_catalog).run(str(cut), Choice().normalised(tiny_catalog))
    assert "cannot decode" in error_line(info.value)


@pytest.mark.slow
def test_truncated_upload_through_the_page_api_answers_with_the_reason(
    server: Server,
) -> None:
    """The same through the server: the upload is stored (its header is fine), the run
    fails with the decoder's message, not a generic error."""
    from gradio_client import Client, handle_file

    whole = png_bytes(noise(40, 50, seed=3))
    status, paths = upload(server, ("cut-short.png", whole[: len(whole) // 2]))
    assert status == 200, paths
    client = Client(server.url + "/", verbose=False)
    from upscaler.catalog.schema import QUERY_ATTRIBUTES

    controls = ["auto", *["any"] * len(QUERY_ATTRIBUTES), "balanced", False]
    with pytest.raises(Exception, match="cannot decode") as info:
        client.predict(handle_file(paths[0]), *controls, api_name="/upscale")
    assert "ImageError" in str(info.value)


@pytest.mark.slow
def test_sixteen_bit_png_runs_and_shows_8_bit(tiny_catalog: Catalog, tmp_path: Path) -> None:
    """A 16-bit RGB PNG is upscaled at 16 bits (the result is a uint16 array) and shown
    as 8-bit RGB, before and after."""
    pytest.importorskip("tensorflow")
    import png

    from upscaler.explore.app import Explorer
    from upscaler.explore.codegen import Choice

    deep = np.random.default_rng(4).integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    path = tmp_path / "deep.png"
    with path.open("wb") as handle:
        png.from_array(deep.reshape(6, 15), "RGB;16").write(handle)
    before, after, timing, _ = Explorer(tiny_catalog).run(
        str(path), Choice().normalised(tiny_catalog)
    )
    eight = np.rint(deep / 257.0).astype(np.uint8)
    assert after.mode == before.mode == "RGB"
    assert np.array_equal(np.asarray(after), tiny_catalog_reference(eight, 2))
    assert np.array_equal(np.asarray(before), np.repeat(np.repeat(eight, 2, 0), 2, 1))
    assert "5×6 → 10×12" in timing


def tiny_catalog_reference(rgb: np.ndarray, scale: int) -> np.ndarray:
    reference: np.ndarray = swap_catalog.reference(rgb, scale)
    return reference


@pytest.mark.slow
def test_exif_rotated_jpeg_runs_upright(tiny_catalog: Catalog, tmp_path: Path) -> None:
    """A phone photo stored sideways with EXIF orientation 6 is upscaled as seen."""
    pytest.importorskip("tensorflow")
    from PIL import ImageOps

    from upscaler.explore.app import Explorer
    from upscaler.explore.codegen import Choice

    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    path = tmp_path / "phone.jpg"
    Image.fromarray(noise(8, 12, seed=9)).save(path, quality=95, exif=exif.tobytes())
    with Image.open(path) as stored:
        upright = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"))
    assert upright.shape == (12, 8, 3)
    before, after, timing, _ = Explorer(tiny_catalog).run(
        str(path), Choice().normalised(tiny_catalog)
    )
    assert after.size == before.size == (16, 24)
    assert np.array_equal(np.asarray(after), tiny_catalog_reference(upright, 2))
    assert np.array_equal(np.asarray(before), np.repeat(np.repeat(upright, 2, 0), 2, 1))
    assert "8×12 → 16×24" in timing


def test_pillow_does_not_refuse_what_our_limit_allows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gradio opens each upload with Pillow before a handler runs, and Pillow refuses
    anything above ~179 MP outright; raising UPSCALER_MAX_PIXELS must be enough while
    the explorer serves, and Pillow's own limit is back afterwards."""
    from gradio.data_classes import ImageData
    from PIL import Image as PILImage

    from upscaler.explore.uploads import pillow_limit_lifted

    pillows = PILImage.MAX_IMAGE_PIXELS
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "400000000")
    path = tmp_path / "huge.png"
    path.write_bytes(gray_bomb(14_000))  # 196 MP
    component = gradio.Image(type="filepath", image_mode=None)
    payload = ImageData(path=str(path), orig_name="huge.png")
    with pytest.raises(PILImage.DecompressionBombError):
        component.preprocess(payload)
    with pillow_limit_lifted():
        assert component.preprocess(payload) == str(path)
    assert pillows == PILImage.MAX_IMAGE_PIXELS


def test_launch_serves_with_the_guard(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``upscaler explore`` hands Gradio the guard and the per-file limit, and leaves
    Pillow's limit as it found it once the server stops."""
    from PIL import Image as PILImage

    from upscaler.explore import app
    from upscaler.explore.uploads import UploadGuard, upload_limit

    seen: list[dict[str, Any]] = []
    lifted: list[int | None] = []
    monkeypatch.setenv("UPSCALER_MAX_PIXELS", "300000000")
    monkeypatch.setattr(gradio.Blocks, "launch", lambda self, **kw: seen.append(kw))
    monkeypatch.setattr(
        gradio.Blocks, "block_thread", lambda self: lifted.append(PILImage.MAX_IMAGE_PIXELS)
    )
    pillows = PILImage.MAX_IMAGE_PIXELS
    catalog = load_catalog(swap_catalog.write_catalog(tmp_path / "tiny"))
    app.launch(host="127.0.0.1", port=7998, open_browser=False, catalog=catalog)
    (kwargs,) = seen
    assert kwargs["max_file_size"] == upload_limit() == 16 * 300_000_000 + (64 << 20)
    (middleware,) = kwargs["app_kwargs"]["middleware"]
    assert middleware.cls is UploadGuard
    assert lifted == [300_000_000]
    assert pillows == PILImage.MAX_IMAGE_PIXELS

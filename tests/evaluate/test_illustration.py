"""The generated illustration set: pinned pixels, the evaluator's layout, the cache, the CLI."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from cli_helpers import Result
from PIL import Image

from upscaler.errors import ImageError
from upscaler.evaluate import illustration
from upscaler.evaluate.datasets import load_set, read_ground_truth
from upscaler.evaluate.illustration import (
    PIXELS_SHA256,
    RECIPES,
    SET_NAME,
    VERSION,
    Recipe,
    cached_set,
    find_damage,
    generate_illustrations,
    picture_names,
    pixels_sha256,
    render_illustration,
    write_illustration_set,
)
from upscaler.evaluate.illustration_scenes import SCENES
from upscaler.evaluate.protocol import bicubic_upscale, score_rgb

Cli = Callable[..., Result]
Pictures = list[tuple[str, npt.NDArray[np.uint8]]]

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def pictures() -> Pictures:
    """The whole set, drawn once for this module (about 20 s on one core)."""
    return generate_illustrations()


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory, pictures: Pictures) -> Path:
    """The set written once to a folder, for the tests that only read it."""
    return write_illustration_set(tmp_path_factory.mktemp("written"))


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private cache root, and a working folder with no `illustration-v1` in it."""
    cache = tmp_path / "home"
    monkeypatch.setenv("UPSCALER_HOME", str(cache))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return cache


def flat_fraction(pixels: npt.NDArray[np.uint8]) -> float:
    """Share of pixels whose whole 3x3 neighbourhood has their exact colour."""
    height, width = pixels.shape[:2]
    centre = pixels[1:-1, 1:-1]
    same = np.ones((height - 2, width - 2), dtype=bool)
    for dy in range(3):
        for dx in range(3):
            same &= (pixels[dy : dy + height - 2, dx : dx + width - 2] == centre).all(axis=-1)
    return float(same.mean())


def top_colour_share(pixels: npt.NDArray[np.uint8], count: int) -> float:
    """Share of pixels painted in the ``count`` most frequent colours."""
    packed = (pixels.astype(np.uint32) * np.array([65536, 256, 1], dtype=np.uint32)).sum(-1)
    _, frequency = np.unique(packed, return_counts=True)
    return float(np.sort(frequency)[::-1][:count].sum() / packed.size)


# --- determinism -------------------------------------------------------------------------


@pytest.mark.slow
def test_the_set_is_24_pictures_of_varied_sizes_with_the_pinned_pixels(pictures: Pictures) -> None:
    assert pixels_sha256(pictures) == PIXELS_SHA256[VERSION]
    assert [name for name, _ in pictures] == picture_names()
    assert len(pictures) == 24 and len({name for name, _ in pictures}) == 24
    sizes = set()
    for _, pixels in pictures:
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3
        assert 240 <= pixels.shape[0] <= 512 and 240 <= pixels.shape[1] <= 512
        sizes.add(pixels.shape[:2])
    assert len(sizes) == 24  # every picture its own size: the evaluator mod-crops each
    assert {name.split("-", 1)[1] for name, _ in pictures} == {f"{kind}.png" for kind, _ in SCENES}


@pytest.mark.slow
def test_drawing_again_gives_the_same_pixels(pictures: Pictures) -> None:
    """One picture of every kind, drawn again from scratch (not the process's memo)."""
    for index in range(len(SCENES)):
        name, pixels = render_illustration(VERSION, index)
        assert name == pictures[index][0]
        assert np.array_equal(pixels, pictures[index][1]), name


def test_the_hash_sees_one_changed_pixel_and_a_renamed_picture() -> None:
    pixels = np.zeros((4, 5, 3), dtype=np.uint8)
    changed = pixels.copy()
    changed[3, 4, 2] = 1
    base = pixels_sha256([("a.png", pixels)])
    assert pixels_sha256([("a.png", changed)]) != base
    assert pixels_sha256([("b.png", pixels)]) != base
    assert pixels_sha256([("a.png", pixels.reshape(5, 4, 3))]) != base


def test_pixels_that_do_not_match_the_pin_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A two-picture stand-in version whose pin is wrong: generating it is an error."""
    monkeypatch.setitem(RECIPES, "illustration-wrong-pin", Recipe(2, 5, 240, 250))
    monkeypatch.setitem(PIXELS_SHA256, "illustration-wrong-pin", "0" * 64)
    with pytest.raises(ImageError, match=r"hash to [0-9a-f]{64}, not the pinned 0{64}"):
        generate_illustrations("illustration-wrong-pin")


def test_an_unknown_version_names_the_known_ones() -> None:
    with pytest.raises(
        ImageError, match="unknown illustration set version 'illustration-v9'"
    ) as info:
        generate_illustrations("illustration-v9")
    assert info.value.hint is not None and VERSION in info.value.hint


# --- what the pictures are ---------------------------------------------------------------


@pytest.mark.slow
def test_pictures_are_flat_colour_with_few_colours(pictures: Pictures) -> None:
    for name, pixels in pictures:
        assert flat_fraction(pixels) > 0.4, name
        assert top_colour_share(pixels, 32) > 0.6, name


def test_the_flatness_measure_rejects_a_photo_like_picture() -> None:
    """The control that shows the measure above can fail: smooth shading plus sensor
    noise, as in a photograph, has almost no flat neighbourhoods."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:300, 0:300]
    shade = 60 + 0.4 * x + 0.2 * y + rng.normal(0, 2.0, (300, 300))
    photo = np.repeat(shade[..., np.newaxis], 3, axis=2).clip(0, 255).astype(np.uint8)
    assert flat_fraction(photo) < 0.05
    assert top_colour_share(photo, 32) < 0.3


@pytest.mark.slow
def test_edges_are_anti_aliased_by_the_box_filter(pictures: Pictures) -> None:
    """A two-colour picture drawn at 4x4 samples per pixel has exactly the 17 mixes of
    its two colours (0..16 samples of one): edges are smooth, and nothing else blends."""
    edges = [pixels for name, pixels in pictures if name.endswith("-edges.png")]
    assert edges
    for pixels in edges:
        colours = np.unique(pixels.reshape(-1, 3), axis=0)
        assert len(colours) == 17


# --- the layout the evaluator reads ------------------------------------------------------


@pytest.mark.slow
def test_the_written_set_is_an_evaluation_set(written: Path, pictures: Pictures) -> None:
    assert written.name == SET_NAME
    assert sorted(p.name for p in written.iterdir()) == ["HR", "MANIFEST.sha256", "VERSION"]
    assert (written / "VERSION").read_text("utf-8").splitlines() == [
        VERSION,
        f"pixels-sha256 {PIXELS_SHA256[VERSION]}",
    ]
    eval_set = load_set(written)
    assert eval_set.key == "illustration" and eval_set.name == SET_NAME
    assert [p.name for p in eval_set.images] == picture_names()
    manifest = (written / "MANIFEST.sha256").read_bytes()
    assert eval_set.fingerprint == hashlib.sha256(manifest).hexdigest()
    for line in manifest.decode("utf-8").splitlines():
        digest, name = line.split("  ")
        assert hashlib.sha256((written / name).read_bytes()).hexdigest() == digest
    for path, (name, pixels) in zip(eval_set.images, pictures, strict=True):
        truth = read_ground_truth(path)
        assert truth.name == name and not truth.gray
        assert np.array_equal(truth.rgb, pixels)


@pytest.mark.slow
def test_writing_again_keeps_the_same_set(written: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in (written / "HR").iterdir()}
    assert write_illustration_set(written.parent) == written
    assert {p.name: p.stat().st_mtime_ns for p in (written / "HR").iterdir()} == before
    assert sorted(p.name for p in written.parent.iterdir()) == [SET_NAME]  # no temp folders


@pytest.mark.slow
@pytest.mark.parametrize("change", ["pixel", "stray file", "version", "missing picture"])
def test_a_folder_with_other_contents_is_never_overwritten(
    tmp_path: Path, written: Path, change: str
) -> None:
    target = tmp_path / SET_NAME
    (target / "HR").mkdir(parents=True)
    for path in (written / "HR").iterdir():
        (target / "HR" / path.name).write_bytes(path.read_bytes())
    for name in ("MANIFEST.sha256", "VERSION"):
        (target / name).write_bytes((written / name).read_bytes())
    victim = target / "HR" / "05-mascots.png"
    if change == "pixel":  # and a manifest to match: only decoding can tell
        _reencode(
            target, ["05-mascots.png", *(n for n in picture_names() if n != victim.name)], True
        )
    elif change == "stray file":
        (target / "notes.txt").write_text("mine", encoding="utf-8")
    elif change == "version":
        (target / "VERSION").write_text("illustration-v0\n", encoding="utf-8")
    else:
        victim.unlink()
    kept = {p: p.read_bytes() for p in target.rglob("*") if p.is_file()}
    with pytest.raises(ImageError, match=f"{SET_NAME} already exists and is not {VERSION}") as info:
        write_illustration_set(tmp_path)
    assert info.value.hint is not None and "another folder" in info.value.hint
    assert {p: p.read_bytes() for p in target.rglob("*") if p.is_file()} == kept


def test_the_same_pixels_in_other_png_bytes_are_the_same_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PNG bytes depend on the encoder; the set is its pixels. A folder re-encoded at
    another compression level (with a manifest to match) is accepted as it is."""
    monkeypatch.setitem(RECIPES, "illustration-small", Recipe(2, 5, 240, 250))
    images = [render_illustration("illustration-small", i) for i in range(2)]
    monkeypatch.setitem(PIXELS_SHA256, "illustration-small", pixels_sha256(images))
    target = write_illustration_set(tmp_path, "illustration-small")
    _reencode(target, [name for name, _ in images])
    assert write_illustration_set(tmp_path, "illustration-small") == target
    assert find_damage(target, "illustration-small") is None


def _reencode(folder: Path, names: list[str], change: bool = False) -> None:
    """Save the pictures again at another compression level (optionally one pixel
    changed) and write the manifest that matches the new files."""
    lines = []
    for name in names:
        path = folder / "HR" / name
        pixels = np.asarray(Image.open(path)).copy()
        if change and name == names[0]:
            pixels[0, 0] ^= 1
        Image.fromarray(pixels).save(path, compress_level=1)
        lines.append(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  HR/{name}\n")
    (folder / "MANIFEST.sha256").write_text("".join(lines), encoding="utf-8")


# --- `--data illustration-v1`: the cache -------------------------------------------------


@pytest.mark.slow
def test_the_name_resolves_to_a_copy_in_the_cache_made_once(home: Path) -> None:
    eval_set = load_set("illustration-v1")
    assert eval_set.folder == home / "sets" / VERSION / SET_NAME
    assert eval_set.key == "illustration" and len(eval_set.images) == 24
    inodes = {p.name: p.stat().st_ino for p in eval_set.images}
    again = load_set(Path("illustration-v1"))  # the CLI passes a Path
    assert again.folder == eval_set.folder and again.fingerprint == eval_set.fingerprint
    assert {p.name: p.stat().st_ino for p in again.images} == inodes  # reused, not rewritten


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated picture", "no manifest", "no version", "no HR"])
def test_a_damaged_cached_copy_is_generated_again(
    home: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    folder = cached_set()
    manifest = (folder / "MANIFEST.sha256").read_bytes()
    victim = folder / "HR" / "03-manga.png"
    if damage == "truncated picture":
        victim.write_bytes(victim.read_bytes()[:100])
    elif damage == "no manifest":
        (folder / "MANIFEST.sha256").unlink()
    elif damage == "no version":
        (folder / "VERSION").unlink()
    else:
        for path in (folder / "HR").iterdir():
            path.unlink()
        (folder / "HR").rmdir()
    assert find_damage(folder) is not None
    with caplog.at_level(logging.WARNING, logger="upscaler.evaluate.illustration"):
        eval_set = load_set("illustration-v1")
    assert eval_set.folder == folder
    assert find_damage(folder) is None
    assert (folder / "MANIFEST.sha256").read_bytes() == manifest
    assert any("damaged" in r.getMessage() for r in caplog.records)
    assert sorted(p.name for p in folder.parent.iterdir()) == [SET_NAME]


def test_a_folder_of_that_name_wins_over_the_generated_set(home: Path, tiny_set: Path) -> None:
    local = Path.cwd() / "illustration-v1"
    tiny_set.rename(local)
    eval_set = load_set("illustration-v1")
    assert eval_set.folder == Path("illustration-v1") and len(eval_set.images) == 3
    assert not home.exists()  # nothing generated


def test_an_unknown_name_is_still_a_missing_folder_with_the_generated_sets_in_the_hint(
    home: Path,
) -> None:
    with pytest.raises(ImageError, match="illustration-v9 does not exist") as info:
        load_set("illustration-v9")
    assert info.value.hint is not None and VERSION in info.value.hint
    assert not home.exists()


# --- the command lines -------------------------------------------------------------------


@pytest.mark.slow
def test_upscaler_eval_bicubic_on_the_generated_set(cli: Cli, home: Path) -> None:
    ran = cli("eval", "bicubic", "--scale", "2", "--data", "illustration-v1", "--json")
    assert ran.code == 0, ran.err
    (result,) = json.loads(ran.out)["results"]
    scores = result["sets"]["illustration"]
    assert scores["name"] == SET_NAME and scores["count"] == 24
    assert [row["name"] for row in scores["images"]] == picture_names()
    folder = home / "sets" / VERSION / SET_NAME
    assert scores["fingerprint"] == load_set(folder).fingerprint
    first = scores["images"][0]
    truth = read_ground_truth(folder / "HR" / first["name"])
    expected = score_rgb(truth.rgb, 2, lambda lr: bicubic_upscale(lr, 2), gray=False)
    assert first["psnr_y"] == pytest.approx(expected.psnr_y, abs=1e-4)
    assert first["ssim_y"] == pytest.approx(expected.ssim_y, abs=1e-6)


@pytest.mark.slow
def test_the_module_command_writes_the_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert illustration.main([str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert Path(out.strip()) == tmp_path / "out" / SET_NAME
    assert find_damage(tmp_path / "out" / SET_NAME) is None
    (tmp_path / "out" / SET_NAME / "extra.txt").write_text("x", encoding="utf-8")
    assert illustration.main([str(tmp_path / "out")]) == ImageError.exit_code
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and "already exists" in lines[0]
    assert lines[1].startswith("hint: ") and "Traceback" not in err


def test_the_module_command_refuses_an_unknown_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = illustration.main([str(tmp_path), "--version", "illustration-v2"])
    assert code == ImageError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("error: unknown illustration set version 'illustration-v2'")
    assert f"hint: known versions: {VERSION}" in err
    assert not any(tmp_path.iterdir())

"""Hostile training runs (issue 29, items 8 and 9 and their siblings): two trainings in
one run folder, evaluation images smuggled into training folders under other names and
encodings, validation that repeats training, and options and folders that cannot train.

Every refusal is one of our errors with its exit code, a line naming the bad value, and
no run folder left behind. The evaluation sets themselves are used when they are present
(``$UPSCALER_DATASETS``, else ``../shared/datasets`` beside the repository); every
mechanism is also tested on a small set made here, so nothing depends on them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from cli_helpers import Result
from hostile_support import assert_cli_error, snapshot
from PIL import Image
from test_images import png_declaring

from upscaler.errors import TrainingError

# slow as a whole: its fixtures build, train or serve for real (docs/contributing-a-model.md)
pytestmark = pytest.mark.slow

if TYPE_CHECKING:
    from upscaler.train.evaluation_images import EvaluationImages

Cli = Callable[..., Result]
Transform = Callable[[Path, Path], Path]

DATASETS_ENV = "UPSCALER_DATASETS"
REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--steps", "1", "--patch", "8", "--batch", "1", "--param", "features=4",
    "--param", "convs=1", "--no-xla", "--threads", "1", "--no-progress",
]  # fmt: skip
"""Options that make a run that does start (before a fix) end in seconds."""


@pytest.fixture(autouse=True)
def _private_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever a case generates or caches stays in its tmp folder."""
    monkeypatch.setenv("UPSCALER_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("UPSCALER_MAX_PIXELS", raising=False)


def datasets_root() -> Path:
    return Path(os.environ.get(DATASETS_ENV) or REPO / ".." / "shared" / "datasets").resolve()


def shared_set(name: str) -> Path:
    """An evaluation set's folder, or skip saying where it was looked for."""
    folder = datasets_root() / name
    if not (folder / "MANIFEST.sha256").is_file():
        pytest.skip(
            f"evaluation set {name} not found at {folder}; set {DATASETS_ENV} to the folder "
            "that holds Set5/, Set14/ and BSD100/"
        )
    return folder


def rgb_of(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def write_noise(path: Path, height: int, width: int, seed: int = 0, mode: str = "RGB") -> Path:
    """Real PNG pixels: a gradient plus seeded noise (so no flip of it is itself)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 5 % 256, yy * 7 % 256, (xx + yy) * 3 % 256], -1)
    pixels = np.clip(base + rng.integers(-20, 21, base.shape), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels).save(path)
    return path


def train_args(data: Path | str, run: Path, *extra: str) -> list[str]:
    return ["train", str(data), "--run", str(run), *TINY, *extra]


# -- item 8: two trainings in one run folder -------------------------------------------------


def _hold_like_a_training(run: Path) -> Iterator[int]:
    """Hold the run folder's lock file the way a live training does (flock + pid)."""
    import fcntl

    run.mkdir(parents=True, exist_ok=True)
    fd = os.open(run / ".upscaler-train.lock", os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(fd, f"{os.getpid()}\n".encode())
    try:
        yield os.getpid()
    finally:
        os.close(fd)


@pytest.mark.timeout(300)
def test_a_second_training_in_a_live_run_folder_fails_at_once(cli: Cli, tmp_path: Path) -> None:
    """A real `upscaler train` runs in RUN; a second one on RUN is refused before it reads
    anything, naming the folder and the first one's pid, and the first one goes on."""
    data = write_noise(tmp_path / "d" / "a.png", 40, 48).parent
    run = tmp_path / "run"
    options = [*TINY[:1], "1000000", *TINY[2:]]  # steps: until stopped
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    log = tmp_path / "first.err"
    with log.open("wb") as err:
        first = subprocess.Popen(
            [sys.executable, "-m", "upscaler", "train", str(data), "--run", str(run), *options],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        # no clock here: a training that never checkpoints is a hang the timeout marker ends
        while not (run / "checkpoints").is_dir():
            assert first.poll() is None, log.read_text(errors="replace")
            time.sleep(0.5)
        second = cli("train", str(data), "--run", str(run), *options, "--stop-at", "1")
        assert_cli_error(second, 13, str(run), "another upscaler train", f"pid {first.pid}")
        assert first.poll() is None  # the first training was not disturbed
        assert (run / ".upscaler-train.lock").read_text().strip() == str(first.pid)
    finally:
        first.send_signal(signal.SIGTERM)  # a polite stop: checkpointed, then exit
        first.wait(timeout=120)
    assert not (run / ".upscaler-train.lock").exists()


@pytest.mark.parametrize("holder", ["upscaler", "filelock"])
def test_a_held_run_folder_is_refused_naming_its_holder(
    cli: Cli, tmp_path: Path, holder: str
) -> None:
    """The pid is named when the holder recorded one; the `filelock` package's lock (the
    same flock) is honoured too, and then there is no pid to name."""
    data = write_noise(tmp_path / "d" / "a.png", 40, 48).parent
    run = tmp_path / "run"
    if holder == "upscaler":
        held = _hold_like_a_training(run)
        pid = next(held)
        result = cli(*train_args(data, run))
        held.close()
        assert_cli_error(result, 13, f"the run folder {run} (pid {pid})")
    else:
        from filelock import FileLock

        run.mkdir()
        with FileLock(str(run / ".upscaler-train.lock")):
            result = cli(*train_args(data, run))
        assert_cli_error(result, 13, f"another upscaler train is running in the run folder {run}")
        assert "pid" not in result.err
    assert not (run / "run.json").exists()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("how", ["killed holder", "no holder"])
def test_a_lock_left_behind_does_not_block(cli: Cli, tmp_path: Path, how: str) -> None:
    """A training killed with SIGKILL leaves its lock file (with its pid) in RUN. The
    kernel dropped its flock with the process, so the next run takes the lock at once,
    trains, and removes the file."""
    data = write_noise(tmp_path / "d" / "a.png", 40, 48).parent
    run = tmp_path / "run"
    run.mkdir()
    lock = run / ".upscaler-train.lock"
    if how == "killed holder":
        holder = (
            "import fcntl, os, signal, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\n"
            "os.write(fd, str(os.getpid()).encode())\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n"
        )
        done = subprocess.run([sys.executable, "-c", holder, str(lock)], check=False)
        assert done.returncode == -signal.SIGKILL
    else:
        lock.write_text("999999\n")
    assert lock.exists()
    result = cli(*train_args(data, run))
    assert result.code == 0, result.err
    assert (run / "savedmodel").is_dir() and not lock.exists()


# -- item 9: evaluation images under other names and encodings -------------------------------


def _copy(src: Path, out: Path) -> Path:
    return Path(shutil.copyfile(src, out / "photo.png"))


def _resave_png(src: Path, out: Path) -> Path:
    target = out / "photo.png"
    with Image.open(src) as image:
        image.save(target, compress_level=1)
    assert target.read_bytes() != src.read_bytes()
    return target


def _save_as(suffix: str) -> Transform:
    def save(src: Path, out: Path) -> Path:
        target = out / f"photo{suffix}"
        with Image.open(src) as image:
            image.save(target)
        return target

    return save


def _opaque_alpha(src: Path, out: Path) -> Path:
    target = out / "photo.png"
    with Image.open(src) as image:
        image.convert("RGBA").save(target)
    return target


def _sixteen_bits(src: Path, out: Path) -> Path:
    import tifffile

    target = out / "photo.tif"
    tifffile.imwrite(target, rgb_of(src).astype(np.uint16) * 257)
    return target


def _pixels(change: Callable[[np.ndarray], np.ndarray], suffix: str = ".png") -> Transform:
    def write(src: Path, out: Path) -> Path:
        target = out / f"photo{suffix}"
        Image.fromarray(np.ascontiguousarray(change(rgb_of(src)))).save(target)
        return target

    return write


def _larger_original(src: Path, out: Path) -> Path:
    """The image with one more row and column: its crop to a multiple of 3 is ``src``
    (as each BSD100 image is the crop of a 481x321 BSDS300 photo)."""
    rgb = rgb_of(src)
    grown = np.pad(rgb, ((0, 1), (0, 1), (0, 0)), mode="reflect")
    target = out / "original.png"
    Image.fromarray(grown).save(target)
    return target


def _lossless_webp(src: Path, out: Path) -> Path:
    target = out / "photo.webp"
    with Image.open(src) as image:
        image.save(target, lossless=True)
    return target


TRANSFORMS: dict[str, Transform] = {
    "copied and renamed": _copy,
    "re-saved as another PNG": _resave_png,
    "as BMP": _save_as(".bmp"),
    "as TIFF": _save_as(".tiff"),
    "as lossless WebP": _lossless_webp,
    "as 16-bit TIFF": _sixteen_bits,
    "with an opaque alpha": _opaque_alpha,
    "mirrored": _pixels(lambda a: a[:, ::-1]),
    "rotated 90": _pixels(lambda a: np.rot90(a, 1)),
    "mirrored and rotated 270": _pixels(lambda a: np.rot90(a[:, ::-1], 3), ".bmp"),
    "cropped to a multiple of 8": _pixels(
        lambda a: a[: a.shape[0] // 8 * 8, : a.shape[1] // 8 * 8]
    ),
    "inside a larger original": _larger_original,
}


@pytest.fixture(scope="module")
def made_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, EvaluationImages]:
    """An evaluation set made here (``Made/HR`` + manifest: a 48x45 colour image, whose
    sides are multiples of 3 like BSD100's, and a gray one) and its table."""
    from upscaler.train.evaluation_images import format_table, parse_table, set_rows

    root = tmp_path_factory.mktemp("sets") / "Made"
    write_noise(root / "HR" / "colour.png", 48, 45, seed=3)
    write_noise(root / "HR" / "gray.png", 30, 34, seed=4, mode="L")
    lines = [
        f"{hashlib.sha256(p.read_bytes()).hexdigest()}  HR/{p.name}\n"
        for p in sorted((root / "HR").iterdir())
    ]
    (root / "MANIFEST.sha256").write_text("".join(lines))
    return root, parse_table(format_table(set_rows(root)))


@pytest.mark.parametrize("transform", list(TRANSFORMS), ids=list(TRANSFORMS))
def test_an_evaluation_image_is_known_by_its_content(
    tmp_path: Path, made_set: tuple[Path, EvaluationImages], transform: str
) -> None:
    """The mechanism on a set made here: each copy that keeps the pixels (up to flips,
    rotations and mod-crops) is refused, named with the set image it is."""
    from upscaler.train.data import load_folders

    root, table = made_set
    data = tmp_path / "Plain"
    data.mkdir()
    write_noise(data / "own.png", 40, 40, seed=9)
    copy = TRANSFORMS[transform](root / "HR" / "colour.png", data)
    with pytest.raises(TrainingError) as caught:
        load_folders([data], scale=2, channels=3, hr_patch=16, seed=0, evaluation=table)
    message = str(caught.value)
    assert f"{copy.name} is " in message and "Made/colour.png" in message, message
    assert "own.png" not in message


def test_a_gray_evaluation_image_saved_as_rgb_is_known(
    tmp_path: Path, made_set: tuple[Path, EvaluationImages]
) -> None:
    from upscaler.train.data import load_folders

    root, table = made_set
    data = tmp_path / "Plain"
    data.mkdir()
    with Image.open(root / "HR" / "gray.png") as image:
        image.convert("RGB").save(data / "g.bmp")
    with pytest.raises(TrainingError, match=r"g\.bmp is Made/gray\.png \(the same pixels\)"):
        load_folders([data], scale=2, channels=1, hr_patch=16, seed=0, evaluation=table)


def test_an_image_one_pixel_away_is_a_new_image(
    tmp_path: Path, made_set: tuple[Path, EvaluationImages]
) -> None:
    """The promise is exact pixels: the check has no false positives on near copies."""
    from upscaler.train.data import load_folders

    root, table = made_set
    data = tmp_path / "Plain"
    data.mkdir()
    rgb = rgb_of(root / "HR" / "colour.png").copy()
    rgb[0, 0, 0] ^= 1
    Image.fromarray(rgb).save(data / "near.png")
    pairs, _ = load_folders([data], scale=2, channels=3, hr_patch=16, seed=0, evaluation=table)
    assert [p.name for p in pairs] == ["Plain/near.png"]


SHARED_CASES: dict[str, tuple[str, str, Transform, str]] = {
    # case: (set, image, how it enters the training folder, the form the error names)
    "Set5 copied and renamed": ("Set5", "baby.png", _copy, "a copy of Set5/baby.png"),
    "Set5 re-saved as BMP": ("Set5", "bird.png", _save_as(".bmp"), "Set5/bird.png (the same"),
    "Set14 gray image as RGB, mirrored": (
        "Set14",
        "bridge.png",
        _pixels(lambda a: a[:, ::-1]),
        "Set14/bridge.png mirrored",
    ),
    "BSD100 inside its larger original": (
        "BSD100",
        "img_001_SRF_3_HR.png",
        _larger_original,
        "a larger original of BSD100/img_001_SRF_3_HR.png",
    ),
    "Set5 mod-cropped": (
        "Set5",
        "woman.png",
        _pixels(lambda a: a[: a.shape[0] // 8 * 8, : a.shape[1] // 8 * 8]),
        "Set5/woman.png cropped to a multiple of 8",
    ),
}


@pytest.mark.parametrize("case", list(SHARED_CASES), ids=list(SHARED_CASES))
def test_the_evaluation_sets_in_a_plain_folder_are_refused(
    cli: Cli, tmp_path: Path, case: str
) -> None:
    """The shipped table, through the CLI: exit 13 naming the file and the set image,
    before any training (no run folder)."""
    set_name, image, transform, named = SHARED_CASES[case]
    folder = shared_set(set_name)
    data = tmp_path / "MyPhotos"
    data.mkdir()
    write_noise(data / "own.png", 40, 48)
    copy = transform(folder / "HR" / image, data)
    result = cli(*train_args(data, tmp_path / "run"))
    assert_cli_error(result, 13, "holds evaluation images", f"{copy.name} is {named}")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("link", ["folder", "file"])
def test_links_to_an_evaluation_set_are_refused(cli: Cli, tmp_path: Path, link: str) -> None:
    folder = shared_set("Set5")
    if link == "folder":
        data = tmp_path / "data"
        data.symlink_to(folder, target_is_directory=True)
    else:
        data = tmp_path / "Mine"
        write_noise(data / "own.png", 40, 48)
        (data / "link.png").symlink_to(folder / "HR" / "head.png")
    result = cli(*train_args(data, tmp_path / "run"))
    assert_cli_error(result, 13, "Set5")
    assert not (tmp_path / "run").exists()


@pytest.fixture(scope="module")
def drawn_picture() -> tuple[str, np.ndarray]:
    from upscaler.evaluate.illustration import VERSION, render_illustration

    return render_illustration(VERSION, 2)


@pytest.mark.parametrize(
    ("change", "suffix", "named"),
    [
        (lambda a: a, ".png", "(the same pixels)"),
        (lambda a: np.rot90(a, 2), ".tiff", "rotated by 180 degrees"),
    ],
    ids=["as PNG", "rotated, as TIFF"],
)
def test_the_generated_illustration_set_is_known_without_any_folder(
    cli: Cli,
    tmp_path: Path,
    drawn_picture: tuple[str, np.ndarray],
    change: Callable[[np.ndarray], np.ndarray],
    suffix: str,
    named: str,
) -> None:
    """illustration-v1 exists only in code; its pictures are in the table by pixels."""
    name, pixels = drawn_picture
    data = tmp_path / "Drawings"
    data.mkdir()
    Image.fromarray(np.ascontiguousarray(change(pixels))).save(data / f"mine{suffix}")
    result = cli(*train_args(data, tmp_path / "run"))
    assert_cli_error(result, 13, f"mine{suffix} is illustration-v1/{name} {named}")


def test_the_generated_set_by_name_is_not_a_training_folder(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`upscaler eval --data illustration-v1` generates the set; `train` must not."""
    monkeypatch.chdir(tmp_path)
    result = cli(*train_args("illustration-v1", tmp_path / "run"))
    assert_cli_error(result, 13, "training folder illustration-v1 does not exist")
    assert not (tmp_path / "home" / "sets").exists()


# -- the table agrees with the sets ----------------------------------------------------------


def _table_rows() -> set[tuple[str, ...]]:
    from importlib import resources

    text = resources.files("upscaler.train").joinpath("evaluation_images.tsv").read_text()
    return {tuple(line.split("\t")) for line in text.splitlines() if not line.startswith("#")}


@pytest.mark.parametrize("name", ["Set5", "Set14", "BSD100", "Urban100", "Manga109"])
def test_the_table_has_every_file_of_each_manifest(name: str) -> None:
    from upscaler.train.evaluation_images import read_manifest

    manifest = datasets_root() / name / "MANIFEST.sha256"
    if not manifest.is_file():
        manifest = datasets_root() / "kept-outside" / f"{name}.MANIFEST.sha256"
    if not manifest.is_file():
        pytest.skip(f"no manifest of {name} under {datasets_root()} (set {DATASETS_ENV})")
    files = {row[1]: row[3] for row in _table_rows() if row[0] == name and row[2] == "file"}
    assert files == read_manifest(manifest)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", ["Set5", "Set14", "BSD100"])
def test_the_tables_pixel_keys_are_the_sets(name: str) -> None:
    from upscaler.train.evaluation_images import set_rows

    rows = set(set_rows(shared_set(name)))
    assert rows <= _table_rows()
    assert {r for r in _table_rows() if r[0] == name} == rows


@pytest.mark.timeout(300)
def test_the_tables_illustration_keys_are_the_generated_pictures() -> None:
    from upscaler.train.evaluation_images import generated_rows

    rows = set(generated_rows())
    assert len({r[1] for r in rows}) == 24
    assert {r for r in _table_rows() if r[0] == "illustration-v1"} == rows


def test_the_write_command_makes_a_table_the_check_accepts(
    tmp_path: Path, made_set: tuple[Path, EvaluationImages], capsys: pytest.CaptureFixture[str]
) -> None:
    from upscaler.train.evaluation_images import main, parse_table

    root, _ = made_set
    table = tmp_path / "table.tsv"
    assert main(["write", str(root), "--table", str(table)]) == 0
    known = parse_table(table.read_text())
    assert "Made" in known.sets and "illustration-v1" in known.sets
    assert main(["check", str(root), "--table", str(table)]) == 0
    table.write_text(table.read_text().replace("Made\tgray.png", "Made\tgrey.png"))
    assert main(["check", str(root), "--table", str(table)]) == 1
    (root / "HR" / "gray.png").rename(root / "gray.bak")
    try:
        assert main(["check", str(root), "--table", str(table)]) == 2  # a damaged set
    finally:
        (root / "gray.bak").rename(root / "HR" / "gray.png")
    assert "error:" in capsys.readouterr().err


# -- validation that repeats training --------------------------------------------------------


@pytest.mark.parametrize("val", ["a renamed copy", "the training folder itself"])
def test_a_val_folder_repeating_training_images_is_refused(
    cli: Cli, tmp_path: Path, val: str
) -> None:
    data = tmp_path / "Train"
    for seed in range(3):
        write_noise(data / f"t{seed}.png", 40, 48, seed=seed)
    if val == "a renamed copy":
        folder = tmp_path / "Val"
        write_noise(folder / "v0.png", 40, 48, seed=10)
        with Image.open(data / "t1.png") as image:
            image.save(folder / "v1.bmp")
    else:
        folder = data
    result = cli(*train_args(data, tmp_path / "run", "--val", str(folder)))
    named = (
        "Val/v1.bmp = Train/t1.png" if val == "a renamed copy" else "Train/t0.png = Train/t0.png"
    )
    assert_cli_error(result, 13, "the --val folder repeats training images", named)
    assert not (tmp_path / "run").exists()


def test_a_held_out_image_with_a_duplicate_in_training_is_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Warned, not refused: T91 itself holds a duplicate pair (t36, t65), and the held-out
    images are drawn by the seed, so a refusal would break recorded recipes."""
    from upscaler.train.data import holdout, load_folders, warn_duplicates

    data = tmp_path / "Train"
    write_noise(data / "a.png", 40, 48, seed=1)
    shutil.copyfile(data / "a.png", data / "b.png")
    pairs, _ = load_folders([data], scale=2, channels=3, hr_patch=16, seed=0)
    train, held = holdout(pairs, 1, seed=0)
    with caplog.at_level("WARNING", logger="upscaler.train"):
        warn_duplicates(train, held)
    assert "Train/a.png = Train/b.png" in caplog.text or "Train/b.png = Train/a.png" in caplog.text


# -- hostile options and folders -------------------------------------------------------------


def _folder_of(*files: tuple[str, bytes | None]) -> Callable[[Path], Path]:
    def make(tmp_path: Path) -> Path:
        folder = tmp_path / "Data"
        folder.mkdir()
        for name, content in files:
            if content is None:
                write_noise(folder / name, 40, 48)
            else:
                (folder / name).write_bytes(content)
        return folder

    return make


BAD_RUNS: dict[str, tuple[Callable[[Path], Path], list[str], int, list[str]]] = {
    # case: (the data folder, extra options, exit code, words of the error line)
    "negative steps": (_folder_of(("a.png", None)), ["--steps", "-3"], 13, ["steps", "-3"]),
    "zero steps": (_folder_of(("a.png", None)), ["--steps", "0"], 13, ["steps", "(got 0)"]),
    "batch 0": (_folder_of(("a.png", None)), ["--batch", "0"], 13, ["batch", "(got 0)"]),
    "lr nan": (_folder_of(("a.png", None)), ["--lr", "nan"], 13, ["lr", "finite", "nan"]),
    "lr inf": (_folder_of(("a.png", None)), ["--lr", "inf"], 13, ["lr", "finite", "inf"]),
    "lr-min nan": (_folder_of(("a.png", None)), ["--lr-min", "nan"], 13, ["lr_min", "finite"]),
    "patch larger than every image": (
        _folder_of(("a.png", None)),
        ["--patch", "100"],
        13,
        ["every image in", "smaller than one 200x200 HR patch"],
    ),
    "stop at step 0": (_folder_of(("a.png", None)), ["--stop-at", "0"], 13, ["--stop-at 0"]),
    "stop at step -1": (_folder_of(("a.png", None)), ["--stop-at", "-1"], 13, ["--stop-at -1"]),
    "only non-image files": (
        _folder_of(("notes.txt", b"hello"), ("data.csv", b"1,2")),
        [],
        13,
        ["no images in"],
    ),
    "a non-image .png": (
        _folder_of(("a.png", None), ("fake.png", b"not a png")),
        [],
        13,
        ["fake.png cannot be used for training"],
    ),
    "a PNG bomb": (
        _folder_of(("a.png", None), ("bomb.png", png_declaring(30_000, 30_000))),
        [],
        10,
        ["bomb.png", "30000x30000", "limit"],
    ),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", list(BAD_RUNS), ids=list(BAD_RUNS))
def test_hostile_options_and_folders(cli: Cli, tmp_path: Path, case: str) -> None:
    """Refused before anything is written: not even the run folder's parents stay."""
    make, extra, code, words = BAD_RUNS[case]
    data = make(tmp_path)
    before = snapshot(data)
    result = cli(*train_args(data, tmp_path / "runs" / "mine"), *extra)
    assert_cli_error(result, code, *words)
    assert not (tmp_path / "runs").exists()
    assert snapshot(data) == before


def test_a_png_bomb_says_how_to_raise_the_limit(cli: Cli, tmp_path: Path) -> None:
    data = _folder_of(("bomb.png", png_declaring(30_000, 30_000)))(tmp_path)
    result = cli(*train_args(data, tmp_path / "run"))
    assert_cli_error(result, 10, "bomb.png")
    assert "UPSCALER_MAX_PIXELS" in result.err


@pytest.mark.parametrize("what", ["data", "run"])
def test_a_file_where_a_folder_belongs(cli: Cli, tmp_path: Path, what: str) -> None:
    data = _folder_of(("a.png", None))(tmp_path)
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    if what == "data":
        result = cli(*train_args(a_file, tmp_path / "run"))
        assert_cli_error(result, 13, f"training data {a_file} is not a folder")
        assert "Set5" not in result.err  # the hint no longer suggests an evaluation set
    else:
        result = cli(*train_args(data, a_file))
        assert_cli_error(result, 13, f"the run folder {a_file} is a file")
        assert a_file.read_text() == "x"

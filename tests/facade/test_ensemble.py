"""A self-ensemble variant ("+", ``ensemble: dihedral-x8``) through the whole product:
declared in YAML, checked by the loader, run by the facade on every image kind with its
parent's SavedModel, described, and ranked by its own numbers.

A tiny catalog holds a small RDN with random weights (``tinyq.x2``, which does not
commute with flips, so the ensemble really changes its output); the test appends
``tinyq.ens8-x2`` to the family file as a contributor would (three lines).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tiny_models import nearest_x2, write_small_rdn_catalog, write_tiny_catalog

from upscaler.catalog import load_catalog
from upscaler.catalog.loader import Catalog
from upscaler.catalog.schema import Metrics, ModelEntry, Speed
from upscaler.errors import CatalogError, ConversionError

ENSEMBLE = """  ens8-x2:
    scale: 2
    derived_from: tinyq.x2
    ensemble: dihedral-x8
"""

# The eight elements of D4 as (forward, inverse), written out independently of
# upscaler.runtime.ensemble so the test does not check the module against itself.
D4: list[tuple[Callable[[Any], Any], Callable[[Any], Any]]] = [
    (lambda a: a, lambda a: a),
    (lambda a: a[:, ::-1], lambda a: a[:, ::-1]),  # mirror left-right
    (lambda a: a[::-1], lambda a: a[::-1]),  # mirror top-bottom
    (lambda a: a[::-1, ::-1], lambda a: a[::-1, ::-1]),  # half turn
    (lambda a: a.transpose(1, 0, 2), lambda a: a.transpose(1, 0, 2)),
    (lambda a: a[::-1, ::-1].transpose(1, 0, 2), lambda a: a[::-1, ::-1].transpose(1, 0, 2)),
    (lambda a: np.rot90(a, 1), lambda a: np.rot90(a, 3)),
    (lambda a: np.rot90(a, 3), lambda a: np.rot90(a, 1)),
]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    root = write_small_rdn_catalog(tmp_path_factory.mktemp("enscat"))
    family = root / "models" / "tinyq.yaml"
    family.write_text(family.read_text() + ENSEMBLE)
    return load_catalog(root)


@pytest.fixture
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.getbasetemp() / "ens-cache"


def _image(shape: tuple[int, ...], dtype: Any, seed: int = 3) -> np.ndarray:
    """Smooth random pixels (a model's output on pure noise says little)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    height, width = shape[:2]
    channels = shape[2] if len(shape) == 3 else 1
    planes = []
    for _ in range(channels):
        coarse = rng.random((max(2, height // 4), max(2, width // 4))).astype(np.float32)
        planes.append(np.asarray(Image.fromarray(coarse, "F").resize((width, height))))
    unit = np.clip(np.stack(planes, axis=-1), 0.0, 1.0)
    unit = unit if len(shape) == 3 else unit[:, :, 0]
    if dtype == np.float32:
        return unit.astype(np.float32)
    top = np.iinfo(dtype).max
    return np.rint(unit * top).astype(dtype)


# ---------------------------------------------------------------- the YAML rules


def _broken(tmp_path: Path, variants: str) -> tuple[Path, list[str]]:
    """The tiny catalog with ``variants`` appended: its family file and the problems."""
    root = write_small_rdn_catalog(tmp_path)
    family = root / "models" / "tinyq.yaml"
    family.write_text(family.read_text() + variants)
    with pytest.raises(CatalogError) as caught:
        load_catalog(root)
    return family, caught.value.problems


def _line(path: Path, text: str, after: str = "") -> int:
    """1-based number of the first line equal to ``text`` after the line ``after``."""
    lines = path.read_text().splitlines()
    start = lines.index(after) if after else 0
    return lines.index(text, start) + 1


def test_an_ensemble_needs_derived_from(tmp_path: Path) -> None:
    family, problems = _broken(tmp_path, "  ens8-x2:\n    scale: 2\n    ensemble: dihedral-x8\n")
    line = _line(family, "    ensemble: dihedral-x8")
    assert problems == [
        f"{family}:{line}: variant 'ens8-x2' is an ensemble of its parent: set `derived_from` "
        "to the model it runs"
    ]


def test_an_ensemble_has_no_weights_of_its_own(tmp_path: Path) -> None:
    root = write_small_rdn_catalog(tmp_path / "copy")
    text = (root / "models" / "tinyq.yaml").read_text()
    weights = text[text.index("    weights:\n") :]  # the parent's block, the file's last
    family, problems = _broken(tmp_path / "cat", ENSEMBLE + weights)
    line = _line(family, "    ensemble: dihedral-x8")
    assert problems == [
        f"{family}:{line}: variant 'ens8-x2' is an ensemble; it runs its parent's weights, "
        "so remove `weights`"
    ]


def test_an_ensemble_of_a_missing_parent(tmp_path: Path) -> None:
    family, problems = _broken(tmp_path, ENSEMBLE.replace("tinyq.x2", "tinyq.x3"))
    line = _line(family, "  ens8-x2:")
    assert problems == [
        f"{family}:{line}: derived_from 'tinyq.x3' names no model (nearest: tinyq.x2, "
        "tinyq.ens8-x2)"
    ]


def test_an_ensemble_of_an_ensemble_is_refused(tmp_path: Path) -> None:
    twice = ENSEMBLE.replace("ens8-x2", "ens64-x2").replace("tinyq.x2", "tinyq.ens8-x2")
    family, problems = _broken(tmp_path, ENSEMBLE + twice)
    line = _line(family, "  ens64-x2:")
    assert problems == [
        f"{family}:{line}: tinyq.ens64-x2 is an ensemble of tinyq.ens8-x2, which is an "
        "ensemble itself; set `derived_from: tinyq.x2`"
    ]


def test_an_ensemble_shares_its_parents_layout(tmp_path: Path) -> None:
    family, problems = _broken(tmp_path, ENSEMBLE + "    channels: 1\n")
    line = _line(family, "  ens8-x2:")
    assert problems == [
        f"{family}:{line}: tinyq.ens8-x2 has channels 1 but its parent tinyq.x2 has 3 (an "
        "ensemble runs its parent's model as it is)"
    ]


def test_an_unknown_ensemble_names_the_valid_one(tmp_path: Path) -> None:
    family, problems = _broken(tmp_path, ENSEMBLE.replace("dihedral-x8", "dihedral-x4"))
    line = _line(family, "    ensemble: dihedral-x4")
    assert len(problems) == 1
    assert problems[0].startswith(f"{family}:{line}: variants.ens8-x2.ensemble: ")
    assert "'dihedral-x8'" in problems[0]


def test_the_cli_reports_a_broken_ensemble_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Any]
) -> None:
    root = write_small_rdn_catalog(tmp_path)
    family = root / "models" / "tinyq.yaml"
    family.write_text(family.read_text() + "  ens8-x2:\n    scale: 2\n    ensemble: dihedral-x8\n")
    monkeypatch.setenv("UPSCALER_CATALOG", str(root))
    result = cli("catalog", "validate")
    assert result.code == CatalogError.exit_code
    assert f"{family}:{_line(family, '    ensemble: dihedral-x8')}: " in result.err
    assert "Traceback" not in result.err


# ---------------------------------------------------------------- running it


def test_the_variant_runs_its_parents_savedmodel(catalog: Catalog, cache: Path) -> None:
    from upscaler import Upscaler
    from upscaler.fetch.cache import cache_paths, read_ref
    from upscaler.prepare.materialize import prepare_savedmodel

    entry, parent = catalog.get("tinyq.ens8-x2"), catalog.get("tinyq.x2")
    assert entry.ensemble == "dihedral-x8" and entry.weights is None
    assert not entry.built_from_parent, "it must never stand in for its parent's numbers"
    theirs, _ = prepare_savedmodel(parent, cache_dir=cache, progress=False)
    ours, report = prepare_savedmodel(entry, cache_dir=cache, progress=False, parent=parent)
    assert ours == theirs and report is None, "one converted copy serves both"
    assert [p.name for p in ours.parent.iterdir()] == [ours.name]
    record = read_ref(cache_paths(cache), entry.id)
    assert record is not None and record["savedmodels"] == [ours.name]
    with pytest.raises(ConversionError, match=r"built from tinyq\.x2, which was not given"):
        prepare_savedmodel(entry, cache_dir=cache, progress=False)
    # Without converting: the parent's verified weights files.
    up = Upscaler(model=entry.id, catalog=catalog, cache_dir=cache)
    (folder,) = up.prepare(convert=False, progress=False)
    assert (folder / "model.json").is_file()


def test_the_output_is_the_float_mean_of_eight_tiled_runs(catalog: Catalog, cache: Path) -> None:
    from upscaler import Upscaler

    image = _image((23, 19, 3), np.uint8)
    options = {"patch_size": 8, "progress": False}
    ensemble = Upscaler(model="tinyq.ens8-x2", catalog=catalog, cache_dir=cache)
    parent = Upscaler(model="tinyq.x2", catalog=catalog, cache_dir=cache)
    got = np.asarray(ensemble.upscale(image, **options))
    unit = image.astype(np.float32) / 255
    runs = [
        inverse(np.asarray(parent.upscale(np.ascontiguousarray(forward(unit)), **options)))
        for forward, inverse in D4
    ]
    mean = np.mean(np.stack(runs).astype(np.float64), axis=0) * 255
    expected = np.rint(np.clip(mean, 0, 255))
    # Float32 sums in another order may land on the other side of a .5 only there.
    decided = np.abs(mean - np.floor(mean) - 0.5) > 1e-3
    assert got.shape == (46, 38, 3) and got.dtype == np.uint8
    assert np.array_equal(got[decided], expected[decided])
    assert np.abs(got.astype(np.int16) - expected).max() <= 1
    single = np.asarray(parent.upscale(image, **options)).astype(np.int16)
    assert np.count_nonzero(got != single) > got.size // 10, "the passes really differ"
    # Rounding each pass before averaging is another, worse-founded result.
    rounded_first = np.rint(np.mean(np.rint(np.stack(runs) * 255), axis=0))
    assert not np.array_equal(got, rounded_first)


def test_the_tiling_is_the_parents_and_progress_counts_every_pass(
    catalog: Catalog, cache: Path
) -> None:
    from upscaler import Upscaler

    image = _image((23, 19, 3), np.uint8)
    ensemble = Upscaler(model="tinyq.ens8-x2", catalog=catalog, cache_dir=cache)
    parent = Upscaler(model="tinyq.x2", catalog=catalog, cache_dir=cache)
    parent.upscale(image.transpose(1, 0, 2), patch_size=8, progress=False)
    turned = parent.describe().runtime.tiling
    parent.upscale(image, patch_size=8, progress=False)
    upright = parent.describe().runtime.tiling
    assert upright is not None and turned is not None and upright["tiles"] > 1
    calls: list[tuple[int, int]] = []
    ensemble.upscale(image, patch_size=8, progress=False, callback=lambda *c: calls.append(c))
    tiling = ensemble.describe().runtime.tiling
    assert tiling is not None and tiling.pop("passes") == 8
    assert tiling == upright, "each pass runs the parent's tiling"
    total = 4 * upright["tiles"] + 4 * turned["tiles"]
    assert calls == [(done, total) for done in range(1, total + 1)]


def test_cancel_stops_it_in_a_later_pass(catalog: Catalog, cache: Path) -> None:
    import threading

    from upscaler import Upscaler
    from upscaler.errors import Cancelled

    image = _image((23, 19, 3), np.uint8)
    cancel = threading.Event()
    calls: list[int] = []

    def callback(done: int, total: int) -> None:
        calls.append(done)
        if done == total // 2:
            cancel.set()

    ensemble = Upscaler(model="tinyq.ens8-x2", catalog=catalog, cache_dir=cache)
    with pytest.raises(Cancelled):
        ensemble.upscale(image, patch_size=8, progress=False, callback=callback, cancel=cancel)
    assert calls and calls[-1] == max(calls)


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((21, 17), np.uint8),  # gray: replicated to RGB, back to luma
        ((21, 17, 4), np.uint16),  # RGBA, 16-bit: alpha through the model too
        ((21, 17, 3), np.float32),
    ],
    ids=["gray", "rgba16", "float"],
)
@pytest.mark.slow
def test_every_image_kind_runs_through_the_ensemble(
    catalog: Catalog, cache: Path, shape: tuple[int, ...], dtype: Any
) -> None:
    from upscaler import Upscaler

    top = 1.0 if dtype == np.float32 else float(np.iinfo(dtype).max)
    image = _image(shape, dtype)
    if len(shape) == 3 and shape[2] == 4:
        image[:, :8, 3] = 0  # a transparent band, so alpha really goes through the model
    ensemble = Upscaler(model="tinyq.ens8-x2", catalog=catalog, cache_dir=cache)
    parent = Upscaler(model="tinyq.x2", catalog=catalog, cache_dir=cache)
    ours, theirs = (np.asarray(u.upscale(image, progress=False)) for u in (ensemble, parent))
    assert ours.shape == theirs.shape == (42, 34, *shape[2:]) and ours.dtype == dtype
    difference = np.abs(ours.astype(np.float64) - theirs.astype(np.float64)) / top
    assert 0 < difference.mean() < 0.05, difference.mean()
    assert ensemble.describe().runtime.last_run == parent.describe().runtime.last_run


def test_a_model_that_commutes_with_flips_gives_exactly_its_own_output(
    tmp_path: Path, tf: Any
) -> None:
    from upscaler import Upscaler

    root = write_tiny_catalog(tmp_path)  # `tiny.x2`: nearest neighbour x2
    family = root / "models" / "tiny.yaml"
    family.write_text(family.read_text() + ENSEMBLE.replace("tinyq", "tiny"))
    catalog = load_catalog(root)
    up = Upscaler(model="tiny.ens8-x2", catalog=catalog, cache_dir=tmp_path / "cache")
    for image in (_image((13, 9, 3), np.uint8), _image((13, 9), np.uint16)):
        got = np.asarray(up.upscale(image, progress=False))
        assert np.array_equal(got, nearest_x2(image))


# ---------------------------------------------------------------- describe and rank


def _measured(catalog: Catalog, numbers: dict[str, tuple[float, float | None]]) -> Catalog:
    """``catalog`` with Set5 PSNR and (optionally) ms per megapixel set per model id."""
    provenance = {"command": "measured", "version": "test", "date": "2026-12-02"}

    def update(entry: ModelEntry) -> ModelEntry:
        if entry.id not in numbers:
            return entry
        psnr, ms = numbers[entry.id]
        metrics = Metrics.model_validate(
            {"provenance": provenance, "sets": {"set5": {"psnr_y": psnr, "ssim_y": 0.9}}}
        )
        speed = (
            None
            if ms is None
            else Speed.model_validate({"ms_per_output_megapixel": ms, "provenance": provenance})
        )
        return entry.model_copy(update={"metrics": metrics, "speed": speed})

    entries = tuple(update(e) for e in catalog.entries)
    return Catalog(catalog.root, catalog.vocab, entries, catalog.families)


def test_describe_says_what_it_runs_and_its_measured_delta(catalog: Catalog, cache: Path) -> None:
    from upscaler import Upscaler

    text = str(Upscaler(model="tinyq.ens8-x2", catalog=catalog, cache_dir=cache).describe())
    assert (
        "derived      self-ensemble of tinyq.x2: 8 passes (flips and rotations averaged), "
        "about 8x the parent's time; quality delta not measured yet; time not measured yet"
    ) in text
    measured = _measured(catalog, {"tinyq.x2": (30.0, 100.0), "tinyq.ens8-x2": (30.12, 790.0)})
    described = Upscaler(model="tinyq.ens8-x2", catalog=measured, cache_dir=cache).describe()
    assert described.derivation is not None
    assert described.derivation["ensemble"] == "dihedral-x8"
    assert described.derivation["metrics"]["set5"]["delta_db"] == pytest.approx(0.12)
    assert (
        "derived      self-ensemble of tinyq.x2: 8 passes (flips and rotations averaged), "
        "about 8x the parent's time; set5 +0.12 dB; measured 7.9x its time"
    ) in str(described)
    assert json.loads(json.dumps(described.to_dict()))["derivation"]["parent"] == "tinyq.x2"


def _first(catalog: Catalog, prefer: str) -> str:
    from upscaler.resolve.resolver import build_query, resolve

    return resolve(build_query("scale=2", catalog), catalog, prefer=prefer).matches[0]


def test_accurate_picks_it_when_it_measures_better_and_nothing_else_does(
    catalog: Catalog,
) -> None:
    better = _measured(catalog, {"tinyq.x2": (30.0, 100.0), "tinyq.ens8-x2": (30.12, 800.0)})
    assert _first(better, "accurate") == "tinyq.ens8-x2", "ranked by its own PSNR"
    # 3 doublings of time cost 0.75 dB under balanced; 0.12 dB does not buy them.
    assert _first(better, "balanced") == "tinyq.x2"
    assert _first(better, "fast") == "tinyq.x2"
    # Never the fast choice, not even when its parent's speed is unknown.
    unknown = _measured(catalog, {"tinyq.x2": (30.0, None), "tinyq.ens8-x2": (30.12, 800.0)})
    assert _first(unknown, "fast") == "tinyq.x2"
    # Its own numbers, not its parent's: measured worse, it loses under accurate too.
    worse = _measured(catalog, {"tinyq.x2": (30.0, 100.0), "tinyq.ens8-x2": (29.9, 800.0)})
    assert _first(worse, "accurate") == "tinyq.x2"
    # Unmeasured, the parent comes first in every preference (the catalog order).
    for prefer in ("balanced", "fast", "accurate"):
        assert _first(catalog, prefer) == "tinyq.x2"


# ---------------------------------------------------------------- the real model


@pytest.mark.real_model
def test_spans_ensemble_is_close_to_and_not_the_single_pass() -> None:
    from realmodels.realmodel_inputs import photo_like

    from upscaler import Upscaler

    crop = photo_like(40, 36)
    single = np.asarray(Upscaler(model="span.ch48-x2").upscale(crop, progress=False))
    ensemble = np.asarray(Upscaler(model="span.ch48-ens8-x2").upscale(crop, progress=False))
    assert ensemble.shape == single.shape == (80, 72, 3) and ensemble.dtype == np.uint8
    difference = ensemble.astype(np.float64) - single.astype(np.float64)
    assert np.count_nonzero(difference) > difference.size // 20, "the passes really differ"
    # Close: the two agree to about 44 dB on this noisy crop (1.2 grey levels mean
    # difference when written); the same network, averaged, is no other picture.
    psnr = 10 * np.log10(255.0**2 / np.mean(difference**2))
    assert 38.0 < psnr < 60.0, psnr

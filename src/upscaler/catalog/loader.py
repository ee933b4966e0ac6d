"""Catalog folder → validated :class:`Catalog`, reporting every problem with file:line.

Validation collects all problems before failing, because a contributor with five typos
should see five lines, not fix-rerun five times.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from upscaler import settings
from upscaler.catalog.attributes import ATTRIBUTES, QUERY_ATTRIBUTES
from upscaler.catalog.protocols import BICUBIC, PROTOCOLS
from upscaler.catalog.schema import (
    BFLOAT16,
    PARSEABLE,
    SOURCE_TAGS,
    FamilySpec,
    ModelEntry,
    VariantFields,
    VariantSpec,
    model_id,
)
from upscaler.catalog.vocab import SECTIONS, Vocabulary
from upscaler.catalog.yaml_lines import YamlSyntaxError, line_of, read_yaml, to_plain
from upscaler.errors import CatalogError, NoMatchingModel, nearest

# Vocabulary attributes a family file sets; the others (domain) are derived from them.
VARIANT_VOCAB_ATTRIBUTES: tuple[str, ...] = tuple(
    attr for attr in SECTIONS.values() if attr in VariantFields.model_fields
)

# What a variant must have once merged with its family's defaults: the attributes with no
# default that are not derived (architecture and implementation always are, from the
# family), and its value range.
REQUIRED_AFTER_MERGE = (
    *(a.name for a in ATTRIBUTES if a.entry_default is None and not a.derived),
    "value_range",
)


def shipped_catalog_dir() -> Path:
    """The catalog folder this installation uses.

    An installed wheel carries it as ``upscaler/_catalog``; a source checkout (editable
    install, tests) uses the repository's top-level ``catalog/``. $UPSCALER_CATALOG wins.
    """
    override = settings.catalog_override()
    if override is not None:
        return override
    packaged = Path(__file__).resolve().parent.parent / "_catalog"
    if (packaged / "vocab.yaml").is_file():
        return packaged
    return Path(__file__).resolve().parents[3] / "catalog"


@dataclass(frozen=True)
class Catalog:
    """Every model entry plus the vocabulary, indexed for lookups."""

    root: Path
    vocab: Vocabulary
    entries: tuple[ModelEntry, ...]
    families: dict[str, FamilySpec] = field(default_factory=dict)

    @functools.cached_property
    def by_id(self) -> dict[str, ModelEntry]:
        """Entries keyed by ``family.variant``."""
        return {e.id: e for e in self.entries}

    @property
    def global_default(self) -> ModelEntry:
        """The model ``Upscaler()`` uses with no query."""
        for entry in self.entries:
            if entry.global_default:
                return entry
        raise CatalogError([f"{self.root}: no global default model"])  # validated earlier

    def get(self, model: str) -> ModelEntry:
        """Look up a model id; a family name alone gives the family default."""
        if model in self.by_id:
            return self.by_id[model]
        for entry in self.entries:
            if entry.family == model and entry.default:
                return entry
        ids = sorted(self.by_id)
        close = nearest(model, ids + sorted(self.families))
        raise NoMatchingModel(
            f"unknown model {model!r}",
            hint=(f"did you mean {close[0]!r}? " if close else "")
            + "`upscaler models list` shows every model",
        )


def _format_pydantic(error: dict[str, Any]) -> str:
    # Union tags are no keys; keys may start upper-case (an int8 recipe's tensor names).
    loc = ".".join(str(p) for p in error["loc"] if str(p) not in SOURCE_TAGS)
    msg = str(error["msg"])
    return f"{loc}: {msg}" if loc else msg


def _load_vocab(path: Path, problems: list[str]) -> Vocabulary | None:
    try:
        raw = read_yaml(path)
    except FileNotFoundError:
        problems.append(f"{path}:1: vocabulary file is missing")
        return None
    except YamlSyntaxError as exc:
        problems.append(f"{path}:{exc.line}: {exc.message}")
        return None
    try:
        return Vocabulary.model_validate(to_plain(raw))
    except ValidationError as exc:
        for err in exc.errors():
            problems.append(f"{path}:{line_of(raw, err['loc'])}: {_format_pydantic(dict(err))}")
        return None


def _merge(defaults: VariantFields, variant: VariantSpec) -> dict[str, Any]:
    merged: dict[str, Any] = defaults.model_dump(exclude_none=True)
    merged.update(variant.model_dump(exclude_none=True, exclude={"default"}))
    return merged


def _check_protocol_metrics(
    path: Path, raw: Any, name: str, variant: VariantSpec, problems: list[str]
) -> None:
    """``protocol_metrics`` keys are protocol names, and each block's provenance names that
    protocol's versioned id: numbers filed under the wrong condition would rank models by
    a test they never took."""
    for key, block in variant.protocol_metrics.items():
        where = f"{path}:{line_of(raw, ['variants', name, 'protocol_metrics', key])}"
        spec = PROTOCOLS.get(key)
        if spec is None or key == BICUBIC:
            valid = ", ".join(p for p in PROTOCOLS if p != BICUBIC)
            fix = "the bicubic protocol's numbers belong in `metrics`" if key == BICUBIC else ""
            problems.append(
                f"{where}: protocol_metrics key {key!r} is not a degradation protocol "
                f"(valid: {valid}){'; ' + fix if fix else ''}"
            )
        elif block.provenance.protocol != spec.id:
            problems.append(
                f"{where}: protocol_metrics.{key} was measured under "
                f"{block.provenance.protocol!r}, not {spec.id!r}; re-measure with "
                f"`upscaler eval {model_id(path.stem, name)} --protocol {key} --write`"
            )


def _check_term(vocab: Vocabulary, attr: str, value: Any, where: str, problems: list[str]) -> None:
    if value in vocab.terms(attr):
        return
    canon = vocab.canonical(attr, value)
    fix = (
        f"write the canonical id {canon!r}"
        if canon
        else f"valid: {', '.join(sorted(vocab.terms(attr)))}; add new values to catalog/vocab.yaml"
    )
    problems.append(f"{where}: unknown {attr} {value!r} ({fix})")


def _entries_of(
    path: Path, raw: Any, spec: FamilySpec, vocab: Vocabulary | None, problems: list[str]
) -> list[ModelEntry]:
    entries: list[ModelEntry] = []
    if spec.family != path.stem:
        problems.append(
            f"{path}:{line_of(raw, ['family'])}: family {spec.family!r} must equal the file "
            f"name stem {path.stem!r}"
        )
    defaults_count = sum(1 for v in spec.variants.values() if v.default)
    if defaults_count != 1:
        problems.append(
            f"{path}:{line_of(raw, ['variants'])}: family {spec.family!r} must mark exactly one "
            f"variant `default: true`, found {defaults_count}"
        )
    if spec.global_default is not None and spec.global_default not in spec.variants:
        problems.append(
            f"{path}:{line_of(raw, ['global_default'])}: global_default {spec.global_default!r} "
            f"is not a variant of {spec.family!r} (variants: {', '.join(spec.variants)})"
        )
    if vocab is not None:
        # Family-level values are checked once, at their own lines; variants only for
        # what they set themselves, so one typo is one problem.
        for attr in ("architecture", "implementation"):
            where = f"{path}:{line_of(raw, [attr])}"
            _check_term(vocab, attr, getattr(spec, attr), where, problems)
        for attr in VARIANT_VOCAB_ATTRIBUTES:
            value = getattr(spec.defaults, attr)
            if value is not None:
                where = f"{path}:{line_of(raw, ['defaults', attr])}"
                _check_term(vocab, attr, value, where, problems)
    for name, variant in spec.variants.items():
        loc_line = line_of(raw, ["variants", name])
        merged = _merge(spec.defaults, variant)
        merged.setdefault("architecture", spec.architecture)
        merged.setdefault("implementation", spec.implementation)
        merged.setdefault("paper", spec.paper)
        merged.setdefault("license", spec.license)
        merged.setdefault("license_note", spec.license_note)
        merged.setdefault("description", spec.description)
        missing = [k for k in REQUIRED_AFTER_MERGE if k not in merged]
        if missing:
            problems.append(
                f"{path}:{loc_line}: variant {name!r} lacks {', '.join(missing)} "
                "(set them under the variant or in `defaults`)"
            )
            continue
        if vocab is not None:
            for attr in VARIANT_VOCAB_ATTRIBUTES:
                if attr in variant.model_fields_set:
                    line = line_of(raw, ["variants", name, attr])
                    _check_term(vocab, attr, merged[attr], f"{path}:{line}", problems)
        merged["domain"] = (
            vocab.domain_of(merged["dataset"])
            if vocab is not None and merged["dataset"] in vocab.datasets
            else "general"
        )
        lo, hi = merged["value_range"]
        if not lo < hi:
            problems.append(f"{path}:{loc_line}: value_range must be [low, high] with low < high")
        if variant.weights is None and variant.derived_from is None and not variant.ensemble:
            problems.append(f"{path}:{loc_line}: variant {name!r} needs `weights`")
        _check_quantize(path, raw, name, variant, merged=merged, problems=problems)
        _check_ensemble(path, raw, name, variant, problems=problems)
        _check_protocol_metrics(path, raw, name, variant, problems)
        try:
            entry = ModelEntry(
                id=model_id(spec.family, name),
                family=spec.family,
                variant=name,
                title=f"{spec.title} {name}",
                default=variant.default,
                global_default=spec.global_default == name,
                source_file=str(path),
                source_line=loc_line,
                **merged,
            )
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(f"{path}:{loc_line}: {name}: {_format_pydantic(dict(err))}")
            continue
        entries.append(entry)
    return entries


def _check_quantize(
    path: Path,
    raw: Any,
    name: str,
    variant: VariantSpec,
    *,
    merged: dict[str, Any],
    problems: list[str],
) -> None:
    """A variant built from its parent (int8 with its `quantize` recipe, or bfloat16,
    which needs none) names its parent in `derived_from` and has no `weights` of its own:
    they are built, never fetched."""
    recipe = variant.quantize is not None
    quantization = merged.get("quantization")
    int8, bf16 = quantization == "int8", quantization == BFLOAT16
    where = f"{path}:{line_of(raw, ['variants', name, 'quantize' if recipe else 'quantization'])}"
    if recipe and not int8:
        problems.append(
            f"{where}: variant {name!r} has a `quantize` recipe but quantization "
            f"{quantization!r}; set `quantization: int8`"
        )
    if int8 and not recipe:
        problems.append(f"{where}: variant {name!r} is int8 but has no `quantize` recipe")
    built = recipe or bf16
    if built and variant.derived_from is None:
        problems.append(f"{where}: variant {name!r} quantizes a parent: set `derived_from`")
    if built and variant.weights is not None:
        problems.append(
            f"{where}: variant {name!r} is built from its parent's weights; remove `weights`"
        )


def _check_ensemble(
    path: Path, raw: Any, name: str, variant: VariantSpec, *, problems: list[str]
) -> None:
    """An ensemble variant runs its parent's model as it is, 8 times (see
    :data:`~upscaler.catalog.schema.DIHEDRAL_X8`): it names the parent in `derived_from`
    and has no `weights` or `quantize` recipe of its own."""
    if variant.ensemble is None:
        return
    where = f"{path}:{line_of(raw, ['variants', name, 'ensemble'])}"
    if variant.derived_from is None:
        problems.append(
            f"{where}: variant {name!r} is an ensemble of its parent: set `derived_from` to "
            "the model it runs"
        )
    if variant.weights is not None:
        problems.append(
            f"{where}: variant {name!r} is an ensemble; it runs its parent's weights, so "
            "remove `weights`"
        )
    if variant.quantize is not None:
        problems.append(
            f"{where}: variant {name!r} is an ensemble; it runs its parent's model as it is, "
            "so remove `quantize` (make the ensemble of a quantized variant's parent instead)"
        )


ENSEMBLE_MATCHES = ("scale", "channels", "value_range", "wrapper", "quantization")
"""What an ensemble variant must share with its parent: it runs the parent's model on the
same pixels, so it cannot claim another scale, layout or arithmetic."""


def _check_ensemble_parents(
    entries: list[ModelEntry], by_id: dict[str, ModelEntry], problems: list[str]
) -> None:
    """An ensemble's parent is a model with weights of its own (not another ensemble,
    which would run 64 passes, nor an int8 or bfloat16 build, whose own parent the
    ensemble could not reach), of the same scale, channels, value range, wrapper and
    quantization."""
    for e in entries:
        parent = by_id.get(e.derived_from or "")
        if e.ensemble is None or parent is None:
            continue
        where = f"{e.source_file}:{e.source_line}"
        if parent.ensemble is not None:
            problems.append(
                f"{where}: {e.id} is an ensemble of {parent.id}, which is an ensemble itself; "
                f"set `derived_from: {parent.derived_from}`"
            )
        elif parent.weights is None:
            problems.append(
                f"{where}: {e.id} is an ensemble of {parent.id}, which has no weights of its "
                "own; derive the ensemble from a model that has"
            )
        for attr in ENSEMBLE_MATCHES:
            if getattr(e, attr) != getattr(parent, attr):
                problems.append(
                    f"{where}: {e.id} has {attr} {getattr(e, attr)!r} but its parent "
                    f"{parent.id} has {getattr(parent, attr)!r} (an ensemble runs its "
                    "parent's model as it is)"
                )


def _check_parents(
    entries: list[ModelEntry], by_id: dict[str, ModelEntry], problems: list[str]
) -> None:
    """A variant built from its parent (int8 or bfloat16) needs a float model with
    weights, of the same scale, channels and value range (it runs the parent's network on
    the same pixels)."""
    for e in entries:
        parent = by_id.get(e.derived_from or "")
        if not e.built_from_parent or parent is None:
            continue
        where = f"{e.source_file}:{e.source_line}"
        if parent.weights is None or parent.built_from_parent:
            problems.append(
                f"{where}: {e.id} quantizes {parent.id}, which has no weights of its own"
            )
        elif parent.weights.format not in PARSEABLE:
            problems.append(
                f"{where}: {e.id} is built from {parent.id}, whose {parent.weights.format} "
                f"weights cannot be rebuilt yet (only {', '.join(PARSEABLE)})"
            )
        for attr in ("scale", "channels", "value_range", "wrapper"):
            if getattr(e, attr) != getattr(parent, attr):
                problems.append(
                    f"{where}: {e.id} has {attr} {getattr(e, attr)!r} but its parent "
                    f"{parent.id} has {getattr(parent, attr)!r}"
                )


def _family_files(paths: Sequence[Path]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            models = p / "models" if (p / "models").is_dir() else p
            files.extend(sorted(models.glob("*.yaml")))
        else:
            files.append(p)
    return files


def load_catalog(
    root: Path | None = None, *, overlay: Iterable[Path] = (), vocab_path: Path | None = None
) -> Catalog:
    """Load and validate a catalog; raise :class:`CatalogError` listing every problem.

    ``overlay`` files replace (by file name) or add to the families of ``root``; this is
    how `upscaler catalog validate new-family.yaml` checks a contribution against the
    shipped catalog's cross-entry rules.
    """
    root = root or shipped_catalog_dir()
    problems: list[str] = []
    vocab = _load_vocab(vocab_path or root / "vocab.yaml", problems)
    files = {
        p.name: p for p in _family_files([root / "models"] if (root / "models").is_dir() else [])
    }
    for p in overlay:
        files[p.name] = p
    families: dict[str, FamilySpec] = {}
    entries: list[ModelEntry] = []
    for path in sorted(files.values(), key=lambda p: p.name):
        try:
            raw = read_yaml(path)
        except FileNotFoundError:
            problems.append(f"{path}:1: no such file")
            continue
        except YamlSyntaxError as exc:
            problems.append(f"{path}:{exc.line}: {exc.message}")
            continue
        if not isinstance(raw, dict):
            problems.append(f"{path}:1: a family file must be a YAML mapping")
            continue
        try:
            spec = FamilySpec.model_validate(to_plain(raw))
        except ValidationError as exc:
            for err in exc.errors():
                problems.append(f"{path}:{line_of(raw, err['loc'])}: {_format_pydantic(dict(err))}")
            continue
        families[spec.family] = spec
        entries.extend(_entries_of(path, raw, spec, vocab, problems))
    _cross_entry_rules(entries, problems)
    if problems or vocab is None:
        raise CatalogError(
            _capped(problems) or [f"{root}: invalid vocabulary"],
            hint="fix each file:line above, then run `upscaler catalog validate`",
        )
    entries.sort(key=lambda e: (e.family, e.scale, e.variant))
    return Catalog(root=root, vocab=vocab, entries=tuple(entries), families=families)


MAX_PROBLEMS = 100
"""Most problems reported at once; the rest are counted in one last line."""


def _capped(problems: list[str]) -> list[str]:
    """The first :data:`MAX_PROBLEMS` problems and a line counting the ones left out.

    A file of 100,000 unknown keys is one mistake made 100,000 times; printing them all
    buries the first line (the one to fix) under minutes of output. The last line keeps
    the ``file:line:`` shape, pointing at the first problem left out.
    """
    if len(problems) <= MAX_PROBLEMS:
        return problems
    left_out = len(problems) - MAX_PROBLEMS
    where = problems[MAX_PROBLEMS].split(": ", 1)[0]
    return [
        *problems[:MAX_PROBLEMS],
        f"{where}: and {left_out} more problems left out; fix the ones above and validate again",
    ]


def _cross_entry_rules(entries: list[ModelEntry], problems: list[str]) -> None:
    seen: dict[str, ModelEntry] = {}
    for e in entries:
        if e.id in seen:
            first = seen[e.id]
            problems.append(
                f"{e.source_file}:{e.source_line}: duplicate model id {e.id!r} "
                f"(first at {first.source_file}:{first.source_line})"
            )
        seen[e.id] = e
    globals_ = [e for e in entries if e.global_default]
    if not globals_ and entries:
        problems.append(
            f"{entries[0].source_file}:1: the catalog has no `global_default`; set "
            "`global_default: <variant>` in exactly one family file"
        )
    for extra in globals_[1:]:
        problems.append(
            f"{extra.source_file}:{extra.source_line}: {extra.id} is a second global default "
            f"(the first is {globals_[0].id} at {globals_[0].source_file}:"
            f"{globals_[0].source_line}); keep exactly one `global_default`"
        )
    _check_parents(entries, seen, problems)
    _check_ensemble_parents(entries, seen, problems)
    for e in entries:
        if e.derived_from is not None and e.derived_from not in seen:
            problems.append(
                f"{e.source_file}:{e.source_line}: derived_from {e.derived_from!r} names no "
                f"model (nearest: {', '.join(nearest(e.derived_from, sorted(seen))) or 'none'})"
            )


@functools.lru_cache(maxsize=4)
def _cached(root: Path) -> Catalog:
    return load_catalog(root)


def default_catalog() -> Catalog:
    """The shipped (or $UPSCALER_CATALOG) catalog, parsed once per process."""
    return _cached(shipped_catalog_dir())


__all__ = ["QUERY_ATTRIBUTES", "Catalog", "default_catalog", "load_catalog", "shipped_catalog_dir"]

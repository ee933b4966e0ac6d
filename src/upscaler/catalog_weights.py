"""A community checkpoint → a catalog entry: ``upscaler catalog add-weights``.

Why a command and not a hand-written entry: a PyTorch or safetensors checkpoint says
nothing about itself but tensor names and shapes, and an entry needs its architecture,
scale, channels, hyper-parameters, sha256 and size, all of which a contributor would
otherwise copy by hand from somewhere, with typos. The command reads them from the file
itself (the converter's own detection, :mod:`upscaler.convert.architectures`), so the
entry says exactly what users' machines will find when they fetch and convert the file.

What it cannot read from the file it requires: the licence (a file without one must not
enter the catalog; ``--license``), where users download it from (a ``url`` source, each
file at ``url/<name>``, with mirrors), and the training data and publisher as
vocabulary ids (taken from the family file when the family exists).

Order of work, so that a refusal changes nothing: every option is checked before any
path is built from it or anything is downloaded; the file is downloaded (a URL) into
the cache's temp folder under a size cap, hashed and parsed into the shared ops (no
TensorFlow: the network's graph is built, every size checked); the new family file is
validated with the whole catalog by the real loader; only then is it written, in one
rename, holding the family file's lock. A downloaded file enters the cache only once the
entry is written, so a refused run caches nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import tempfile
import unicodedata
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler.catalog.yaml_edit import flow_list
from upscaler.errors import CatalogError, FetchError, nearest

if TYPE_CHECKING:
    from upscaler.catalog.loader import Catalog
    from upscaler.catalog.vocab import Vocabulary

log = logging.getLogger("upscaler.catalog_weights")

DOWNLOAD_LIMIT = 8 * 2**30
"""Largest checkpoint downloaded by URL (bytes): the converter's own ceiling on a
checkpoint file (:data:`upscaler.convert.limits.MAX_CHECKPOINT_FILE_BYTES`, 8 GiB; the
largest published SR checkpoints, HAT-L's, are about 160 MB)."""

CHECKPOINT_SUFFIXES = (".pth", ".pt", ".ckpt", ".safetensors")
"""The files this command takes (the ``pytorch`` and ``safetensors`` format rows)."""

NOT_WRITTEN = "nothing was written; fix the option and rerun"

_ID_FORM = "lowercase letters, digits and '-', starting with a letter or digit (e.g. 'x4-span')"

_NO_LICENCE = {"noassertion", "none", "unknown", "unlicensed", "n/a", "?"}
"""Words that state no licence: an entry's licence must say what users may do."""

_SPDX_TOKEN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+-]*\Z")
"""One SPDX licence id or ``LicenseRef-…`` (SPDX specification 2.3, annex D)."""

_SPDX_OPERATORS = {"AND", "OR", "WITH"}

DEFAULTS = {"objective": "fidelity", "degradation": "bicubic"}
"""What a checkpoint is taken to be unless told: trained for fidelity on bicubic
downscaling (the classic setting). A GAN or real-world model must say so."""


@dataclass(frozen=True)
class CheckpointFacts:
    """What the checkpoint says about itself, in the catalog's words."""

    architecture: str
    """The catalog vocabulary term (``span``, ``srvgg``, ``rrdn``, …)."""
    detected: str
    """The converter's name for the network (``SPAN``, ``Compact``, …)."""
    format: str
    """The format table's row: ``pytorch`` or ``safetensors`` (read from the bytes)."""
    scale: int
    channels: int
    params: dict[str, int]
    """The integer hyper-parameters (widths, depths, flags as 0/1)."""
    receptive_field: int | None
    description: str
    """One line: the network, every hyper-parameter, the container and the layout."""


@dataclass(frozen=True)
class AddedWeights:
    """What :func:`add_weights` wrote, for the command's report."""

    model_id: str
    family_file: Path
    created_family: bool
    variant_yaml: str
    """The variant's block as written (the whole file when the family is new)."""
    url: str
    """Where users' machines download the file: ``url/<file name>``."""
    mirrors: tuple[str, ...]
    file: dict[str, Any]
    """The weights file's entry: ``path``, ``sha256``, ``size``."""
    downloaded: bool
    """True when the file was downloaded from :attr:`url` by this command (so the URL
    is known to serve it); False for a local file, whose URL nobody checked."""
    facts: CheckpointFacts
    defaulted: tuple[str, ...]
    """Attributes taken from defaults rather than options (``objective=fidelity``)."""


# --------------------------------------------------------------------------- checks


def _refuse(message: str, hint: str = NOT_WRITTEN) -> CatalogError:
    return CatalogError([message], hint=hint)


def check_ids(family: str, variant: str) -> None:
    """Both ids in the catalog's own form (``ID_PATTERN``) before they name a file:
    ``--family ../x`` would otherwise be the path ``models/../x.yaml``."""
    from upscaler.catalog.schema import ID_PATTERN

    if ID_PATTERN.match(f"{family}.x") is None:
        raise _refuse(
            f"--family {family!r} is not a family id (it would be the file "
            f"'models/{family}.yaml'): ids are {_ID_FORM}"
        )
    if ID_PATTERN.match(f"x.{variant}") is None:
        raise _refuse(f"--variant {variant!r} is not a variant id: ids are {_ID_FORM}")


def check_text(flag: str, value: str | None) -> None:
    """One line of printable text: it lands in YAML and from there in tables and
    ``describe()``, where a line break or a control character breaks the layout."""
    if value is None:
        return
    bad = [ch for ch in value if unicodedata.category(ch) in ("Cc", "Zl", "Zp")]
    if not value.strip() or bad:
        what = "is blank" if not value.strip() else f"holds {bad[0]!r}"
        raise _refuse(
            f"{flag} {value!r} {what}",
            hint="give one line of text without line breaks or control characters; " + NOT_WRITTEN,
        )


def check_license(value: str | None) -> str:
    """The licence as an SPDX expression (ids joined by AND / OR / WITH, in brackets if
    need be; ``LicenseRef-…`` for one SPDX does not list). Required: a file whose licence
    is unknown may not be redistributed by pointing users at it."""
    if value is None:
        raise _refuse(
            "--license is required: the catalog only lists weights whose licence is stated",
            hint="read the licence where the checkpoint is published and pass its SPDX id, "
            "e.g. --license MIT, --license Apache-2.0, --license CC-BY-NC-SA-4.0; " + NOT_WRITTEN,
        )
    check_text("--license", value)
    text = value.strip()
    tokens = [t for t in re.split(r"[()\s]+", text) if t]
    wrong = [t for t in tokens if t not in _SPDX_OPERATORS and not _SPDX_TOKEN.match(t)]
    unbalanced = text.count("(") != text.count(")")
    if text.lower() in _NO_LICENCE or wrong or unbalanced or tokens[-1] in _SPDX_OPERATORS:
        shown = wrong[0] if wrong else text
        raise _refuse(
            f"--license {value!r} is not an SPDX licence expression (at {shown!r})",
            hint="pass the SPDX id of the licence the publisher states, e.g. MIT, "
            "Apache-2.0, CC-BY-4.0, or 'MIT OR Apache-2.0'; LicenseRef-NAME for one SPDX "
            "does not list; " + NOT_WRITTEN,
        )
    return text


def check_url(flag: str, value: str) -> urllib.parse.SplitResult:
    """An http(s) address without credentials, query or fragment: it is written into a
    public file, and files are fetched at ``url/<path>``, so a query would be lost."""
    check_text(flag, value)
    parts = urllib.parse.urlsplit(value.strip())
    problem = None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        problem = "is not an http(s) address"
    elif parts.username is not None or parts.password is not None:
        problem = "holds credentials, which would be published in the catalog"
    elif parts.query or parts.fragment:
        problem = "has a query or fragment; files are fetched at URL/<file name>"
    elif any(ch.isspace() for ch in value.strip()):
        problem = "holds spaces (write them as %20)"
    if problem is not None:
        raise _refuse(
            f"{flag} {value!r} {problem}",
            hint="give the https address of the folder that serves the file; " + NOT_WRITTEN,
        )
    return parts


def _file_name(name: str, flag: str) -> str:
    if not name.lower().endswith(CHECKPOINT_SUFFIXES) or "/" in name or name.startswith("."):
        raise _refuse(
            f"{flag} {name!r} is not a checkpoint file name ({', '.join(CHECKPOINT_SUFFIXES)})",
            hint="add-weights takes PyTorch and safetensors checkpoints; " + NOT_WRITTEN,
        )
    check_text(flag, name)
    return name


@dataclass(frozen=True)
class _Source:
    """Where the checkpoint is: a local file, or a URL split into folder and name."""

    name: str
    base: str
    local: Path | None
    url: str | None


def _split_url(value: str, flag: str) -> tuple[str, str]:
    """``https://h/a/b/x.pth`` → (``https://h/a/b``, ``x.pth``)."""
    parts = check_url(flag, value)
    folder, _, quoted = parts.path.rpartition("/")
    name = _file_name(urllib.parse.unquote(quoted), flag)
    return urllib.parse.urlunsplit(parts._replace(path=folder)), name


def _source(given: str | os.PathLike[str], url: str | None) -> _Source:
    text = os.fspath(given)
    if "://" in text:
        if url is not None:
            raise _refuse(
                "--url is for a local file; the URL given as FILE_OR_URL is the entry's URL",
                hint="drop --url (add other addresses with --mirror); " + NOT_WRITTEN,
            )
        base, name = _split_url(text, "FILE_OR_URL")
        return _Source(name=name, base=base, local=None, url=text.strip())
    path = Path(text)
    if not path.is_file():
        raise _refuse(
            f"{path} is not a file",
            hint="pass a .pth/.pt/.ckpt/.safetensors file or its https URL",
        )
    name = _file_name(path.name, "FILE")
    if url is None:
        raise _refuse(
            f"--url is required with a local file ({path.name}): the entry must say where "
            "users' machines download it from",
            hint="publish the file (a release page, a model hub) and pass the folder's "
            f"address, e.g. --url https://example.org/models (the file is then fetched at "
            f".../{name}); " + NOT_WRITTEN,
        )
    parts = check_url("--url", url)
    stripped = url.strip().rstrip("/")
    if urllib.parse.unquote(parts.path.rstrip("/").rpartition("/")[2]) == name:
        stripped = stripped.rpartition("/")[0]  # the file's own address was given
    return _Source(name=name, base=stripped, local=path, url=None)


def _term(vocab: Vocabulary, attribute: str, value: str, flag: str) -> str:
    canonical = vocab.canonical(attribute, value)
    if canonical is None:
        terms = sorted(vocab.terms(attribute))
        close = nearest(value, terms)
        raise _refuse(
            f"{flag} {value!r} is not a {attribute} of the vocabulary"
            + (f" (did you mean {', '.join(close)}?)" if close else ""),
            hint=f"one of: {', '.join(terms)}; or add it to catalog/vocab.yaml in the same "
            "pull request; " + NOT_WRITTEN,
        )
    return canonical


# --------------------------------------------------------------------------- the file


@contextlib.contextmanager
def _downloaded(
    source: _Source, cache_dir: str | os.PathLike[str] | None, limit: int, progress: bool
) -> Iterator[tuple[Path, str, Any]]:
    """The URL's file, downloaded into the cache's temp folder under its own name, the
    sha256 of the bytes received, and a function that moves the file into the cache's
    blobs (called once the entry is written); removed on the way out otherwise.
    Downloaded by the fetch code's own downloader: retries, timeouts, deadline, offline
    mode, proxies and limits as for every other weights file."""
    from upscaler.fetch.cache import cache_paths, commit_file
    from upscaler.fetch.download import Expected, download_first

    assert source.url is not None
    paths = cache_paths(cache_dir)
    lock_name = "add-weights-" + hashlib.sha256(source.url.encode()).hexdigest()[:32]
    with paths.lock(lock_name):
        got, attempts = download_first(
            [source.url],
            paths=paths,
            lock_name=lock_name,
            expected=Expected("sha256", limit=limit),
            progress=progress,
            label=source.name,
        )
        if got is None:
            tried = "; ".join(f"{a.source} -> {a.outcome}" for a in attempts)
            raise FetchError(
                f"could not download {source.name} (at most {limit:,} bytes); tried: {tried}",
                hint="check the address in a browser; a file over the limit can be "
                "downloaded by hand and passed as FILE with --url",
            )
        folder = paths.temp_dir(lock_name)
        named = folder / source.name
        got.path.replace(named)

        def commit() -> None:
            blob = paths.blob(got.digest)
            if not blob.exists():
                commit_file(named, blob)

        try:
            yield named, got.digest, commit
        finally:
            got.path.unlink(missing_ok=True)
            shutil.rmtree(folder, ignore_errors=True)


def read_facts(path: Path, label: str) -> CheckpointFacts:
    """Read the checkpoint, detect its network and build it in the shared ops (every
    tensor's shape checked, no TensorFlow), so that a file the converter would refuse
    never enters the catalog. ``label`` names the file in messages (its URL or name)."""
    from upscaler.convert import limits
    from upscaler.convert.architectures.checkpoint import describe_detected
    from upscaler.convert.architectures.registry import detect_architecture
    from upscaler.convert.state_dict import read_state_dict

    state = read_state_dict(path)
    detected = detect_architecture(state.tensors, label)
    graph = detected.build(state.tensors)
    limits.check_tensor_sizes(graph, label)
    params = {
        key: int(value)
        for key, value in detected.hyper.items()
        if isinstance(value, int | bool) and key not in ("scale", "in_channels")
    }
    return CheckpointFacts(
        architecture=detected.architecture.vocabulary,
        detected=detected.name,
        format="safetensors" if state.source_format == "safetensors" else "pytorch",
        scale=detected.scale,
        channels=detected.in_channels,
        params=params,
        receptive_field=detected.receptive_field,
        description=describe_detected(detected, state),
    )


# --------------------------------------------------------------------------- the entry


@dataclass(frozen=True)
class _Wanted:
    """The options, checked and in vocabulary ids."""

    family: str
    variant: str
    license: str
    title: str | None
    paper: str | None
    dataset: str | None
    implementation: str | None
    objective: str
    degradation: str


def _weights_node(
    facts: CheckpointFacts, source: _Source, mirrors: Sequence[str], file: Any
) -> Any:
    from ruamel.yaml.comments import CommentedMap

    src = CommentedMap({"url": source.base})
    if mirrors:
        src["mirrors"] = flow_list(list(mirrors))
    else:
        src.fa.set_flow_style()
    node = CommentedMap({"format": facts.format, "source": src})
    node["files"] = flow_list([file])
    return node


def _family_doc(path: Path, wanted: _Wanted, facts: CheckpointFacts, shared: dict[str, Any]) -> Any:
    """The family file's document: the existing one (comments kept), or a new family
    whose ``defaults`` hold what a next checkpoint of it likely shares."""
    from ruamel.yaml.comments import CommentedMap

    from upscaler.catalog.yaml_edit import round_trip_yaml
    from upscaler.catalog.yaml_lines import checked_text

    if path.is_file():
        doc = round_trip_yaml().load(checked_text(path))
        if not isinstance(doc, dict) or not isinstance(doc.get("variants"), dict):
            raise CatalogError([f"{path}:1: not a family file with `variants`"])
        return doc
    doc = CommentedMap()
    doc["schema_version"] = 1
    doc["family"] = wanted.family
    doc["title"] = wanted.title or wanted.family
    doc["architecture"] = facts.architecture
    doc["implementation"] = wanted.implementation
    if wanted.paper:
        doc["paper"] = wanted.paper
    doc["license"] = wanted.license
    defaults = CommentedMap()
    for key, value in shared.items():
        defaults[key] = flow_list(value) if isinstance(value, list) else value
    doc["defaults"] = defaults
    doc["variants"] = CommentedMap()
    return doc


def _variant_node(
    doc: Any, wanted: _Wanted, facts: CheckpointFacts, shared: dict[str, Any], weights: Any
) -> Any:
    """The variant's keys: what this checkpoint is, plus whatever the family says
    otherwise (another architecture, licence, dataset …), so that the merged entry is
    right in any family file."""
    from ruamel.yaml.comments import CommentedMap

    node = CommentedMap()
    others = {k: v for k, v in doc["variants"].items() if k != wanted.variant}
    if not any(bool(v.get("default")) for v in others.values() if isinstance(v, dict)):
        node["default"] = True
    top = {
        "architecture": facts.architecture,
        "implementation": wanted.implementation,
        "license": wanted.license,
        **({"paper": wanted.paper} if wanted.paper else {}),
    }
    for key, value in top.items():
        if doc.get(key) != value:
            node[key] = value
    family_defaults = doc.get("defaults") or {}
    for key, value in shared.items():
        have = family_defaults.get(key)
        if (list(have) if isinstance(have, list) else have) != value:
            node[key] = flow_list(value) if isinstance(value, list) else value
    node["scale"] = facts.scale
    if family_defaults.get("channels") != facts.channels:
        node["channels"] = facts.channels
    node["description"] = f"{facts.description} (`upscaler catalog add-weights`)"
    if facts.params:
        params = CommentedMap(sorted(facts.params.items()))
        params.fa.set_flow_style()
        node["params"] = params
    if facts.receptive_field is not None:
        tiling = CommentedMap({"context": facts.receptive_field})
        tiling.fa.set_flow_style()
        node["tiling"] = tiling
    node["weights"] = weights
    return node


def _shared(wanted: _Wanted, facts: CheckpointFacts) -> dict[str, Any]:
    """What lives in a new family's ``defaults`` (and is compared with an old one's)."""
    assert wanted.dataset is not None
    return {
        "dataset": wanted.dataset,
        "channels": facts.channels,
        "objective": wanted.objective,
        "degradation": wanted.degradation,
        "pruning": "none",
        "quantization": "none",
        "value_range": [0, 1],
    }


def _from_family(catalog: Catalog, family: str, key: str) -> str | None:
    """A value the existing family sets for all its variants (its ``defaults`` or top)."""
    spec = catalog.families.get(family)
    if spec is None:
        return None
    value = getattr(spec.defaults, key, None) if key == "dataset" else getattr(spec, key)
    return str(value) if value is not None else None


def _check_root(root: Path) -> None:
    if not root.is_dir():
        state = "a file" if root.exists() else "missing"
        raise _refuse(
            f"--catalog {root} is not a folder (it is {state})",
            hint="pass the catalog folder, the one that holds vocab.yaml and models/",
        )
    if (root / "models").is_symlink():
        raise _refuse(f"{root / 'models'} is a symbolic link; family files must lie in {root}")


def _wanted(
    catalog: Catalog,
    path: Path,
    *,
    family: str,
    variant: str,
    license: str,
    title: str | None,
    paper: str | None,
    dataset: str | None,
    implementation: str | None,
    objective: str,
    degradation: str,
) -> _Wanted:
    vocab = catalog.vocab
    exists = path.is_file()
    if exists and catalog.families.get(family) is None:
        raise _refuse(f"{path} exists but does not load as the family {family!r}")
    for flag, value in (("--dataset", dataset), ("--implementation", implementation)):
        key = flag.removeprefix("--")
        if value is None and _from_family(catalog, family, key) is None:
            raise _refuse(
                f"{flag} is required for the new family {family!r}: the checkpoint cannot "
                f"say its {key}",
                hint=f"one of: {', '.join(sorted(vocab.terms(key)))}; or add one to "
                "catalog/vocab.yaml; " + NOT_WRITTEN,
            )
    chosen_dataset = dataset or _from_family(catalog, family, "dataset")
    chosen_impl = implementation or _from_family(catalog, family, "implementation")
    assert chosen_dataset is not None and chosen_impl is not None
    return _Wanted(
        family=family,
        variant=variant,
        license=license,
        title=title,
        paper=paper,
        dataset=_term(vocab, "dataset", chosen_dataset, "--dataset"),
        implementation=_term(vocab, "implementation", chosen_impl, "--implementation"),
        objective=_term(vocab, "objective", objective, "--objective"),
        degradation=_term(vocab, "degradation", degradation, "--degradation"),
    )


def _check_family_fits(catalog: Catalog, path: Path, family: str, facts: CheckpointFacts) -> None:
    """A checkpoint joins only a family of its own network. A variant inherits its
    family's ``defaults`` and cannot unset them: another network's wrapper (padding,
    pre-upscaling), tiling border or training notes would be applied to or said of this
    file."""
    spec = catalog.families.get(family)
    if spec is None:
        return
    if spec.architecture != facts.architecture:
        raise _refuse(
            f"{path} is a family of {spec.architecture} models; this checkpoint is "
            f"{facts.architecture} ({facts.detected})",
            hint="choose another --family (a new one is created); " + NOT_WRITTEN,
        )
    if spec.defaults.wrapper is not None:
        raise _refuse(
            f"{path} wraps its models (`defaults: wrapper:`), as its publisher's runtime "
            "does; a checkpoint is converted with its own padding and must not inherit it",
            hint="choose another --family (a new one is created); " + NOT_WRITTEN,
        )


def _refuse_existing(path: Path, variant: str, replace: bool) -> None:
    from upscaler.catalog.yaml_edit import round_trip_yaml
    from upscaler.catalog.yaml_lines import checked_text

    if replace or not path.is_file():
        return
    doc = round_trip_yaml().load(checked_text(path))
    variants = doc.get("variants") if isinstance(doc, dict) else None
    if isinstance(variants, dict) and variant in variants:
        raise _refuse(
            f"{path} already has a variant {variant!r}",
            hint="pass --replace to overwrite it, or choose another --variant; " + NOT_WRITTEN,
        )


def _write(
    root: Path,
    path: Path,
    wanted: _Wanted,
    facts: CheckpointFacts,
    weights: Any,
    *,
    replace: bool,
) -> tuple[bool, str]:
    """Validate the new family file with the whole catalog, then write it in one rename,
    under the file's lock (a concurrent `eval --write` keeps its numbers). Returns
    whether the family is new and the YAML of what was added."""
    from upscaler.catalog.loader import load_catalog
    from upscaler.catalog.yaml_edit import (
        catalog_file_lock,
        dump,
        round_trip_yaml,
        write_atomically,
    )

    with catalog_file_lock(path):
        _refuse_existing(path, wanted.variant, replace)
        created = not path.is_file()
        shared = _shared(wanted, facts)
        doc = _family_doc(path, wanted, facts, shared)
        node = _variant_node(doc, wanted, facts, shared, weights)
        doc["variants"][wanted.variant] = node
        yaml = round_trip_yaml()
        text = dump(yaml, doc)
        with tempfile.TemporaryDirectory(prefix="upscaler-add-weights-") as tmp:
            candidate = Path(tmp) / path.name
            candidate.write_text(text, encoding="utf-8")
            try:
                load_catalog(root, overlay=[candidate])
            except CatalogError as exc:
                raise CatalogError(
                    [p.replace(str(candidate), str(path)) for p in exc.problems],
                    hint="nothing was written; fix the options (or the vocabulary) and rerun",
                ) from None
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, text)
    shown = text if created else dump(yaml, {"variants": {wanted.variant: node}})
    return created, shown


def add_weights(
    source: str | os.PathLike[str],
    *,
    family: str,
    variant: str,
    license: str | None,
    url: str | None = None,
    mirrors: Sequence[str] = (),
    title: str | None = None,
    dataset: str | None = None,
    implementation: str | None = None,
    objective: str | None = None,
    degradation: str | None = None,
    paper: str | None = None,
    catalog_root: str | os.PathLike[str] | None = None,
    replace: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
    max_bytes: int = DOWNLOAD_LIMIT,
    progress: bool = True,
) -> AddedWeights:
    """Make the checkpoint ``source`` (a local file or its https URL) the catalog model
    ``family.variant``, with a ``url`` weights source.

    A URL is downloaded (at most ``max_bytes``) and becomes the entry's source (its
    folder as ``url``, the file name as the file's path); a local file needs ``url``,
    the folder users' machines will fetch it from, which is not checked from here.
    ``dataset`` and ``implementation`` are vocabulary ids (aliases accepted); an
    existing family's values are used when they are left out. ``objective`` and
    ``degradation`` default to ``fidelity`` and ``bicubic`` (:data:`DEFAULTS`; the
    report lists what was defaulted): say otherwise for a GAN-trained or real-world
    model. ``license`` is required (an SPDX expression).

    Raises CatalogError (a bad option, an existing variant without ``replace``, an
    entry the catalog refuses), FetchError / OfflineError (the URL), ConversionError (a
    file whose network is not supported: the message names the nearest one). Whatever
    is raised, nothing is written and nothing is cached.
    """
    from upscaler.catalog.loader import load_catalog, shipped_catalog_dir
    from upscaler.catalog.schema import model_id
    from upscaler.errors import ConversionError, IntegrityError
    from upscaler.fetch.hashing import file_digest

    check_ids(family, variant)
    licence = check_license(license)
    check_text("--title", title)
    if paper is not None:
        check_url("--paper", paper)
    where = _source(source, url)
    checked_mirrors = tuple(_mirror(m, where.name) for m in mirrors)
    root = Path(catalog_root) if catalog_root is not None else shipped_catalog_dir()
    _check_root(root)
    path = root / "models" / f"{family}.yaml"
    _refuse_existing(path, variant, replace)
    catalog = load_catalog(root)
    wanted = _wanted(
        catalog,
        path,
        family=family,
        variant=variant,
        license=licence,
        title=title,
        paper=paper.strip() if paper else None,
        dataset=dataset,
        implementation=implementation,
        objective=objective or DEFAULTS["objective"],
        degradation=degradation or DEFAULTS["degradation"],
    )
    if max_bytes < 1:
        raise ValueError(f"max_bytes must be positive, not {max_bytes}")
    with contextlib.ExitStack() as stack:
        if where.local is not None:
            file, received, commit, label = where.local, None, None, where.local.name
        else:
            file, received, commit = stack.enter_context(
                _downloaded(where, cache_dir, max_bytes, progress)
            )
            label = where.url or where.name
        try:
            facts = read_facts(file, label)
        except ConversionError as exc:
            exc.hint = (exc.hint + "; " if exc.hint else "") + NOT_WRITTEN
            raise
        if catalog.vocab.canonical("architecture", facts.architecture) is None:
            raise _refuse(
                f"{label}: the architecture {facts.architecture!r} ({facts.detected}) is not "
                "in the vocabulary",
                hint="add it under `architectures:` in catalog/vocab.yaml; " + NOT_WRITTEN,
            )
        _check_family_fits(catalog, path, family, facts)
        sha, size = file_digest(file, "sha256")
        if received is not None and sha != received:
            raise IntegrityError(
                f"{label} changed in the cache's temp folder after it was downloaded",
                hint="run the command again; " + NOT_WRITTEN,
            )
        record = {"path": where.name, "sha256": sha, "size": size}
        weights = _weights_node(facts, where, checked_mirrors, record)
        created, shown = _write(root, path, wanted, facts, weights, replace=replace)
        if commit is not None:
            commit()
    added = AddedWeights(
        model_id=model_id(family, variant),
        family_file=path,
        created_family=created,
        variant_yaml=shown,
        url=f"{where.base}/{urllib.parse.quote(where.name)}",
        mirrors=checked_mirrors,
        file=record,
        downloaded=where.local is None,
        facts=facts,
        defaulted=tuple(
            f"{name}={value}"
            for name, value in DEFAULTS.items()
            if {"objective": objective, "degradation": degradation}[name] is None
        ),
    )
    log.info("added %s (%s) to %s", added.model_id, facts.description, path)
    return added


def _mirror(value: str, name: str) -> str:
    """A mirror: the folder address that serves ``name`` (its own address is cut to
    the folder, as for ``--url``)."""
    parts = check_url("--mirror", value)
    text = value.strip().rstrip("/")
    if urllib.parse.unquote(parts.path.rstrip("/").rpartition("/")[2]) == name:
        text = text.rpartition("/")[0]
    return text

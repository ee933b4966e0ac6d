"""Training sets that contain each other (DF2K ⊇ DIV2K): the vocabulary's `contains`, its
validation, and what the resolver and describe() make of a superset-trained model."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest

from upscaler import NoMatchingModel, Upscaler
from upscaler.catalog import Catalog, load_catalog, shipped_catalog_dir
from upscaler.catalog.vocab import Vocabulary
from upscaler.cli.main import main
from upscaler.errors import CatalogError
from upscaler.resolve import build_query, resolve
from upscaler.resolve import resolver as resolver_module
from upscaler.resolve.distance import (
    CHANNEL_COST,
    DATASET_SUPERSET_COST,
    SUBSTITUTION_COST,
    differences,
)
from upscaler.resolve.result import Difference

MISSION = "dataset=DIV2K scale=2 channels=4"
PROBLEM = re.compile(r"^(?P<file>.+?vocab\.yaml):(?P<line>\d+): (?P<message>.*)$")


# --- the vocabulary ------------------------------------------------------------------------


def test_shipped_vocab_says_which_sets_contain_which(catalog: Catalog) -> None:
    vocab = catalog.vocab
    assert vocab.datasets["df2k"].contains == ["div2k"]
    assert vocab.datasets["df2k-ost"].contains == ["df2k"]
    assert vocab.dataset_contains("df2k", "div2k")
    assert vocab.dataset_contains("df2k-ost", "df2k")
    # Transitive: df2k-ost names only df2k, which holds div2k.
    assert vocab.dataset_contains("df2k-ost", "div2k")


@pytest.mark.parametrize(
    ("outer", "inner"),
    [
        ("div2k", "df2k"),  # a part does not contain the whole
        ("df2k", "df2k-ost"),
        ("div2k", "div2k"),  # no set is a superset of itself
        ("t91-bsd200", "div2k"),  # unrelated
        ("df2k", "t91-bsd200"),
        ("no-such-set", "div2k"),
        ("df2k", "no-such-set"),
    ],
)
def test_containment_is_only_what_the_vocab_says(catalog: Catalog, outer: str, inner: str) -> None:
    assert not catalog.vocab.dataset_contains(outer, inner)


def test_containment_follows_a_long_chain(catalog: Catalog) -> None:
    terms = {
        f"set{i}": {"title": f"Set {i}", "domain": "photo", "contains": [f"set{i + 1}"]}
        for i in range(500)
    }
    terms["set500"] = {"title": "Set 500", "domain": "photo"}
    raw = catalog.vocab.model_dump()
    raw["datasets"] = terms
    vocab = Vocabulary.model_validate(raw)
    assert vocab.dataset_contains("set0", "set500")
    assert vocab.dataset_contains("set250", "set251")
    assert not vocab.dataset_contains("set500", "set0")


@pytest.fixture
def vocab_catalog(tmp_path: Path, catalog: Catalog) -> Path:
    """A catalog folder on disk: the shipped vocab.yaml and the global default's family."""
    root = tmp_path / "cat"
    (root / "models").mkdir(parents=True)
    src = shipped_catalog_dir()
    shutil.copy(src / "vocab.yaml", root / "vocab.yaml")
    family = catalog.global_default.family
    shutil.copy(src / "models" / f"{family}.yaml", root / "models" / f"{family}.yaml")
    return root


def edit_vocab(root: Path, old: str, new: str) -> Path:
    path = root / "vocab.yaml"
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new))
    return path


def only_problem(root: Path) -> tuple[Path, int, str]:
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    problems = info.value.problems
    assert len(problems) == 1, problems
    match = PROBLEM.match(problems[0])
    assert match, problems[0]
    return Path(match["file"]), int(match["line"]), match["message"]


def line_of(path: Path, needle: str) -> int:
    hits = [i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line]
    assert len(hits) == 1, hits
    return hits[0]


def test_unknown_contained_dataset_points_at_its_line(vocab_catalog: Path) -> None:
    path = edit_vocab(vocab_catalog, "    contains: [div2k]\n", "    contains: [div3k]\n")
    file, line, message = only_problem(vocab_catalog)
    assert file == path
    assert line == line_of(path, "contains: [div3k]")
    assert message.startswith("datasets.df2k.contains.0: unknown dataset 'div3k'")
    assert "did you mean 'div2k'?" in message


def test_self_containment_is_refused(vocab_catalog: Path) -> None:
    path = edit_vocab(vocab_catalog, "    contains: [div2k]\n", "    contains: [div2k, df2k]\n")
    file, line, message = only_problem(vocab_catalog)
    assert (file, line) == (path, line_of(path, "contains: [div2k, df2k]"))
    assert message.startswith("datasets.df2k.contains.1: dataset 'df2k' cannot contain itself")


def test_a_loop_of_containment_is_refused(vocab_catalog: Path) -> None:
    # div2k ⊇ df2k-ost ⊇ df2k ⊇ div2k: each set would be larger than itself.
    path = edit_vocab(
        vocab_catalog,
        "    aliases: [div2k, div-2k]\n",
        "    aliases: [div2k, div-2k]\n    contains: [df2k-ost]\n",
    )
    file, line, message = only_problem(vocab_catalog)
    assert file == path
    assert line == line_of(path, "contains: [div2k]")  # the edge that closes the loop
    assert "loop (div2k -> df2k-ost -> df2k -> div2k)" in message


def test_contains_belongs_on_datasets_only(vocab_catalog: Path) -> None:
    path = edit_vocab(
        vocab_catalog,
        "    aliases: [rdn, residual-dense-network]\n",
        "    aliases: [rdn, residual-dense-network]\n    contains: [rrdn]\n",
    )
    file, line, message = only_problem(vocab_catalog)
    assert (file, line) == (path, line_of(path, "contains: [rrdn]"))
    assert message == "architectures.rdn.contains: `contains:` belongs on datasets only"


def test_contains_must_be_a_list_of_ids(vocab_catalog: Path) -> None:
    path = edit_vocab(vocab_catalog, "    contains: [div2k]\n", "    contains: {div2k: 1}\n")
    file, line, message = only_problem(vocab_catalog)
    assert (file, line) == (path, line_of(path, "contains: {div2k: 1}"))
    assert message.startswith("datasets.df2k.contains: Input should be a valid list")


@pytest.mark.timeout(60)
@pytest.mark.slow
def test_a_hostile_chain_of_thousands_is_a_problem_not_a_crash(vocab_catalog: Path) -> None:
    # 5,000 sets each containing the next and the last the first: deeper than Python's
    # recursion limit, still one `file:line` problem.
    count = 5000
    chain = "".join(
        f"  chain{i}:\n    title: C\n    domain: photo\n    contains: [chain{(i + 1) % count}]\n"
        for i in range(count)
    )
    path = edit_vocab(vocab_catalog, "datasets:\n", "datasets:\n" + chain)
    file, line, message = only_problem(vocab_catalog)
    assert file == path
    assert line == line_of(path, "contains: [chain0]")
    assert message.startswith(f"datasets.chain{count - 1}.contains.0: datasets contain each other")


def test_cli_validate_reports_the_line_and_exits_3(
    vocab_catalog: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = edit_vocab(vocab_catalog, "    contains: [df2k]\n", "    contains: [df2kost]\n")
    assert main(["catalog", "validate", str(vocab_catalog)]) == 3
    err = capsys.readouterr().err
    assert f"{path}:{line_of(path, 'contains: [df2kost]')}: " in err
    assert "unknown dataset 'df2kost'" in err
    assert "Traceback" not in err


# --- the distance --------------------------------------------------------------------------


def dataset_difference(catalog: Catalog, wanted: str, model: str) -> Difference:
    query = build_query({"dataset": wanted}, catalog)
    (diff,) = differences(query, catalog.by_id[model], catalog.entries, catalog.vocab)
    return diff


def test_a_superset_is_a_near_miss_that_says_why(catalog: Catalog) -> None:
    diff = dataset_difference(catalog, "DIV2K", "span.ch48-x2")
    assert diff.near_miss
    assert diff.adaptable
    assert diff.adapter is None
    assert diff.cost == DATASET_SUPERSET_COST
    assert str(diff) == "dataset: df2k ⊇ div2k → trained on DF2K, which contains DIV2K"


def test_a_superset_of_a_superset_is_a_near_miss_too(catalog: Catalog) -> None:
    diff = dataset_difference(catalog, "div2k", "realesrgan.plus-x4")
    assert diff.near_miss
    assert str(diff) == "dataset: df2k-ost ⊇ div2k → trained on DF2K + OST, which contains DIV2K"


@pytest.mark.parametrize(
    ("wanted", "model"),
    [
        ("div2k", "upscaler-compact.rgba-x2"),  # unrelated photo set
        ("div2k", "waifu2x-cunet.x2"),  # unrelated anime set
        ("df2k", "esrgan-slim.x2"),  # a part of what was asked is not all of it
        ("df2k-ost", "span.ch48-x2"),
    ],
)
def test_other_datasets_stay_a_different_model(catalog: Catalog, wanted: str, model: str) -> None:
    diff = dataset_difference(catalog, wanted, model)
    assert not diff.near_miss
    assert not diff.adaptable
    assert diff.cost == SUBSTITUTION_COST["dataset"]
    assert "≠" in str(diff) and "⊇" not in str(diff)


def test_a_near_miss_costs_more_than_an_adapter_and_less_than_any_substitution() -> None:
    assert CHANNEL_COST < DATASET_SUPERSET_COST < min(SUBSTITUTION_COST.values())


def test_without_a_vocabulary_every_other_dataset_is_unrelated(catalog: Catalog) -> None:
    query = build_query({"dataset": "div2k"}, catalog)
    (diff,) = differences(query, catalog.by_id["span.ch48-x2"], catalog.entries, None)
    assert not diff.near_miss
    assert diff.cost == SUBSTITUTION_COST["dataset"]


# --- the resolver: the mission's example ---------------------------------------------------


def test_mission_query_still_chooses_the_div2k_model(catalog: Catalog) -> None:
    r = resolve(build_query(MISSION, catalog), catalog)
    assert not r.exact
    assert r.model is not None and r.model.id == "esrgan-slim.x2"
    assert [a.kind for a in r.adapters] == ["alpha"]


def test_mission_query_lists_the_df2k_model_with_why(catalog: Catalog) -> None:
    r = resolve(build_query(MISSION, catalog), catalog)
    ids = [a.id for a in r.alternatives]
    assert "span.ch48-x2" in ids
    span = r.alternatives[ids.index("span.ch48-x2")]
    assert span.adaptable
    assert span.cost == DATASET_SUPERSET_COST + CHANNEL_COST
    assert span.describe_differences() == [
        "dataset: df2k ⊇ div2k → trained on DF2K, which contains DIV2K",
        "channels: 3 ≠ 4 → alpha adapter",
    ]
    assert [a.kind for a in span.adapters] == ["alpha"]
    # Every DIV2K model that only needs the alpha adapter comes first: DIV2K was asked for.
    div2k_alpha = [a for a in r.alternatives if a.cost == CHANNEL_COST]
    assert div2k_alpha and all(catalog.by_id[a.id].dataset == "div2k" for a in div2k_alpha)
    assert all(ids.index(a.id) < ids.index("span.ch48-x2") for a in div2k_alpha)


def test_mission_query_ranks_supersets_before_resizes_and_unrelated_sets(
    catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resolver_module, "MAX_ALTERNATIVES", 1000)
    r = resolve(build_query(MISSION, catalog), catalog)
    ids = [a.id for a in r.alternatives]
    span = ids.index("span.ch48-x2")
    resized = [
        i
        for i, a in enumerate(r.alternatives)
        if any(d.attribute == "scale" for d in a.differences)
    ]
    unrelated = [
        i
        for i, a in enumerate(r.alternatives)
        if any(d.attribute == "dataset" and not d.near_miss for d in a.differences)
    ]
    assert resized and unrelated
    assert span < min(resized)
    assert span < min(unrelated)
    # The native RGBA model, unrelated set (T91 + BSD200), is the first of those.
    assert ids[min(unrelated)] == "upscaler-compact.rgba-x2"
    assert r.alternatives[min(unrelated)].describe_differences() == [
        "dataset: t91-bsd200 ≠ div2k → different dataset, no adapter"
    ]


def test_a_superset_is_not_exact_so_strict_refuses_it() -> None:
    with pytest.raises(NoMatchingModel) as info:
        Upscaler(model="span.ch48-x2", dataset="DIV2K", strict=True)
    (alt,) = info.value.alternatives
    assert alt.id == "span.ch48-x2"
    assert alt.describe_differences() == [
        "dataset: df2k ⊇ div2k → trained on DF2K, which contains DIV2K"
    ]


def test_non_strict_takes_a_superset_when_nothing_closer_exists(
    catalog: Catalog, caplog: pytest.LogCaptureFixture
) -> None:
    # No DIV2K model is trained on real-world degradations; Real-ESRGAN's DF2K + OST one
    # is. Before sets could contain each other, this query had no adaptable model at all.
    caplog.set_level(logging.WARNING, logger="upscaler")
    query = "dataset=div2k scale=4 objective=perceptual degradation=real-world"
    up = Upscaler(query=query)
    assert up.model.id == "realesrgan.plus-x4"
    assert not up.resolution.exact
    assert up.resolution.adapters == []
    assert "realesrgan.plus-x4" in caplog.text
    alternatives = up.resolution.alternatives
    assert alternatives[0].id == "realesrgan.plus-x4"
    assert not alternatives[1].adaptable  # the bicubic GAN: a different degradation


# --- describe() ----------------------------------------------------------------------------


def test_describe_says_the_training_set_contains_the_asked_one() -> None:
    text = str(Upscaler(model="span.ch48-x2", dataset="DIV2K").describe())
    lines = text.splitlines()
    assert (
        "dataset      trained on DF2K, which contains DIV2K: a near miss for "
        "dataset=div2k, not an exact match"
    ) in lines
    assert "df2k ⊇ div2k" in next(line for line in lines if line.startswith("why"))


def test_describe_of_a_transitive_superset() -> None:
    up = Upscaler(dataset="div2k", scale=4, objective="perceptual", degradation="real-world")
    assert "trained on DF2K + OST, which contains DIV2K" in str(up.describe())


@pytest.mark.parametrize(
    "kwargs",
    [
        {"dataset": "df2k", "scale": 2},  # exact
        {"dataset": "DIV2K", "scale": 2, "channels": 4},  # DIV2K model plus an adapter
        {"scale": 2},
    ],
)
def test_describe_says_nothing_of_supersets_when_none_was_used(kwargs: dict[str, object]) -> None:
    text = str(Upscaler(**kwargs).describe())  # type: ignore[arg-type]
    assert "near miss" not in text
    assert "which contains" not in text.split("alternatives", maxsplit=1)[0]


def test_json_marks_only_the_near_miss(catalog: Catalog) -> None:
    r = resolve(build_query(MISSION, catalog), catalog)
    data = r.to_dict()
    span = next(a for a in data["alternatives"] if a["id"] == "span.ch48-x2")
    dataset, channels = span["difference_details"]
    assert dataset["near_miss"] is True and dataset["attribute"] == "dataset"
    # Every other difference serialises as it did before near misses existed.
    assert "near_miss" not in channels
    for alt in data["alternatives"]:
        superset = catalog.vocab.dataset_contains(catalog.by_id[alt["id"]].dataset, "div2k")
        for detail in alt["difference_details"]:
            assert ("near_miss" in detail) == (superset and detail["attribute"] == "dataset")


# --- nothing else moves --------------------------------------------------------------------


def without_containment(catalog: Catalog) -> Catalog:
    datasets = {k: v.model_copy(update={"contains": []}) for k, v in catalog.vocab.datasets.items()}
    vocab = catalog.vocab.model_copy(update={"datasets": datasets})
    return Catalog(
        root=catalog.root, vocab=vocab, entries=catalog.entries, families=catalog.families
    )


@pytest.mark.parametrize(
    "query",
    [
        "scale=2 channels=4",
        "scale=6 channels=4",
        "scale=3 quantization=int8",
        "scale=2 denoise=2",
        "domain=anime scale=2 channels=1",
        "scale=4 objective=perceptual degradation=real-world",
        "dataset=t91-bsd200 scale=3",
        "dataset=none architecture=rdn",
    ],
)
def test_queries_no_containment_touches_resolve_as_before(catalog: Catalog, query: str) -> None:
    plain = without_containment(catalog)
    with_sets = resolve(build_query(query, catalog), catalog).to_dict()
    without_sets = resolve(build_query(query, plain), plain).to_dict()
    assert with_sets == without_sets

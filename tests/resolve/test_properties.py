"""Property tests: any well-formed query resolves to exact matches or adaptable reasoning.

Queries are drawn from the real vocabulary (canonical ids and every alias, in random
case), scales 1..16 in their accepted spellings and channels 1/3/4.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from upscaler.catalog import Catalog, default_catalog
from upscaler.catalog.vocab import SECTIONS
from upscaler.resolve import PREFER_CHOICES, Resolution, build_query, resolve

CATALOG = default_catalog()
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def random_case(draw: st.DrawFn, text: str) -> str:
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.upper() if up else c.lower() for c, up in zip(text, flips, strict=True))


def vocab_value(attribute: str) -> st.SearchStrategy[tuple[str, str]]:
    """(spelling the user types, canonical id it means)."""
    spellings = sorted(
        (spelling, term_id)
        for term_id, term in CATALOG.vocab.terms(attribute).items()
        for spelling in {term_id, *term.aliases}
    )
    return st.sampled_from(spellings).flatmap(
        lambda pair: random_case(pair[0]).map(lambda typed: (typed, pair[1]))
    )


def scale_value() -> st.SearchStrategy[tuple[Any, int]]:
    return st.integers(1, 16).flatmap(
        lambda n: st.sampled_from([n, str(n), f"x{n}", f"{n}x", f"X{n}"]).map(lambda v: (v, n))
    )


def channels_value() -> st.SearchStrategy[tuple[Any, int]]:
    return st.sampled_from([(1, 1), (3, 3), (4, 4), ("1", 1), ("RGB", 3), ("rgba", 4)])


QUERIES = st.fixed_dictionaries(
    {},
    optional={
        **{attr: vocab_value(attr) for attr in SECTIONS.values()},
        "scale": scale_value(),
        "channels": channels_value(),
    },
)


def satisfies(catalog: Catalog, model_id: str, query: dict[str, Any]) -> bool:
    entry = catalog.by_id[model_id]
    return all(entry.attribute(k) == v for k, v in query.items())


def fingerprint(r: Resolution) -> tuple[Any, ...]:
    return (
        r.exact,
        tuple(r.matches),
        r.model.id if r.model else None,
        r.reason,
        tuple(a.model_dump_json() for a in r.adapters),
        tuple((a.id, a.cost, a.call, tuple(a.describe_differences())) for a in r.alternatives),
    )


@SETTINGS
@given(drawn=QUERIES, prefer=st.sampled_from(PREFER_CHOICES))
@pytest.mark.slow
def test_resolution_is_exact_or_explains_alternatives(
    drawn: dict[str, tuple[Any, Any]], prefer: str
) -> None:
    raw = {k: typed for k, (typed, _) in drawn.items()}
    expected = {k: canonical for k, (_, canonical) in drawn.items()}
    query = build_query(raw, CATALOG)
    assert query == expected

    r = resolve(query, CATALOG, prefer=prefer)
    if not query:  # no attributes: the global default, or its scale ranked by prefer
        home = CATALOG.global_default
        assert r.exact
        assert r.model is not None and r.model.id == r.matches[0]
        if prefer == "balanced":
            assert r.matches == [home.id]
        else:
            assert set(r.matches) == {e.id for e in CATALOG.entries if e.scale == home.scale}
        return
    satisfying = {e.id for e in CATALOG.entries if satisfies(CATALOG, e.id, query)}
    assert r.exact == bool(satisfying)
    if r.exact:
        assert r.matches
        assert set(r.matches) == satisfying
        assert r.model is not None
        assert r.model.id == r.matches[0]
        assert all(satisfies(CATALOG, m, query) for m in r.matches)
        assert r.adapters == []
    else:
        assert r.matches == []
        assert r.alternatives
        for alt in r.alternatives:
            assert alt.differences, alt.id
            entry = CATALOG.by_id[alt.id]
            for diff in alt.differences:
                assert diff.attribute in query
                assert entry.attribute(diff.attribute) == diff.offered != diff.wanted
            # a near miss (a training set that contains the asked one) needs no adapter
            assert alt.adaptable == all(
                d.adapter is not None or d.near_miss for d in alt.differences
            )
        adaptable = [a for a in r.alternatives if a.adaptable]
        if adaptable:
            assert r.model is not None
            assert r.model.id == adaptable[0].id
            assert r.adapters == adaptable[0].adapters
        else:
            assert r.model is None
    # Adaptable alternatives first, each group cheapest first.
    flags = [not a.adaptable for a in r.alternatives]
    assert flags == sorted(flags)
    for group in (True, False):
        costs = [a.cost for a in r.alternatives if a.adaptable is group]
        assert costs == sorted(costs)
    assert len({a.id for a in r.alternatives}) == len(r.alternatives)
    assert not {a.id for a in r.alternatives} & set(r.matches)


@SETTINGS
@given(drawn=QUERIES, prefer=st.sampled_from(PREFER_CHOICES), data=st.data())
@pytest.mark.slow
def test_ranking_is_deterministic(
    drawn: dict[str, tuple[Any, Any]], prefer: str, data: st.DataObject
) -> None:
    query = build_query({k: typed for k, (typed, _) in drawn.items()}, CATALOG)
    first = fingerprint(resolve(query, CATALOG, prefer=prefer))
    assert fingerprint(resolve(query, CATALOG, prefer=prefer)) == first

    shuffled_entries = data.draw(st.permutations(CATALOG.entries))
    shuffled = Catalog(
        root=CATALOG.root,
        vocab=CATALOG.vocab,
        entries=tuple(shuffled_entries),
        families=dict(CATALOG.families),
    )
    assert fingerprint(resolve(query, shuffled, prefer=prefer)) == first


@SETTINGS
@given(drawn=QUERIES)
def test_string_and_keyword_queries_agree(drawn: dict[str, tuple[Any, Any]]) -> None:
    raw = {k: typed for k, (typed, _) in drawn.items()}
    text = " ".join(f"{k}={v}" for k, v in raw.items())
    assert build_query(text, CATALOG) == build_query(None, CATALOG, **raw)


def spelled(attribute: str, canonical: Any) -> st.SearchStrategy[Any]:
    """Any accepted spelling of a canonical value."""
    if attribute == "scale":
        return st.sampled_from([canonical, str(canonical), f"x{canonical}", f"{canonical}X"])
    if attribute == "channels":
        return st.sampled_from([canonical, str(canonical)])
    term = CATALOG.vocab.terms(attribute)[canonical]
    return st.sampled_from(sorted({canonical, *term.aliases})).flatmap(random_case)


@SETTINGS
@given(
    entry=st.sampled_from(CATALOG.entries),
    attributes=st.sets(st.sampled_from([*SECTIONS.values(), "scale", "channels"]), min_size=1),
    prefer=st.sampled_from(PREFER_CHOICES),
    data=st.data(),
)
def test_query_taken_from_a_model_resolves_exactly(
    entry: Any, attributes: set[str], prefer: str, data: st.DataObject
) -> None:
    raw = {a: data.draw(spelled(a, entry.attribute(a)), label=a) for a in sorted(attributes)}
    query = build_query(raw, CATALOG)
    r = resolve(query, CATALOG, prefer=prefer)
    assert r.exact
    assert entry.id in r.matches
    assert r.model is not None
    for attribute in attributes:
        assert r.model.attribute(attribute) == entry.attribute(attribute)

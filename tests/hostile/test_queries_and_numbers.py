"""Hostile model queries and numeric arguments: every one is a QueryError (exit 2) that
names what the user typed, never a traceback worded in internal names."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import Result
from hostile_support import Tiny, assert_cli_error, snapshot, write_png

from upscaler import QueryError, Upscaler, UpscalerError
from upscaler.resolve import parse_query_string

Cli = Callable[..., Result]


# -- item 12: query strings ------------------------------------------------------------------


def test_unbalanced_quote_is_a_query_error() -> None:
    with pytest.raises(QueryError, match="quot") as err:
        parse_query_string('dataset="DIV2K scale=2')
    assert err.value.hint


def test_a_repeated_attribute_names_the_duplicate() -> None:
    with pytest.raises(QueryError, match="scale") as err:
        parse_query_string("scale=2 scale=4")
    assert "2" in err.value.message and "4" in err.value.message


BAD_QUERIES = {
    "unbalanced double quote": ('dataset="DIV2K', "quot"),
    "unbalanced single quote": ("dataset='DIV2K scale=2", "quot"),
    "duplicate scale": ("scale=2 scale=4", "scale"),
    "duplicate in other case": ("Scale=2 SCALE=2", "scale"),
    "duplicate via comma": ("channels=3,channels=4", "channels"),
    "term without =": ("DIV2K", "key=value"),
    "empty key": ("=2", "attribute"),
    "unknown attribute": ("colour=red", "colour"),
    "scale words": ("scale=two", "scale"),
    "scale zero": ("scale=0", "scale"),
    "scale huge": ("scale=99999999999999999999", "scale"),
    "scale nan": ("scale=nan", "scale"),
    "channels 2": ("channels=2", "channels"),
    "nul byte": ("scale=2\x00", "scale"),
    "unknown dataset": ("dataset=DIV3K", "DIV3K"),
}


@pytest.mark.parametrize("query, words", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_query_strings_on_the_cli(cli: Cli, query: str, words: str) -> None:
    result = cli("describe", "--query", query)
    assert_cli_error(result, 2, words)


@pytest.mark.parametrize("query, words", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_bad_query_strings_in_the_api(query: str, words: str) -> None:
    with pytest.raises(QueryError, match=words):
        Upscaler(query=query)


# -- item 11: numeric arguments --------------------------------------------------------------

RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)

BAD_NUMBERS = {
    "outscale tiny": ({"outscale": 0.001}, "outscale"),
    "outscale zero": ({"outscale": 0.0}, "outscale"),
    "outscale negative": ({"outscale": -2.0}, "outscale"),
    "outscale nan": ({"outscale": float("nan")}, "outscale"),
    "outscale inf": ({"outscale": float("inf")}, "outscale"),
    "outscale huge": ({"outscale": 1e300}, "outscale"),
    "outscale text": ({"outscale": "two"}, "outscale"),
    "patch_size zero": ({"patch_size": 0}, "patch_size"),
    "patch_size negative": ({"patch_size": -64}, "patch_size"),
    "patch_size float": ({"patch_size": 2.5}, "patch_size"),
    "padding negative": ({"padding": -1}, "padding"),
    "padding nan": ({"padding": float("nan")}, "padding"),
    "batch_size zero": ({"batch_size": 0}, "batch_size"),
    "batch_size bool": ({"batch_size": True}, "batch_size"),
}


@pytest.mark.parametrize("kwargs, name", BAD_NUMBERS.values(), ids=BAD_NUMBERS.keys())
def test_bad_numbers_in_the_api_name_the_argument(
    tiny: Tiny, kwargs: dict[str, object], name: str
) -> None:
    up = Upscaler("tiny.x2")
    with pytest.raises(QueryError, match=name) as err:
        up.upscale(RGB.copy(), progress=False, **kwargs)  # type: ignore[arg-type]
    assert isinstance(err.value, UpscalerError)
    for internal in ("tile ", "context "):
        assert internal not in err.value.message


BAD_FLAGS = {
    "outscale tiny": (["--outscale", "0.001"], "outscale"),
    "outscale nan": (["--outscale", "nan"], "outscale"),
    "outscale inf": (["--outscale", "inf"], "outscale"),
    "outscale negative": (["--outscale=-1"], "outscale"),
    "patch size zero": (["--patch-size", "0"], "patch-size"),
    "padding negative": (["--padding=-1"], "padding"),
    "batch size zero": (["--batch-size", "0"], "batch-size"),
    "quality zero": (["--quality", "0"], "quality"),
    "quality 101": (["--quality", "101"], "quality"),
}


@pytest.mark.parametrize("flags, name", BAD_FLAGS.values(), ids=BAD_FLAGS.keys())
def test_bad_numbers_on_the_cli_write_nothing(
    cli: Cli, tiny: Tiny, tmp_path: Path, flags: list[str], name: str
) -> None:
    src = write_png(tmp_path / "in.png")
    before = snapshot(tmp_path)
    result = cli("upscale", str(src), "-o", str(tmp_path / "out.png"), "--model", "tiny.x2", *flags)
    assert_cli_error(result, 2, name)
    assert snapshot(tmp_path) == before


def test_outscale_that_rounds_to_nothing_is_refused_before_any_work(tf_tiny: Tiny) -> None:
    """0.001 of a 4x5 image is 0x0 pixels: Pillow used to fail with a traceback."""
    up = Upscaler("tiny.x2")
    with pytest.raises(QueryError, match="outscale"):
        up.upscale(RGB.copy(), progress=False, outscale=0.001)


HUGE_BUT_FINE = {
    "padding huge": {"padding": 10**9},
    "patch_size huge": {"patch_size": 10**12},
    "batch_size huge": {"batch_size": 10**9},
    "patch_size one": {"patch_size": 1},
    "outscale at the limit": {"outscale": 64.0},
    "outscale integer": {"outscale": 3},
}


@pytest.mark.parametrize("kwargs", HUGE_BUT_FINE.values(), ids=HUGE_BUT_FINE.keys())
def test_extreme_but_valid_numbers_give_the_right_image(
    tf_tiny: Tiny, kwargs: dict[str, float]
) -> None:
    out = Upscaler("tiny.x2").upscale(RGB.copy(), progress=False, **kwargs)  # type: ignore[arg-type]
    scale = float(kwargs.get("outscale", 2))
    assert out.shape == (round(4 * scale), round(5 * scale), 3)
    if scale == 2:
        np.testing.assert_array_equal(out, np.repeat(np.repeat(RGB, 2, axis=0), 2, axis=1))

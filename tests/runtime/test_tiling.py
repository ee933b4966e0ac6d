"""The tile plan: cores cover the output once, one window shape, context kept, any size."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from upscaler.errors import ImageError
from upscaler.runtime.tiling import (
    axis_count_for_tile,
    plan_axis,
    plan_tiles,
    plan_tiles_for_budget,
)

sizes = st.integers(min_value=1, max_value=300)
tiles = st.integers(min_value=1, max_value=96)
contexts = st.integers(min_value=0, max_value=24)
scales = st.integers(min_value=1, max_value=3)


@settings(max_examples=100, deadline=None)
@given(height=sizes, width=sizes, tile=tiles, context=contexts, scale=scales)
def test_cores_cover_the_output_exactly_once(
    height: int, width: int, tile: int, context: int, scale: int
) -> None:
    plan = plan_tiles(height, width, tile=tile, context=context, scale=scale, batch=3)
    written = np.zeros(plan.output_shape, dtype=np.int32)
    for t in plan.tiles():
        written[t.core_in_output(scale)] += 1
    assert written.min() == 1 and written.max() == 1
    assert plan.output_shape == (height * scale, width * scale)
    assert sum(len(b) for b in plan.batches()) == plan.count


budgets = st.integers(min_value=1, max_value=40_000)


def _plans(draw: st.DrawFn) -> tuple[int, int, int, object]:
    height, width = draw(sizes), draw(sizes)
    context, scale = draw(contexts), draw(scales)
    if draw(st.booleans()):
        plan = plan_tiles(height, width, tile=draw(tiles), context=context, scale=scale)
    else:
        plan = plan_tiles_for_budget(
            height, width, max_window_pixels=draw(budgets), context=context, scale=scale
        )
    return height, width, scale, plan


any_plan = st.composite(_plans)


@settings(max_examples=150, deadline=None)
@given(case=any_plan())
def test_any_plan_covers_the_output_exactly_once(case: tuple[int, int, int, Any]) -> None:
    _, _, scale, plan = case
    written = np.zeros(plan.output_shape, dtype=np.int32)
    for t in plan.tiles():
        written[t.core_in_output(scale)] += 1
    assert written.min() == 1 and written.max() == 1


@settings(max_examples=150, deadline=None)
@given(case=any_plan())
@pytest.mark.slow
def test_every_tile_has_one_shape_inside_the_image(case: tuple[int, int, int, Any]) -> None:
    height, width, scale, plan = case
    shapes = {(t.height, t.width) for t in plan.tiles()}
    assert shapes == {plan.window}
    for t in plan.tiles():
        assert t.y0 >= 0 and t.y0 + t.height <= height
        assert t.x0 >= 0 and t.x0 + t.width <= width
        # The kept core lies in the window, where the model saw it.
        ys, xs = t.core_in_window(scale)
        assert 0 <= ys.start < ys.stop <= t.height * scale
        assert 0 <= xs.start < xs.stop <= t.width * scale
    # One window along an axis is the whole axis, unpadded: bit-identical to a whole run.
    if plan.grid[0] == 1:
        assert plan.window[0] == height
    if plan.grid[1] == 1:
        assert plan.window[1] == width


@settings(max_examples=150, deadline=None)
@given(case=any_plan())
def test_every_core_pixel_sees_its_context_or_the_border(case: tuple[int, int, int, Any]) -> None:
    height, width, _, plan = case
    context = plan.context
    for t in plan.tiles():
        # Either `context` real pixels between core and window edge, or the window edge
        # is the image border (where the model's own zero padding matches a whole run).
        assert t.core_y0 - t.y0 >= context or t.y0 == 0
        assert t.core_x0 - t.x0 >= context or t.x0 == 0
        assert (t.y0 + t.height) - t.core_y1 >= context or t.y0 + t.height == height
        assert (t.x0 + t.width) - t.core_x1 >= context or t.x0 + t.width == width


@settings(max_examples=200, deadline=None)
@given(length=st.integers(1, 5000), tile=st.integers(1, 600), context=st.integers(0, 64))
def test_tile_plans_use_the_fewest_shortest_windows(length: int, tile: int, context: int) -> None:
    count = axis_count_for_tile(length, tile, context)
    axis = plan_axis(length, count, context)
    assert axis.window <= max(length, 1) and axis.window <= tile + 2 * context + 7
    if length <= tile + 2 * context:
        assert axis.count == 1 and axis.window == length
    else:
        # Edge windows need context on one side only: n windows keep n*tile + 2*context.
        assert count == math.ceil((length - 2 * context) / tile)
        # Balanced: the model computes the overlap and at most `align` pixels more each.
        if axis.count == count:
            assert axis.computed <= length + 2 * context * (count - 1) + 8 * count


@settings(max_examples=100, deadline=None)
@given(height=sizes, width=sizes, context=contexts, budget=st.integers(64, 200_000))
def test_budget_plans_fit_and_cost_no_more_than_square_ones(
    height: int, width: int, context: int, budget: int
) -> None:
    plan = plan_tiles_for_budget(height, width, max_window_pixels=budget, context=context, scale=1)
    window_pixels = plan.window[0] * plan.window[1]
    side = int(budget**0.5)
    square = plan_tiles(
        height, width, tile=max(1, side - 2 * context - 8), context=context, scale=1
    )
    if square.window[0] * square.window[1] <= budget:
        assert window_pixels <= budget
        cost = plan.rows.computed * plan.cols.computed
        # Cheaper, or dearer only by alignment waste while making fewer calls.
        assert cost <= square.rows.computed * square.cols.computed or plan.count < square.count


def test_small_images_are_one_window_of_their_own_size() -> None:
    plan = plan_tiles(37, 21, tile=512, context=12, scale=4)
    assert plan.single and plan.window == (37, 21) and plan.overhead == 0.0
    (tile,) = plan.tiles()
    assert tile.core_in_output(4) == (slice(0, 148), slice(0, 84))


def test_an_image_up_to_one_window_is_one_tile() -> None:
    assert plan_tiles(536, 536, tile=512, context=12, scale=2).single
    plan = plan_tiles(537, 100, tile=512, context=12, scale=2)
    # Two balanced windows, not two 536-pixel ones: ceil((537 + 24) / 2) = 281 -> 288.
    assert plan.count == 2 and plan.window == (288, 100)


def test_overhead_and_describe() -> None:
    plan = plan_tiles(2048, 2048, tile=512, context=12, scale=2, batch=2)
    assert plan.count == 16 and plan.window == (536, 536)
    assert plan.overhead == pytest.approx((4 * 536 / 2048) ** 2 - 1)
    facts = plan.describe()
    assert facts["tiles"] == 16 and facts["window"] == [536, 536] and facts["batch"] == 2


def test_a_budget_splits_along_one_axis_when_that_is_cheapest() -> None:
    # 512x512 with context 16: the whole window needs 262144 pixels; 139264 fits one split.
    plan = plan_tiles_for_budget(512, 512, max_window_pixels=139_264, context=16, scale=2)
    assert sorted(plan.grid) == [1, 2] and plan.overhead == pytest.approx(0.0625)
    assert plan_tiles_for_budget(512, 512, max_window_pixels=512 * 512, context=16, scale=2).single
    huge = plan_tiles_for_budget(20_000, 15_000, max_window_pixels=150_000, context=12, scale=4)
    assert huge.window[0] * huge.window[1] <= 150_000 and huge.overhead < 0.2


def test_batches_group_tiles_in_order() -> None:
    plan = plan_tiles(100, 100, tile=20, context=4, scale=1, batch=4)
    groups = list(plan.batches())
    assert [len(g) for g in groups][:-1] == [4] * (len(groups) - 1)
    assert [t.index for g in groups for t in g] == list(range(plan.count))


steps = st.sampled_from([1, 2, 3, 4, 8])


@settings(max_examples=200, deadline=None)
@given(
    length=sizes,
    count=st.integers(min_value=1, max_value=12),
    context=contexts,
    step=steps,
    by_budget=st.booleans(),
)
def test_windows_start_on_the_networks_grid(
    length: int, count: int, context: int, step: int, by_budget: bool
) -> None:
    # A stride-2 network gives other pixels for a window off its grid (see
    # upscaler.convert.geometry): every start, the last one included, is on the grid, and
    # the plan keeps every other promise.
    if by_budget:
        plan = plan_tiles_for_budget(
            length,
            40,
            max_window_pixels=40 * (length // count + 2 * context + 8),
            context=context,
            scale=1,
            origin_step=step,
        )
        axis = plan.rows
    else:
        axis = plan_axis(length, count, context, origin_step=step)
    assert axis.origin_step == step
    if axis.count == 1:
        assert axis.window == length and axis.starts == (0,)
        return
    assert all(start % step == 0 for start in axis.starts)
    assert axis.starts[-1] + axis.window == length
    assert axis.cores[0][0] == 0 and axis.cores[-1][1] == length
    following = (*axis.cores[1:], (length, length))
    for start, (low, high), (after, _) in zip(axis.starts, axis.cores, following, strict=True):
        assert low < high == after
        assert low == 0 or low - start >= context
        assert high == length or start + axis.window - high >= context


def test_grid_steps_cost_at_most_a_step_more_per_window() -> None:
    plain = plan_axis(1000, 5, 12)
    aligned = plan_axis(1000, 5, 12, origin_step=4)
    assert aligned.count == plain.count
    assert plain.window <= aligned.window < plain.window + 2 * 4
    assert (
        plan_tiles(300, 200, tile=64, context=12, scale=2, origin_step=2).describe()["alignment"]
        == 2
    )


@pytest.mark.parametrize(
    ("height", "width", "kwargs"),
    [
        (0, 5, {}),
        (5, 0, {}),
        (5, 5, {"scale": 0}),
        (5, 5, {"batch": 0}),
        (50, 50, {"tile": 0}),
        (50, 50, {"context": -1}),
    ],
)
def test_bad_arguments(height: int, width: int, kwargs: dict[str, int]) -> None:
    args = {"tile": 8, "context": 2, "scale": 2, "batch": 1, **kwargs}
    with pytest.raises((ImageError, ValueError)):
        plan_tiles(height, width, **args)
    # The budget planner refuses the same things; a zero tile maps to a zero budget.
    budget_args = {k: v for k, v in args.items() if k != "tile"}
    budget = 0 if "tile" in kwargs else 100
    with pytest.raises((ImageError, ValueError)):
        plan_tiles_for_budget(height, width, max_window_pixels=budget, **budget_args)

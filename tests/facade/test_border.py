"""Image borders: replicated by default, zeros (UpscalerJS exactly) on request.

Issue 14, item 14: every model whose convolutions zero-pad drew a paler frame 1-2 pixels
wide, and a mostly opaque RGBA image got semi-transparent corners through the
model-alpha path. The model here is the smallest one that shows it: a 3x3 box blur with
zero padding, then nearest x2, saved as a real SavedModel and run through the facade.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from upscaler import QueryError, Upscaler


@pytest.fixture(scope="module")
def blur_x2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tf = pytest.importorskip("tensorflow")
    kernel = tf.constant(np.full((3, 3, 1, 1), 1 / 9, np.float32))

    class Blur(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, "input")])
        def serve(self, x: Any) -> dict[str, Any]:
            planes = [tf.nn.conv2d(x[..., c : c + 1], kernel, 1, "SAME") for c in range(3)]
            y = tf.concat(planes, axis=-1)
            return {"output": tf.repeat(tf.repeat(y, 2, axis=1), 2, axis=2)}

    module = Blur()
    folder = tmp_path_factory.mktemp("models") / "blur"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def test_flat_image_stays_flat_with_replicated_borders(blur_x2: Path) -> None:
    grey = np.full((20, 30, 3), 200, np.uint8)
    out = Upscaler(model=blur_x2, scale=2).upscale(grey, progress=False)
    assert out.shape == (40, 60, 3)
    assert out.min() == out.max() == 200


def test_zero_border_is_the_upscalerjs_behaviour(blur_x2: Path) -> None:
    grey = np.full((20, 30, 3), 180, np.uint8)
    up = Upscaler(model=blur_x2, scale=2, border="zero")
    out = up.upscale(grey, progress=False)
    assert out[0, 0, 0] == 80  # a corner sees 4 of 9 pixels: 180 * 4 / 9
    assert out[0, 10, 0] == 120 and out[20, 30, 0] == 180
    assert up.describe().runtime.tiling["border"] == "zero"


def test_opaque_corners_stay_opaque_through_the_model_alpha_path(blur_x2: Path) -> None:
    rgba = np.full((24, 24, 4), 255, np.uint8)
    rgba[12, 12, 3] = 0  # one transparent pixel: alpha goes through the model
    out = Upscaler(model=blur_x2, scale=2).upscale(rgba, alpha="model", progress=False)
    alpha = out[:, :, 3]
    assert alpha[0, 0] == alpha[0, -1] == alpha[-1, 0] == alpha[-1, -1] == 255
    assert alpha[:2].min() == 255 and alpha[:, :2].min() == 255


def test_unknown_border_is_a_query_error(blur_x2: Path) -> None:
    with pytest.raises(QueryError, match="replicate"):
        Upscaler(model=blur_x2, scale=2, border="mirror")


def test_catalog_entry_chooses_the_border_when_the_caller_does_not(tmp_path: Path) -> None:
    # A catalog model whose entry measured zero padding best runs with it unless asked
    # otherwise; a pinned border still wins.
    from tiny_models import write_tiny_catalog

    from upscaler.catalog import load_catalog

    root = write_tiny_catalog(tmp_path)
    family = root / "models" / "tiny.yaml"
    text = family.read_text(encoding="utf-8")
    family.write_text(
        text.replace("    scale: 2\n", "    scale: 2\n    tiling: {context: 4, border: zero}\n"),
        encoding="utf-8",
    )
    catalog = load_catalog(root)
    grey = np.full((12, 10, 3), 90, np.uint8)
    by_catalog = Upscaler(catalog=catalog, cache_dir=tmp_path / "cache")
    by_catalog.upscale(grey, progress=False)
    assert by_catalog.describe().runtime.tiling["border"] == "zero"
    pinned = Upscaler(catalog=catalog, cache_dir=tmp_path / "cache", border="replicate")
    pinned.upscale(grey, progress=False)
    assert pinned.describe().runtime.tiling["border"] == "replicate"


def test_the_shipped_span_entries_run_with_zero_borders() -> None:
    from upscaler.catalog import default_catalog
    from upscaler.upscaler import entry_border

    catalog = default_catalog()
    assert {entry_border(e) for e in catalog.entries if e.family == "span"} == {"zero"}
    assert entry_border(catalog.get("esrgan-slim.x2")) == "replicate"

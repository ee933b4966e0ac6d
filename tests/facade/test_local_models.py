"""Users' own models through the facade: SavedModel folders, TF.js model.json, Keras files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_models import nearest_x2

from upscaler import ModelLoadError, QueryError, Upscaler

RGB = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)


def test_savedmodel_folder_runs_in_place(savedmodel_dir: Path, tmp_path: Path) -> None:
    up = Upscaler(model=savedmodel_dir, scale=2, cache_dir=tmp_path / "cache")
    out = up.upscale(RGB, progress=False)
    np.testing.assert_array_equal(out, nearest_x2(RGB))
    info = up.describe()
    assert info.model.id == "local:saved"
    assert info.runtime.savedmodel == str(savedmodel_dir)
    assert info.runtime.loaded_from == f"savedmodel: {savedmodel_dir}"
    assert info.runtime.signature is not None
    assert info.runtime.signature["input"]["shape"] == [None, None, None, 3]


def test_tfjs_model_json_is_converted_once_into_the_cache(tfjs_model: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = Upscaler(model=str(tfjs_model), scale=2, cache_dir=cache)
    np.testing.assert_array_equal(first.upscale(RGB, progress=False), nearest_x2(RGB))
    converted = first.describe().runtime
    assert converted.conversion is not None  # this call converted it
    assert converted.savedmodel is not None
    assert Path(converted.savedmodel).is_relative_to(cache / "savedmodels")

    second = Upscaler(model=str(tfjs_model), scale=2, cache_dir=cache)
    second.load(progress=False)
    assert second.describe().runtime.conversion is None  # reused from the cache
    assert second.describe().runtime.savedmodel == converted.savedmodel


def test_keras_file_runs(keras_file: Path, tmp_path: Path) -> None:
    up = Upscaler(model=keras_file, scale=2, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(up.upscale(RGB, progress=False), nearest_x2(RGB))
    assert up.describe().runtime.loaded_from == f"keras: {keras_file}"


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="no model at") as err:
        Upscaler(model=tmp_path / "nope" / "model.json", scale=2)
    assert err.value.hint and "SavedModel" in err.value.hint


def test_folder_that_is_not_a_savedmodel(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match=r"without saved_model\.pb"):
        Upscaler(model=tmp_path / "empty", scale=2)


def test_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "weights.txt"
    path.write_text("hello")
    with pytest.raises(ModelLoadError, match="unknown model format"):
        Upscaler(model=path, scale=2)


def test_scale_must_be_given_for_foreign_models(savedmodel_dir: Path) -> None:
    with pytest.raises(QueryError, match="scale") as err:
        Upscaler(model=savedmodel_dir)
    assert err.value.hint is not None and "scale=2" in err.value.hint


def test_wrong_scale_claim_is_caught_on_load(savedmodel_dir: Path, tmp_path: Path) -> None:
    up = Upscaler(model=savedmodel_dir, scale=3, cache_dir=tmp_path / "cache")
    with pytest.raises(ModelLoadError, match="scale=3"):
        up.upscale(RGB, progress=False)


def test_signature_breaking_the_contract(tmp_path: Path, tf) -> None:
    class Gray(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 1], tf.float32, "input")])
        def serve(self, x):
            return {"output": x}

    module = Gray()
    folder = tmp_path / "gray"
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    up = Upscaler(model=folder, scale=1, cache_dir=tmp_path / "cache")
    with pytest.raises(ModelLoadError):
        up.upscale(RGB, progress=False)

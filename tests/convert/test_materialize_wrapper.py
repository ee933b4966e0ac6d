"""materialize passes a catalog entry's wrapper to the converters and keys the cache by it."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from upscaler.convert import Wrapper
from upscaler.prepare.materialize import entry_wrapper, savedmodel_key


def entry(wrapper: Any = None) -> Any:
    weights = SimpleNamespace(
        format="ncnn",
        files=[SimpleNamespace(path="models/x2.param", sha256="a" * 64)],
        entry_point="models/x2.param",
    )
    fields = {"id": "fam.x2", "weights": weights, "value_range": (0.0, 1.0), "scale": 2}
    if wrapper is not None:
        fields["wrapper"] = wrapper
    return SimpleNamespace(**fields)


def test_wrapper_from_entry_and_in_the_cache_key() -> None:
    assert entry_wrapper(entry()) is None
    spec = SimpleNamespace(prepad=18, multiple=2, residual="none")
    assert entry_wrapper(entry(spec)) == Wrapper(prepad=18, multiple=2)
    plain = savedmodel_key(entry())
    assert plain.startswith("ncnn-")
    # A wrapper that changes nothing keeps the key; any real wrapper makes a new one.
    assert savedmodel_key(entry(SimpleNamespace(prepad=0, multiple=1, residual="none"))) == plain
    keys = {
        savedmodel_key(entry(SimpleNamespace(prepad=p, multiple=m, residual=r)))
        for p, m, r in [(18, 2, "none"), (19, 2, "nearest"), (18, 4, "none")]
    }
    assert len(keys) == 3 and plain not in keys
    # waifu2x-chainer's 1:1 "scale" networks: nearest 2x first, then the padding.
    spec = SimpleNamespace(prepad=7, multiple=1, residual="none", preupscale=2)
    assert entry_wrapper(entry(spec)) == Wrapper(prepad=7, preupscale=2)
    assert savedmodel_key(entry(spec)) not in keys | {plain}
    # How the padding is filled is part of the key; without padding it is moot.
    reflect = SimpleNamespace(prepad=18, multiple=2, residual="none", pad_mode="reflect")
    assert entry_wrapper(entry(reflect)) == Wrapper(prepad=18, multiple=2, pad_mode="reflect")
    assert savedmodel_key(entry(reflect)) not in keys
    moot = SimpleNamespace(prepad=0, multiple=1, residual="none", pad_mode="reflect")
    assert savedmodel_key(entry(moot)) == plain

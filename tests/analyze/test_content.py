"""Drawn (anime) or photo, on real photos and on illustrations drawn with Pillow."""

from __future__ import annotations

import numpy as np
import pytest
from analyze_support import NOT_PHOTOS, drawing, jpeg_round_trip, standard_photos, with_noise
from PIL import Image

from upscaler.analyze.content import ANIME_THRESHOLD, classify_content
from upscaler.analyze.pixels import to_255

DRAWINGS = [
    pytest.param(seed, antialias, gradient, id=f"seed{seed}-{'aa' if antialias else 'hard'}"
                 f"{'-gradient' if gradient else ''}")
    for seed in range(3)
    for antialias in (True, False)
    for gradient in (False, True)
]  # fmt: skip


def _label(pixels: np.ndarray) -> tuple[str, float]:
    found = classify_content(to_255(pixels))
    return found.domain, found.score


@pytest.mark.slow
def test_photos_are_photos_clean_and_after_jpeg() -> None:
    photos = standard_photos("Set5", "Set14")
    wrong = {}
    for name, pixels in photos.items():
        if name in NOT_PHOTOS:
            continue
        for label, version in (
            ("clean", pixels),
            ("jpeg-q30", jpeg_round_trip(pixels, 30)),
            ("gray", np.asarray(Image.fromarray(pixels).convert("L"))),
            ("noise-15", with_noise(pixels, 15)),
        ):
            domain, score = _label(version)
            if domain != "photo":
                wrong[name, label] = score
    assert not wrong, wrong


def test_a_slide_is_flat_content() -> None:
    """Set14's ppt3 (a presentation slide) is flat fills and text: the drawn side."""
    assert _label(standard_photos("Set14")["ppt3"])[0] == "anime"


@pytest.mark.parametrize(("seed", "antialias", "gradient"), DRAWINGS)
def test_drawings_are_anime(seed: int, antialias: bool, gradient: bool) -> None:
    art = drawing(seed, antialias=antialias, gradient=gradient)
    for label, version in (
        ("clean", art),
        ("jpeg-q75", jpeg_round_trip(art, 75)),
        ("jpeg-q30", jpeg_round_trip(art, 30)),
        ("gray", np.asarray(Image.fromarray(art).convert("L"))),
        (
            "half size",
            np.asarray(Image.fromarray(art).resize((160, 120), Image.Resampling.BICUBIC)),
        ),
    ):
        domain, score = _label(version)
        assert domain == "anime", (label, score)


def test_scores_are_in_0_1_and_ordered() -> None:
    art = classify_content(to_255(drawing(0)))
    noise = classify_content(to_255(with_noise(np.full((64, 64, 3), 128, np.uint8), 20)))
    assert 0.0 <= noise.score < ANIME_THRESHOLD <= art.score <= 1.0
    assert art.flat_share > noise.flat_share
    assert art.palette_share is not None
    assert classify_content(to_255(drawing(0)[:, :, :1])).palette_share is None


def test_an_image_too_small_to_judge_is_a_photo() -> None:
    assert _label(np.zeros((4, 4, 3), np.uint8)) == ("photo", 0.0)


@pytest.mark.slow
def test_the_illustration_set_reads_as_drawn() -> None:
    """One picture of each kind of the project's own illustration set (portraits, manga
    pages with screentone, hard-edge test cards, ...), drawn by other code than ours."""
    illustration = pytest.importorskip("upscaler.evaluate.illustration")
    for index in range(8):
        name, pixels = illustration.render_illustration("illustration-v1", index)
        found = classify_content(to_255(pixels))
        assert found.domain == "anime", (name, found)

"""Show, don't tell: the quality-vs-speed chart and the per-model sample crops.

:mod:`~upscaler.gallery.measures` turns the catalog's measured numbers into chart points,
one measurement protocol at a time (pure Python); :mod:`~upscaler.gallery.chart` draws
them with matplotlib, imported only when a chart is drawn (the ``docs`` extra), and
:mod:`~upscaler.gallery.labels` keeps their labels from overlapping;
:mod:`~upscaler.gallery.crops` makes the four sample crops and
:mod:`~upscaler.gallery.samples` runs catalog models on them, with a cache keyed by
model, weights and image. The docs build, ``upscaler models plot`` and the explorer share
them, so the three always show the same numbers.
"""

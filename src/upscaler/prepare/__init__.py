"""Make a chosen model runnable: the glue between choosing and running.

A catalog entry is fetched and verified (:mod:`upscaler.fetch`), converted
(:mod:`upscaler.convert`) and cached as a SavedModel, or derived from its parent (int8,
bfloat16, self-ensemble) in :mod:`~upscaler.prepare.materialize`; a path the user gave is
recognised and converted by :mod:`~upscaler.prepare.local_models`. Neither the catalog nor
the runtime needs to know the other exists: this package is where they meet.
"""

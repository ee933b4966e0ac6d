"""The shipped catalog with every number replaced by chosen ones, per protocol.

Tests of the chart and the models pages must not depend on what the real models
measure (numbers are still being written into catalog/), so they start from the shipped
entries, clear metrics, protocol numbers and speed, and set exactly what they test.
"""

from __future__ import annotations

from collections.abc import Mapping

from upscaler.catalog import Catalog, default_catalog
from upscaler.catalog.protocols import BICUBIC, PROTOCOLS
from upscaler.catalog.schema import Metric, Metrics, Provenance, Speed

SETS = ("set5", "set14", "bsd100")

#: Per model id, per protocol: mean PSNR-Y, or (PSNR-Y, LPIPS) for a perceptual model.
Numbers = Mapping[str, Mapping[str, float | tuple[float, float]]]


def metrics(protocol: str, psnr: float, lpips: float | None = None) -> Metrics:
    """The same PSNR (and LPIPS) on every set, with the protocol's provenance."""
    prov = Provenance(
        command=f"upscaler eval --protocol {protocol} --write",
        version="0",
        date="2030-01-01",
        protocol=PROTOCOLS[protocol].id,
    )
    sets = {name: Metric(psnr_y=psnr, ssim_y=0.9, lpips=lpips) for name in SETS}
    return Metrics(provenance=prov, sets=sets)


def catalog_with(
    numbers: Numbers, *, ms: float = 100.0, global_default: str | None = None
) -> Catalog:
    """Shipped entries, every number cleared, then ``numbers`` set (each at ``ms`` speed
    plus a little per model, so no two points coincide)."""
    base = default_catalog()
    entries = []
    for i, entry in enumerate(base.entries):
        mine = numbers.get(entry.id, {})
        parts = {
            name: metrics(name, *(value if isinstance(value, tuple) else (value,)))
            for name, value in mine.items()
        }
        speed = Speed(
            provenance=Provenance(command="bench", version="0", date="2030-01-01"),
            ms_per_output_megapixel=ms * (1 + i / 50),
        )
        update = {
            "metrics": parts.pop(BICUBIC, None),
            "protocol_metrics": parts,
            "speed": speed if mine else None,
        }
        if global_default is not None:
            update["global_default"] = entry.id == global_default
        entries.append(entry.model_copy(update=update))
    return Catalog(root=base.root, vocab=base.vocab, entries=tuple(entries), families=base.families)

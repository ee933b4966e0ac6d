"""The object ``Upscaler.describe()`` returns.

A pydantic model so that it is at once a Python object, JSON (``to_dict()``) and, through
``__str__``, a page a person can read. It grows as the run path fills in facts (cache
path, SavedModel signature, device); until a model is loaded those fields are ``None``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from upscaler.catalog.schema import ModelEntry
from upscaler.resolve.result import Adapter, Alternative, Difference


class RuntimeInfo(BaseModel):
    """Facts known once the model is loaded."""

    model_config = ConfigDict(extra="forbid")

    savedmodel: str | None = None
    signature: dict[str, Any] | None = None
    device: str | None = None
    precision: str | None = None
    loaded_from: str | None = None
    conversion: dict[str, Any] | None = None
    tiling: dict[str, Any] | None = None
    global_pool: str | None = None
    """For a model that pools over its whole input: where the tiles' pooled statistics
    came from ("statistics from the whole image", "... from a 0.5x downscale ...")."""
    last_run: dict[str, Any] | None = None
    media: dict[str, Any] | None = None
    """The last animation or video written by ``upscale_file``: frames, timing, codec,
    segments (how many were resumed), copied and dropped streams, notes."""


def derivation_of(entry: ModelEntry, parent: ModelEntry | None) -> dict[str, Any] | None:
    """What a derived model (an int8 or a pruned variant) changes against its parent:
    how it was made (quantization and runtime, or pruning and the size parameters that
    shrank, ``{"features": [32, 24]}``), and from both entries' measured numbers per
    evaluation set both PSNRs and the delta, and both speeds and the speed-up; a number
    either lacks is None. None for a model derived from nothing. ``ensemble`` names a
    self-ensemble's transforms (``dihedral-x8``), else None."""
    if parent is None:
        return None
    own = entry.metrics.sets if entry.metrics else {}
    theirs = parent.metrics.sets if parent.metrics else {}
    metrics = {}
    for name in sorted(set(own) | set(theirs)):
        a = own[name].psnr_y if name in own else None
        b = theirs[name].psnr_y if name in theirs else None
        delta = round(a - b, 2) if a is not None and b is not None else None
        metrics[name] = {"psnr_y": a, "parent_psnr_y": b, "delta_db": delta}
    fast = entry.speed.ms_per_output_megapixel if entry.speed else None
    slow = parent.speed.ms_per_output_megapixel if parent.speed else None
    return {
        "parent": parent.id,
        "ensemble": entry.ensemble,
        "quantization": entry.quantization,
        "runtime": entry.quantize.runtime if entry.quantize else None,
        "pruning": entry.pruning,
        "params": {
            name: [parent.params.get(name), value]
            for name, value in sorted(entry.params.items())
            if parent.params.get(name) != value
        },
        "metrics": metrics,
        "speed": {
            "ms_per_output_megapixel": fast,
            "parent_ms_per_output_megapixel": slow,
            "speedup": round(slow / fast, 2) if fast and slow else None,
        },
    }


class Description(BaseModel):
    """Everything a live :class:`~upscaler.Upscaler` knows about itself."""

    model_config = ConfigDict(extra="forbid")

    query: dict[str, Any]
    prefer: str
    strict: bool
    exact: bool
    model: ModelEntry
    reason: str
    adapters: list[Adapter]
    alternatives: list[Alternative]
    cache_dir: str
    weights_files: dict[str, str] | None = None
    runtime: RuntimeInfo = RuntimeInfo()
    derivation: dict[str, Any] | None = None
    """For a derived model (an int8 or a pruned variant): its parent and its delta from it
    (:func:`derivation_of`)."""
    ranking: str | None = None
    """Whose numbers chose the model, when not the clean bicubic protocol's."""
    input_condition: dict[str, Any] | None = None
    """What ``degradation="auto"`` read from the last input (JPEG quality, noise, content)."""
    input_plan: dict[str, Any] | None = None
    """``describe(input=...)`` for an animation or a video: what upscaling it will do
    (frames, timing; codec, segments, copied streams), decided without the model."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what `--json` prints)."""
        data = self.model_dump(mode="json", exclude={"alternatives"})
        data["alternatives"] = [a.to_dict() for a in self.alternatives]
        return data

    def __str__(self) -> str:
        m = self.model
        lines = [
            f"model        {m.id}  ({m.title})",
            f"why          {self.reason}",
            f"query        {self._query_text()}  prefer={self.prefer} strict={self.strict}",
            f"attributes   architecture={m.architecture} implementation={m.implementation} "
            f"dataset={m.dataset} scale=x{m.scale} channels={m.channels} "
            f"pruning={m.pruning} quantization={m.quantization}",
            f"for          domain={m.domain} objective={m.objective} "
            f"degradation={m.degradation} denoise={m.denoise}",
            *(
                f"{d.attribute:<12} {d.note}: a near miss for {d.attribute}={d.wanted}, "
                "not an exact match"
                for d in self._near_misses()
            ),
            f"value range  {m.value_range[0]:g}..{m.value_range[1]:g}",
        ]
        if m.params:
            lines.append(
                "params       " + " ".join(f"{k}={v}" for k, v in sorted(m.params.items()))
            )
        lines.append(f"licence      {m.license}" + (f"   paper {m.paper}" if m.paper else ""))
        if m.license_note:
            lines.append(f"               {' '.join(m.license_note.split())}")
        if m.weights is not None:
            src = m.weights.source.model_dump()
            lines.append(
                f"weights      {m.weights.format} from "
                + ", ".join(f"{k}={v}" for k, v in src.items() if k != "integrity")
            )
            for f in m.weights.files:
                lines.append(f"               {f.path}  sha256={f.sha256[:16]}…  {f.size} B")
        lines.append(f"cache        {self.cache_dir}")
        if self.adapters:
            lines.append(
                "adapters     " + "; ".join(f"{a.kind}: {a.detail}" for a in self.adapters)
            )
        if self.ranking:
            lines.append(f"ranked by    {self.ranking}")
        lines.extend(metrics_lines(m))
        if m.speed is not None:
            lines.append(
                f"speed        {m.speed.ms_per_output_megapixel:,.1f} ms per output megapixel"
                f"  ({m.speed.provenance.machine or 'machine not recorded'})"
            )
        else:
            lines.append("speed        not measured yet")
        if self.derivation is not None:
            lines.append(_derivation_line(self.derivation))
        rt = self.runtime
        if rt.savedmodel:
            lines.append(f"savedmodel   {rt.savedmodel}")
        if rt.signature:
            lines.append(f"signature    {rt.signature}")
        if rt.device:
            lines.append(f"device       {rt.device}  precision={rt.precision}")
        if rt.tiling:
            plan = ", ".join(
                f"{k}={v}" for k, v in rt.tiling.items() if k not in ("device", "global_pool")
            )
            lines.append(f"tiling       {plan}")
        if rt.global_pool:
            lines.append(f"global pool  {rt.global_pool}")
        if rt.last_run and rt.last_run.get("adapters"):
            lines.append("applied      " + "; ".join(rt.last_run["adapters"]))
        if self.input_plan is not None:
            lines.append("input        " + media_line(self.input_plan))
        if rt.media is not None:
            lines.append("last media   " + media_line(rt.media))
        if any(a.id != self.model.id for a in self.alternatives):
            lines.append("alternatives")
            for alt in [a for a in self.alternatives if a.id != self.model.id][:5]:
                diffs = "; ".join(alt.describe_differences())
                lines.append(f"  {alt.id:<28} {diffs}  → {alt.call}")
        return "\n".join(lines)

    def _near_misses(self) -> list[Difference]:
        """Where the chosen model covers more than was asked (trained on DF2K for a DIV2K
        query): said on its own line, because the "why" line reads as if it were exact
        once the adapters are set aside."""
        if self.exact:
            return []
        chosen = next((a for a in self.alternatives if a.id == self.model.id), None)
        return [d for d in chosen.differences if d.near_miss] if chosen else []

    def _query_text(self) -> str:
        if not self.query:
            pinned = self.reason.startswith("model ") or self.reason.startswith("local ")
            return "(none: model given)" if pinned else "(none: global default)"
        return " ".join(f"{k}={v}" for k, v in self.query.items())


def metrics_lines(m: ModelEntry) -> list[str]:
    """One line per protocol the model was measured under, each naming its protocol, so
    no number is read as if it came from another condition."""
    blocks = list(m.metrics_by_protocol().items())
    if not blocks:
        return ["metrics      not measured yet"]
    lines = []
    for number, (protocol, block) in enumerate(blocks):
        sets = ", ".join(
            f"{k} {v.psnr_y:.2f} dB / {v.ssim_y:.4f}"
            + (f" / LPIPS {v.lpips:.4f}" if v.lpips is not None else "")
            for k, v in block.sets.items()
        )
        label = "metrics" if number == 0 else ""
        lines.append(f"{label:<13}[{protocol}] {sets}  ({block.provenance.command})")
    if m.metrics is None:
        lines.append("             [bicubic] not measured yet")
    return lines


def _derivation_line(d: dict[str, Any]) -> str:
    deltas = [
        f"{name} {v['delta_db']:+.2f} dB"
        for name, v in d["metrics"].items()
        if v["delta_db"] is not None
    ]
    speedup = d["speed"]["speedup"]
    if d.get("ensemble"):
        return _ensemble_line(d, deltas)
    sizes = [f"{name} {a} -> {b}" for name, (a, b) in d["params"].items()]
    made = (d["quantization"], d["runtime"], d["pruning"], *sizes)
    how = ", ".join(x for x in made if x and x != "none")
    return (
        f"derived      from {d['parent']}"
        + (f" ({how})" if how else "")
        + ": "
        + ("; ".join(deltas) if deltas else "quality delta not measured yet")
        + (f"; {speedup:.2f}x its speed" if speedup else "; speed-up not measured yet")
    )


def _ensemble_line(d: dict[str, Any], deltas: list[str]) -> str:
    """A self-ensemble's derivation: what it runs and costs, then the measured gain and
    time against its parent (its time as a multiple of the parent's, which is what a
    reader weighs the gain against; a "speed-up" of 0.13x reads worse)."""
    from upscaler.runtime.ensemble import DIHEDRAL_X8

    passes = len(DIHEDRAL_X8)
    ours, theirs = (
        d["speed"][k] for k in ("ms_per_output_megapixel", "parent_ms_per_output_megapixel")
    )
    return (
        f"derived      self-ensemble of {d['parent']}: {passes} passes (flips and rotations "
        f"averaged), about {passes}x the parent's time; "
        + ("; ".join(deltas) if deltas else "quality delta not measured yet")
        + (
            f"; measured {ours / theirs:.1f}x its time"
            if ours and theirs
            else "; time not measured yet"
        )
    )


def media_line(media: dict[str, Any]) -> str:
    """One line for an animation or a video: what it is and what is (or was) done to it.
    Plans and reports share the keys the line reads, so one function says both."""
    if media.get("kind") == "animation":
        plays = media.get("plays")
        loop = "loops forever" if plays == 0 else f"plays {plays}x"
        size = media.get("output_size") or [media.get("width"), media.get("height")]
        text = (
            f"animation {media.get('format')}: {media.get('frames')} frames, "
            f"{media.get('duration_ms')} ms, {loop} → {size[0]}x{size[1]}"
        )
        if media.get("palette_error") is not None:
            text += f", GIF palette error {media['palette_error']:.2f}"
        return text
    frames = media.get("frames")
    segments = media.get("segments")
    resumed = media.get("segments_resumed")
    codec = media.get("codec")
    crf = media.get("crf")
    quality = "lossless" if media.get("lossless") else (f"crf {crf}" if crf is not None else "")
    text = f"video: {frames} frames in {segments} segments"
    if resumed:
        text += f" ({resumed} resumed)"
    text += f", {codec} {media.get('pixel_format')} {quality}".rstrip()
    copied = media.get("copied_streams") or []
    if copied:
        text += "; copied " + ", ".join(map(str, copied))
    dropped = media.get("dropped_streams") or []
    if dropped:
        text += "; left out " + ", ".join(map(str, dropped))
    notes = media.get("notes") or []
    if notes:
        text += "; " + "; ".join(map(str, notes))
    return text

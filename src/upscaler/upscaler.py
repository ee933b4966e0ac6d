"""The :class:`Upscaler` facade: resolve → fetch → convert → load → run; and describe().

Construction only resolves (pure Python, no TensorFlow, no network), so building an
Upscaler and asking it to describe itself is instant. Weights are fetched, converted and
loaded on the first ``upscale`` call (or :meth:`Upscaler.load`).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from upscaler import settings
from upscaler.arguments import (
    DEFAULT_BORDER,
    RUN_ARGUMENTS,
    Border,
    RunArguments,
    check_border,
    check_run_arguments,
    output_size,
)
from upscaler.catalog.attributes import keyword_attributes
from upscaler.catalog.loader import Catalog, default_catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.errors import ImageError, NoMatchingModel, QueryError
from upscaler.prepare.local_models import (
    LOCAL_CHANNELS,
    LocalKind,
    bare_local_hint,
    is_path_form,
    local_entry,
    prepare_local,
)
from upscaler.resolve.description import Description, RuntimeInfo, derivation_of
from upscaler.resolve.query import normalise_query, read_query
from upscaler.resolve.resolver import choose, resolve
from upscaler.resolve.result import Resolution

if TYPE_CHECKING:
    from upscaler.media.video import VideoOptions
    from upscaler.runtime.image_io import DecodedImage
    from upscaler.runtime.savedmodel import LoadedModel
    from upscaler.runtime.tiled import TiledRunner

logger = logging.getLogger("upscaler")
logger.addHandler(logging.NullHandler())


class Upscaler:
    """An upscaling model chosen by what it is.

    ``Upscaler()`` is the catalog's global default; ``Upscaler(model="esrgan-slim.x2")``
    pins a model; ``Upscaler(dataset="DIV2K", scale=2, channels=4)`` resolves attributes,
    taking the nearest adaptable model (with a warning) unless ``strict=True``.
    ``Upscaler(model="path/to/saved_model", scale=2)`` runs your own model (a SavedModel
    folder, a TF.js ``model.json`` or a Keras ``.keras``/``.h5`` file).
    ``precision="bfloat16"`` trades exactness for about twice the speed on CPUs with
    native bfloat16; it is process-wide (see :mod:`upscaler.runtime.precision`).
    ``degradation="auto"`` reads each input (a JPEG's quantization tables, the noise
    in its pixels, whether it is drawn) and runs the model measured best under that
    condition (:mod:`upscaler.analyze`); describe() says what was found and why.
    ``border="replicate"`` extends the image by its own edge pixels before the model sees
    it, so zero-padding models draw no pale frame; ``border="zero"`` is UpscalerJS's and
    ncnn's behaviour exactly (see :mod:`upscaler.runtime.tiled`). Unset, each model gets
    the border its catalog entry measured best (``tiling.border``), else ``"replicate"``.
    """

    def __init__(
        self,
        model: str | os.PathLike[str] | None = None,
        *,
        query: str | None = None,
        dataset: str | None = None,
        scale: int | None = None,
        channels: int | None = None,
        objective: str | None = None,
        degradation: str | None = None,
        domain: str | None = None,
        denoise: str | int | None = None,
        architecture: str | None = None,
        implementation: str | None = None,
        pruning: str | None = None,
        quantization: str | None = None,
        prefer: str = "balanced",
        strict: bool = False,
        value_range: tuple[float, float] | None = None,
        device: str = "auto",
        precision: str | None = None,
        border: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        from upscaler.runtime.device import parse_device

        # Run options are checked here, once, in the user's words: the runner trusts them.
        self._border = check_border(border)
        self._device = parse_device(device)
        self._catalog = catalog or default_catalog()
        self._cache_arg = cache_dir
        self._cache_dir = settings.cache_root(cache_dir)
        self._strict = strict
        self._precision = precision
        self._local: tuple[Path, LocalKind] | None = None
        self._models: list[LoadedModel] = []
        self._runners: dict[tuple[Any, ...], TiledRunner] = {}
        self._runtime = RuntimeInfo()
        self._weights_files: dict[str, str] | None = None
        self._auto_query: dict[str, Any] | None = None
        self._input_condition: dict[str, Any] | None = None
        # The query string is read once, with the attribute keywords of this very call (in
        # its declared order): a query may say prefer=fast, or degradation=auto.
        asked = read_query(query, keyword_attributes(locals()), prefer=prefer, read_input=True)
        prefer, auto = asked.prefer, asked.auto
        self._prefer = prefer
        if auto and model is not None:
            raise QueryError(
                'degradation="auto" chooses the model from each input, and a model was given',
                hint='drop model= to let the input choose, or drop degradation="auto"',
            )
        pinned = os.fspath(model) if model is not None else None
        if model is not None and is_path_form(model):
            path = Path(os.fspath(model)).expanduser()
            entry, kind = local_entry(path, scale=scale, value_range=value_range)
            self._local = (path, kind)
            self._resolution = Resolution(
                query={},
                prefer=prefer,
                exact=True,
                matches=[entry.id],
                model=entry,
                reason=f"local {kind} model given by path",
                adapters=[],
                alternatives=[],
            )
            self._entry = entry
            return
        normalised = normalise_query(asked.attributes, self._catalog.vocab)
        try:
            self._resolution = resolve(normalised, self._catalog, prefer=prefer, model=pinned)
        except NoMatchingModel as exc:
            hint = bare_local_hint(pinned) if pinned is not None else None
            if hint is None:
                raise
            raise NoMatchingModel(f"{exc.message}, and {pinned!r} is no path", hint=hint) from None
        self._entry = choose(self._resolution, strict=strict)
        if auto:
            self._auto_query = normalised

    # -- what it is ------------------------------------------------------------------------

    @property
    def model(self) -> ModelEntry:
        """The catalog entry this upscaler runs (first of a chain)."""
        return self._entry

    @property
    def scale(self) -> int:
        """The output scale this upscaler delivers (the query's, else the model's)."""
        wanted = self._resolution.query.get("scale")
        return int(wanted) if wanted is not None else self._entry.scale

    @property
    def resolution(self) -> Resolution:
        """The resolver's full answer (exact matches, alternatives, adapters)."""
        return self._resolution

    @property
    def cache_dir(self) -> Path:
        """Where weights and converted models are cached for this upscaler."""
        return self._cache_dir

    def plan(self) -> list[ModelEntry]:
        """The models run in order: one, or a chain the resolver planned."""
        for adapter in self._resolution.adapters:
            if adapter.kind == "chain":
                return [self._catalog.get(m) for m in adapter.models]
        return [self._entry]

    def describe(
        self,
        input: str | os.PathLike[str] | None = None,
        *,
        output: str | os.PathLike[str] | None = None,
        video: VideoOptions | None = None,
    ) -> Description:
        """What this upscaler is, why it was chosen, and what it will do to an image.

        With ``input`` naming an animation or a video, also what upscaling it will do
        (frames and timing; for a video the codec, segments and copied streams, with
        ``output`` picking the container), decided without loading the model.
        """
        r = self._resolution
        input_plan = None
        if input is not None:
            from upscaler.media_files import media_kind, plan_media_file

            source = Path(input)
            kind = media_kind(source)
            if kind != "image":
                input_plan = plan_media_file(
                    kind,
                    source,
                    Path(output) if output is not None else None,
                    scale=float(self.scale),
                    video=video,
                )
        return Description(
            input_plan=input_plan,
            query=r.query,
            prefer=r.prefer,
            strict=self._strict,
            exact=r.exact,
            model=self._entry,
            reason=r.reason,
            adapters=r.adapters,
            alternatives=r.alternatives,
            cache_dir=str(self._cache_dir),
            weights_files=self._weights_files,
            runtime=self._runtime.model_copy(),
            derivation=derivation_of(
                self._entry, self._catalog.by_id.get(self._entry.derived_from or "")
            ),
            ranking=r.ranking
            or (
                'degradation="auto": chosen per input; none read yet (clean-input ranking '
                "until then)"
                if self._auto_query is not None
                else None
            ),
            input_condition=self._input_condition,
        )

    def __repr__(self) -> str:
        return f"Upscaler(model={self._entry.id!r})"

    def _adapt_to_input(self, condition: Any) -> None:
        """``degradation="auto"``: rank by the protocol the input matches and switch to
        its best model (dropping the loaded one only when the choice changed)."""
        from upscaler.resolve.condition import ILLUSTRATION_SET, Ranking

        assert self._auto_query is not None
        self._input_condition = condition.to_dict()
        observed = Ranking(
            protocol=condition.protocol,
            sets=(ILLUSTRATION_SET,) if condition.domain == "anime" else (),
            reason=condition.reason,
        )
        resolution = resolve(
            self._auto_query, self._catalog, prefer=self._prefer, observed=observed
        )
        entry = choose(resolution, strict=self._strict)
        if resolution.ranking is None:
            resolution = resolution.model_copy(update={"ranking": condition.reason})
        self._resolution = resolution
        if entry.id != self._entry.id:
            logger.info("input read as %s: %s", condition.protocol, entry.id)
            self._entry = entry
            self._models = []
            self._runners = {}
            self._runtime = RuntimeInfo()
            self._weights_files = None

    # -- getting it ready ------------------------------------------------------------------

    def prepare(self, *, convert: bool = True, progress: bool = True) -> list[Path]:
        """Fetch and verify the weights and (by default) convert them; no TensorFlow load.

        Returns one folder per model of the plan: the SavedModel, or with
        ``convert=False`` the verified weights. `upscaler fetch` uses it so that later runs
        work offline.
        """
        self._request_precision()  # before a conversion can start TensorFlow
        if self._local is not None:
            path, kind = self._local
            folder, report = prepare_local(self._entry, path, kind, cache_dir=self._cache_arg)
            self._runtime.savedmodel = str(folder)
            self._runtime.loaded_from = f"{kind}: {path}"
            self._runtime.conversion = report
            return [folder]
        from upscaler.prepare.materialize import fetch_entry_files, prepare_savedmodel

        folders: list[Path] = []
        for entry in self.plan():
            parent = self._catalog.by_id.get(entry.derived_from or "")
            if not convert:
                # An int8 or bfloat16 variant has no files: it is built from its parent's;
                # an ensemble runs its parent's.
                borrows = entry.built_from_parent or entry.ensemble is not None
                source = parent if borrows and parent is not None else entry
                files = fetch_entry_files(source, cache_dir=self._cache_arg, progress=progress)
                if entry.id == self._entry.id:
                    self._weights_files = {k: str(v) for k, v in files.items()}
                folders.append(
                    files[source.weights.entry_point].parent if source.weights else self._cache_dir
                )
                continue
            folder, report = prepare_savedmodel(
                entry, cache_dir=self._cache_arg, progress=progress, parent=parent
            )
            if entry.id == self._entry.id:
                self._runtime.savedmodel = str(folder)
                self._runtime.conversion = report
                self._runtime.loaded_from = f"catalog: {entry.id}"
            folders.append(folder)
        return folders

    def _request_precision(self) -> None:
        """Record the precision before TensorFlow starts: it is fixed for the process then."""
        from upscaler.runtime.precision import request_precision

        kind = "gpu" if self._device.kind == "gpu" else "cpu"
        request_precision(self._precision, device_kind=kind)

    def load(self, *, progress: bool = True) -> Upscaler:
        """Fetch, convert and load every model of the plan (idempotent)."""
        if self._models:
            return self
        from upscaler.runtime.precision import request_precision
        from upscaler.runtime.tflite import load_model

        models = [load_model(folder) for folder in self.prepare(progress=progress)]
        _warn_emulated_bfloat16(models)
        self._check_channels(models)
        self._check_scale(models[0], self.plan()[0])
        self._models = models
        first = models[0]
        self._runtime.signature = {"input": first.input.as_dict(), "output": first.output.as_dict()}
        from upscaler.runtime.device import device_kind, resolve_device

        self._runtime.device = resolve_device(self._device)
        self._runtime.precision = request_precision(
            self._precision, device_kind=device_kind(self._runtime.device)
        )
        return self

    def _check_channels(self, models: list[LoadedModel]) -> None:
        """Each model must take the channels its entry says, or the pipeline would feed it
        the wrong planes. A local model's entry guessed them (from its ``upscaler.json``,
        else RGB), so there the SavedModel's own signature decides, among the kinds a
        model given by path may have."""
        from upscaler.errors import ModelLoadError

        if self._local is not None:
            channels = models[0].channels
            if channels not in LOCAL_CHANNELS:
                raise ModelLoadError(
                    f"{self._entry.source_file} takes {channels}-channel input; a model given "
                    "by path must take RGB (3 channels) or RGBA (4)",
                    hint="1-channel (luma) models run from a catalog entry with `channels: 1`",
                )
            if channels != self._entry.channels:
                self._entry = self._entry.model_copy(update={"channels": channels})
                self._resolution = self._resolution.model_copy(update={"model": self._entry})
            return
        for model, entry in zip(models, self.plan(), strict=True):
            if model.channels != entry.channels:
                raise ModelLoadError(
                    f"{entry.id}: the catalog says {entry.channels} channels, but its "
                    f"SavedModel {model.path} takes {model.channels}",
                    hint=f"fix `channels:` in {entry.source_file}",
                )

    def _check_scale(self, model: LoadedModel, entry: ModelEntry) -> None:
        """A local model whose output is not ``scale`` times its input is a wrong claim."""
        if self._local is None:
            return
        import numpy as np

        from upscaler.errors import ModelLoadError

        c = model.channels
        probe = model.predict(np.zeros((1, 8, 8, c), dtype=np.float32))
        if probe.shape[1:3] != (8 * entry.scale, 8 * entry.scale) or probe.shape[3] != c:
            raise ModelLoadError(
                f"{entry.source_file} turns 8x8x{c} into {'x'.join(map(str, probe.shape[1:]))}, "
                f"not {8 * entry.scale}x{8 * entry.scale}x{c} as scale={entry.scale} requires",
                hint=f"pass the model's real scale, and a model with {c} output channels",
            )

    # -- running it ------------------------------------------------------------------------

    def upscale(
        self,
        image: Any,
        *,
        patch_size: int | None = None,
        padding: int | None = None,
        batch_size: int | None = None,
        outscale: float | None = None,
        alpha: str = "model",
        progress: bool = True,
        callback: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        max_pixels: int | None = None,
    ) -> Any:
        """Upscale a path, bytes, PIL image or numpy array; returns the same kind.

        numpy in (uint8, uint16, or float in [0, 1]; HxW or HxWxC) gives numpy of the same
        dtype and layout; PIL, path and bytes give a PIL image (16-bit colour, which PIL
        cannot hold, comes back as a uint16 array). ``outscale`` is any float (default:
        the query's scale, else the model's). ``alpha`` is ``"model"`` or ``"bicubic"``.
        ``cancel`` (a ``threading.Event``) stops the run with :class:`Cancelled`.
        """
        from upscaler.runtime.image_io import DecodedImage, decode, encode

        run = check_run_arguments(
            alpha=alpha,
            patch_size=patch_size,
            padding=padding,
            batch_size=batch_size,
            outscale=outscale,
        )
        decoded = image if isinstance(image, DecodedImage) else decode(image, max_pixels=max_pixels)
        if self._auto_query is not None and not isinstance(image, DecodedImage):
            from upscaler.analyze.report import inspect_array, inspect_image

            path = image if isinstance(image, str | os.PathLike) else None
            self._adapt_to_input(
                inspect_image(Path(path)) if path is not None else inspect_array(decoded.pixels)
            )
        pixels = self._run(decoded, run, progress=progress, callback=callback, cancel=cancel)
        return encode(pixels, decoded)

    def _run(
        self,
        decoded: DecodedImage,
        run: RunArguments,
        *,
        progress: bool = True,
        callback: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> Any:
        """The decoded image's pixels upscaled with options checked at the boundary."""
        from upscaler.runtime.pipeline import PipelineReport, upscale_pixels

        scale_out = run.outscale or float(self.scale)
        # An outscale that rounds this image to nothing is refused before any model work.
        output_size(decoded.pixels.shape[1], decoded.pixels.shape[0], scale_out)
        self.load(progress=progress)
        steps = self._steps(run, progress=progress, callback=callback, cancel=cancel)
        model_scale = 1
        for entry in self.plan():
            model_scale *= entry.scale
        report = PipelineReport(adapters=list(decoded.adaptations))
        pixels = upscale_pixels(
            steps,
            decoded.pixels,
            model_scale=model_scale,
            outscale=scale_out,
            alpha=run.alpha,
            report=report,
            model_channels=self.plan()[0].channels,
        )
        self._runtime.last_run = {"adapters": report.adapters, "outscale": scale_out}
        return pixels

    def _steps(
        self,
        run: RunArguments,
        *,
        progress: bool,
        callback: Callable[[int, int], None] | None,
        cancel: threading.Event | None,
    ) -> list[Callable[[Any], Any]]:
        """One callable per model of the plan: pixels in, upscaled pixels (same dtype) out.

        Runners are kept between calls with the same tiling options, so their compiled
        tile functions are reused (no retracing on the next image). A self-ensemble
        variant's step runs its parent's model through the same runner 8 times
        (:func:`run_self_ensemble`); the adapters around the steps (gray, alpha, luma,
        16-bit) need nothing of their own for it.
        """
        from upscaler.runtime.ensemble import DIHEDRAL_X8
        from upscaler.runtime.tiled import TiledRunner

        steps: list[Callable[[Any], Any]] = []
        for model, entry in zip(self._models, self.plan(), strict=True):
            context = run.padding
            if context is None and entry.tiling is not None:
                context = entry.tiling.context
            border = self._border or entry_border(entry)
            key = (entry.id, run.patch_size, context, run.batch_size, border)
            runner = self._runners.get(key)
            if runner is None:
                runner = TiledRunner(
                    model,
                    scale=entry.scale,
                    value_range=entry.value_range,
                    tile=run.patch_size,
                    context=context,
                    batch=run.batch_size,
                    device=self._device,
                    border=border,
                    # The catalog's flag insists (a model without the signatures is an
                    # error); otherwise the SavedModel itself says whether it pools.
                    global_pool=True if entry.tiling and entry.tiling.global_pool else None,
                )
                self._runners[key] = runner

            def step(pixels: Any, runner: TiledRunner = runner, ensemble: bool = False) -> Any:
                if ensemble:
                    out = run_self_ensemble(
                        runner, pixels, progress=progress, callback=callback, cancel=cancel
                    )
                else:
                    out = runner.run(pixels, progress=progress, callback=callback, cancel=cancel)
                self._runtime.tiling = runner.describe(tuple(pixels.shape))
                if ensemble:
                    self._runtime.tiling["passes"] = len(DIHEDRAL_X8)
                self._runtime.device = str(self._runtime.tiling.get("device"))
                self._runtime.precision = str(self._runtime.tiling.get("precision"))
                self._runtime.global_pool = self._runtime.tiling.get("global_pool")
                return out

            steps.append(functools.partial(step, ensemble=entry.ensemble is not None))
        return steps

    def upscale_file(
        self,
        src: str | os.PathLike[str],
        dst: str | os.PathLike[str],
        *,
        quality: int | None = None,
        video: VideoOptions | None = None,
        **options: Any,
    ) -> Path:
        """Upscale ``src`` into ``dst`` atomically: a temp file beside it, then a rename.

        A failure or cancellation leaves no file at ``dst`` (and no temp file; one a
        kill -9 left is removed by the next process that writes there, see
        :mod:`upscaler.atomic`). ``dst`` may not be ``src`` itself under any name (a
        symlink, a hard link): the input is never replaced. The format follows ``dst``'s
        suffix; ICC profile and EXIF are carried over.

        An animated GIF, APNG or WebP is written as an animation (every frame, its
        timing and loop count; docs/animations.md), and a video file as a video
        (``video`` says how it is encoded; audio and subtitles are copied, the work is
        resumable; docs/video.md). What was done is in ``describe().runtime.media``.
        """
        import dataclasses

        from upscaler.atomic import write_atomically
        from upscaler.media_files import media_kind
        from upscaler.runtime.image_io import (
            check_fits,
            check_output_path,
            check_savable,
            decode,
            save_pixels,
        )

        target = Path(dst)
        kind = media_kind(Path(src))
        if kind != "image":
            from upscaler.media_files import first_frame, upscale_media_file

            if self._auto_query is not None:
                from upscaler.analyze.report import inspect_array

                self._adapt_to_input(inspect_array(first_frame(kind, Path(src))))

            progress = bool(options.pop("progress", True))
            max_pixels = options.pop("max_pixels", None)
            run = check_run_arguments(
                **{name: options.pop(name) for name in RUN_ARGUMENTS if name in options}
            )
            if options:
                raise QueryError(
                    f"upscale_file() got unexpected options for {kind}s: {sorted(options)}"
                )
            self._runtime.media = upscale_media_file(
                self,
                kind,
                Path(src),
                target,
                run,
                quality=quality,
                progress=progress,
                video=video,
                max_pixels=max_pixels,
            )
            return target
        fmt = check_output_path(Path(src), target)
        source = decode(Path(src), max_pixels=options.pop("max_pixels", None))
        if self._auto_query is not None:
            from upscaler.analyze.report import inspect_image

            self._adapt_to_input(inspect_image(Path(src)))
        run = check_run_arguments(
            **{name: options.pop(name) for name in RUN_ARGUMENTS if name in options}
        )
        height, width = source.pixels.shape[:2]
        outscale = run.outscale or float(self.scale)
        check_fits(fmt, *output_size(width, height, outscale), target)
        check_savable(fmt, source, target)
        # The result as the bare array: a PIL copy of it would be a third larger than
        # the result itself, and the PNG writer needs none (memory bound, issue 29).
        bare = dataclasses.replace(source, kind="numpy", squeeze=False)
        pixels = self._run(bare, run, **options)
        info = source.info
        del source, bare  # the input's pixels are not needed while the output is written
        try:
            write_atomically(target, lambda tmp: save_pixels(pixels, tmp, info, quality=quality))
        except ImageError:
            raise
        except OSError as exc:
            raise ImageError(
                f"cannot write {target}: {exc.strerror or exc}",
                hint="check that the output folder is writable and has free space",
            ) from None
        return target


def run_self_ensemble(
    runner: TiledRunner,
    pixels: Any,
    *,
    progress: bool = True,
    callback: Callable[[int, int], None] | None = None,
    cancel: threading.Event | None = None,
) -> Any:
    """``pixels`` through ``runner`` as a self-ensemble (an ``ensemble: dihedral-x8``
    variant): its 8 flips and rotations run one after the other with the runner's own
    tiling, each output turned back, the float outputs averaged and rounded once
    (:mod:`upscaler.runtime.ensemble`).

    Progress counts the tiles of all 8 passes as one run: one bar, and ``callback(done,
    total)`` with ``total`` the tiles of every pass (the passes that turn the image by a
    quarter are planned on the turned image, so their tiles are counted on it). ``cancel``
    stops the run between any two batches of any pass.
    """
    from tqdm.auto import tqdm

    from upscaler.progress import tqdm_disable
    from upscaler.runtime.ensemble import DIHEDRAL_X8, Unit, self_ensemble

    height, width = pixels.shape[:2]

    def tiles(h: int, w: int) -> int:
        pool = runner.pool_plan(h, w)
        return runner.plan(h, w).count * (1 + (pool.passes if pool is not None else 0))

    upright, turned = tiles(height, width), tiles(width, height)
    planned = [turned if t.transposes else upright for t in DIHEDRAL_X8]
    finished = 0  # tiles of the passes already run, as the runner counted them

    with tqdm(
        total=sum(planned),
        unit="tile",
        desc="upscaling x8 (self-ensemble)",
        disable=tqdm_disable(progress),
        file=sys.stderr,
        leave=False,
    ) as bar:

        def one_pass(index: int, unit: Unit) -> Unit:
            nonlocal finished
            later = sum(planned[index + 1 :])
            last = [planned[index]]

            def report(done: int, total: int) -> None:
                last[0] = total
                overall = finished + total + later
                bar.total = overall
                bar.update(finished + done - bar.n)
                if callback is not None:
                    callback(finished + done, overall)

            out: Unit = runner.run(unit, progress=False, callback=report, cancel=cancel)
            finished += last[0]
            return out

        return self_ensemble(one_pass, pixels, DIHEDRAL_X8)


def entry_border(entry: ModelEntry) -> Border:
    """The border a model runs with when the caller names none: its catalog entry's
    (measured per model: SPAN, trained on zero-padded patches, loses 0.2 dB on Set5 with
    replicated edges), else :data:`~upscaler.arguments.DEFAULT_BORDER`."""
    if entry.tiling is not None and entry.tiling.border is not None:
        return entry.tiling.border
    return DEFAULT_BORDER


def check_output_path(target: Path, *, folder_made_later: bool = False) -> None:
    """Refuse an output whose folder is missing or whose format is not one we write:
    mistakes a user can fix, so they are found before any model work (the CLI calls this
    for every output before loading the model)."""
    from upscaler.runtime.image_io import output_format

    if not folder_made_later and not target.parent.is_dir():
        raise ImageError(f"output folder {target.parent} does not exist", hint="create it first")
    output_format(target)


def check_input_image(path: Path) -> None:
    """Refuse a file that is not an image, from its header only, so a typo'd path or a
    text file fails in milliseconds instead of after the model has loaded."""
    from upscaler.runtime.image_io import check_image_file

    check_image_file(path)


def _warn_emulated_bfloat16(models: list[LoadedModel]) -> None:
    """A stored bfloat16 variant runs on any CPU, but without native bfloat16 its
    arithmetic is emulated and slower than its float32 parent: say so once per load."""
    from upscaler.runtime.precision import cpu_has_native_bfloat16

    if any(m.precision == "bfloat16" for m in models) and not cpu_has_native_bfloat16():
        logger.warning(
            "this model computes in bfloat16, which this CPU emulates (no AVX512-BF16 or "
            "AMX): it runs slower than its float32 parent; ask for quantization=none"
        )

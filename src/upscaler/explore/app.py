"""The live model explorer: a local Gradio app (``upscaler explore``).

Pick an image (or the bundled sample) and the attributes you want; the page shows the
resolver's answer as you change them, the exact ``Upscaler(...)`` code and
``upscaler upscale`` command for that choice, and runs it with a before/after slider, the
time taken and the model's measured metrics. The quality-vs-speed chart of the docs
rings the current choice, and two or three models can be run side by side on the same
image, each with its time.

Gradio is an optional dependency (``pip install 'upscaler[explore]'``) imported only
here. The app binds to 127.0.0.1 unless told otherwise, makes no share link, and turns
Gradio's analytics off before Gradio is imported. Uploads are held to the limits files
are (``UPSCALER_MAX_PIXELS``, one still image): :mod:`upscaler.explore.uploads` refuses
the rest at the door, and runs decode through the same guarded decoder as the CLI.
"""

import io
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path, PurePath
from types import ModuleType
from typing import TYPE_CHECKING, Any

from upscaler.catalog.attributes import QUERY_ATTRIBUTES
from upscaler.catalog.loader import Catalog, default_catalog
from upscaler.catalog.schema import ModelEntry
from upscaler.errors import DependencyError, QueryError, UpscalerError
from upscaler.explore.codegen import (
    AUTO_MODEL,
    DEFAULT_INPUT,
    Choice,
    cli_command,
    output_path,
    python_snippet,
)
from upscaler.explore.present import (
    ALTERNATIVE_HEADERS,
    ComparedRun,
    Outcome,
    alternative_rows,
    comparison_markdown,
    control_options,
    evaluate,
    model_facts_markdown,
    pin_alternative,
    resolution_markdown,
)

if TYPE_CHECKING:
    import gradio
    from PIL import Image

    from upscaler.runtime.image_io import DecodedImage, Pixels
    from upscaler.upscaler import Upscaler

INSTALL = "pip install 'upscaler[explore]'"
DEFAULT_HOST = "127.0.0.1"
# Order of the controls as handlers receive their values (after the image).
CONTROL_NAMES = ("model", *QUERY_ATTRIBUTES, "prefer", "strict")
# The attribute dropdowns, row by row, with each row's minimum control width.
_ATTRIBUTE_ROWS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("dataset", "scale", "channels"), 110),
    (("domain", "denoise"), 140),
    (("objective", "degradation"), 140),
    (("architecture", "implementation"), 140),
    (("pruning", "quantization"), 140),
)
# The controls a pinned alternative sets: the model id and every attribute.
_PINNED = CONTROL_NAMES[: 1 + len(QUERY_ATTRIBUTES)]
# Environment that keeps Gradio (and the hub client it imports) from phoning home.
NO_TELEMETRY = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
#: How many models a side-by-side comparison runs at most (and at least).
MAX_COMPARED = 3
MIN_COMPARED = 2
# The compared models plus the current choice stay loaded.
_LOADED_UPSCALERS = MAX_COMPARED + 1
_CHARTS_KEPT = 16
# Timings on one line each: the table is short, and "0.39 s" broken in two reads badly.
EXPLORER_CSS = "#compare-timing :is(th, td, code) { white-space: nowrap; }"
NO_CHART = (
    "The quality-vs-speed chart needs matplotlib: `pip install 'upscaler[docs]'`, then "
    "restart `upscaler explore`."
)


def import_gradio() -> ModuleType:
    """Import Gradio with analytics off; a missing extra is a one-line DependencyError."""
    os.environ.update(NO_TELEMETRY)
    try:
        import gradio
    except ImportError as exc:
        raise DependencyError(
            f"upscaler explore needs Gradio, which is not installed ({exc.name or exc}): "
            f"run {INSTALL}"
        ) from exc
    return gradio


def sample_images() -> list[Path]:
    """The bundled sample: ``examples/sample.png`` of a source checkout or the cwd, or
    ``upscaler/_examples/sample.png`` where a wheel carries it."""
    here = Path(__file__).resolve()
    candidates = [
        here.parents[1] / "_examples" / "sample.png",
        here.parents[3] / "examples" / "sample.png",
        Path.cwd() / "examples" / "sample.png",
    ]
    found: list[Path] = []
    for path in candidates:
        if path.is_file() and path.resolve() not in found:
            found.append(path.resolve())
    return found


def display_name(image_path: str | None) -> str:
    """The file name the generated code uses for the input (uploads keep their name)."""
    return PurePath(image_path).name if image_path else DEFAULT_INPUT


def _open_image(image_path: str) -> "DecodedImage":
    """The picture as a person sees it (EXIF orientation applied), through the decoder
    files go through: UPSCALER_MAX_PIXELS checked on the header, one frame, 16-bit kept,
    and a damaged file an ImageError the page can show rather than a bare traceback."""
    from upscaler.runtime.image_io import decode

    return decode(Path(image_path))


def _displayable(picture: "Image.Image | Pixels") -> "Image.Image":
    """RGB or RGBA for the browser: 16-bit and float pixels (which upscaling hands back as
    arrays when they have colour), gray, palette and CMYK become 8-bit RGB(A)."""
    import numpy as np
    from PIL import Image

    from upscaler.runtime.image_io import to_dtype

    if isinstance(picture, np.ndarray):
        eight = to_dtype(picture, "uint8")
        image = Image.fromarray(eight[:, :, 0] if eight.shape[2] == 1 else eight)
    else:
        image = picture
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    if image.mode.startswith("I;16") or image.mode == "I":
        scaled = (np.asarray(image, dtype=np.float64) / 257.0).round().clip(0, 255)
        image = Image.fromarray(scaled.astype(np.uint8), "L")
    return image.convert("RGBA" if has_alpha else "RGB")


class Explorer:
    """The explorer's logic, independent of the widgets: choice → views, choice → run."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or default_catalog()
        self._lock = threading.Lock()
        self._upscalers: OrderedDict[tuple[tuple[str, Any], ...], Upscaler] = OrderedDict()
        self._charts: OrderedDict[tuple[int, str | None], Image.Image | None] = OrderedDict()

    def choice(self, values: tuple[Any, ...]) -> Choice:
        """Control values, in :data:`CONTROL_NAMES` order, as a :class:`Choice`."""
        return Choice.from_controls(dict(zip(CONTROL_NAMES, values, strict=True)))

    def outcome(self, values: tuple[Any, ...]) -> Outcome:
        """The resolver's answer for the controls' values."""
        return evaluate(self.choice(values), self.catalog)

    def code(self, outcome: Outcome, image_path: str | None) -> tuple[str, str]:
        """The Python snippet and the CLI command for a choice and input image."""
        name = display_name(image_path)
        out = output_path(name, outcome.scale)
        return (
            python_snippet(outcome.choice, input_path=name, output=out),
            cli_command(outcome.choice, input_path=name, output=out),
        )

    def upscaler(self, choice: Choice) -> "Upscaler":
        """``Upscaler(**choice.kwargs())``, kept loaded for the next run of the same choice."""
        from upscaler.upscaler import Upscaler

        key = tuple(choice.kwargs().items())
        with self._lock:
            if key in self._upscalers:
                self._upscalers.move_to_end(key)
                return self._upscalers[key]
        up = Upscaler(**choice.kwargs(), catalog=self.catalog)
        with self._lock:
            self._upscalers[key] = up
            while len(self._upscalers) > _LOADED_UPSCALERS:
                self._upscalers.popitem(last=False)
        return up

    @staticmethod
    def _timed(up: "Upscaler", source: "DecodedImage") -> tuple["Image.Image", float, float]:
        """Load (once) and upscale: the output as the page shows it, the load time and the
        run time, apart."""
        started = time.perf_counter()
        up.load(progress=True)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        result = up.upscale(source, progress=True)
        run_s = time.perf_counter() - started
        return _displayable(result), load_s, run_s

    def run(
        self, image_path: str, choice: Choice, progress: Any = None
    ) -> tuple["Image.Image", "Image.Image", str, str]:
        """Upscale one image: (before enlarged to the output size, after, timing, facts)."""
        from PIL import Image

        source = _open_image(image_path)  # a refused image fails before any model work
        up = self.upscaler(choice)
        _step(progress, 0.05, f"fetching, converting, loading and running {up.model.id}")
        after, load_s, run_s = self._timed(up, source)
        _step(progress, 1.0, "done")
        before = _displayable(source.pixels).resize(after.size, Image.Resampling.NEAREST)
        height, width = source.pixels.shape[:2]
        timing = (
            f"**{up.model.id}** upscaled {width}×{height} → "
            f"{after.width}×{after.height} in **{run_s:.2f} s**"
        )
        if load_s >= 0.05:
            timing += f" (loading the model took {load_s:.2f} s, once)"
        return before, after, timing + ".", model_facts_markdown(up.model)

    def compare(
        self, image_path: str, model_ids: Sequence[str], progress: Any = None
    ) -> tuple[list[tuple["Image.Image", str]], str]:
        """Run two or three models on one image: captioned outputs and a timing table.

        Each model's load is timed apart from its run, so a first, converting run does
        not make a fast model look slow.
        """
        ids = list(dict.fromkeys(model_ids))
        if not MIN_COMPARED <= len(ids) <= MAX_COMPARED:
            raise QueryError(
                f"choose {MIN_COMPARED} or {MAX_COMPARED} models to compare, got {len(ids)}"
            )
        entries = [self.catalog.get(i) for i in ids]  # unknown ids fail before any run
        source = _open_image(image_path)
        shown: list[tuple[Image.Image, str]] = []
        runs: list[ComparedRun] = []
        for n, entry in enumerate(entries):
            _step(progress, n / len(entries), f"running {entry.id} ({n + 1} of {len(entries)})")
            result, load_s, run_s = self._timed(self.upscaler(Choice(model=entry.id)), source)
            shown.append((result, f"{entry.id}: {run_s:.2f} s"))
            runs.append(ComparedRun(entry, result.width, result.height, run_s, load_s))
        _step(progress, 1.0, "done")
        return shown, comparison_markdown(runs, self.catalog)

    def chart(self, model: ModelEntry | None, scale: int | None) -> "Image.Image | None":
        """The quality-vs-speed chart of the choice's scale with the model ringed.

        None when matplotlib is missing or no model has that scale. Kept per (scale,
        model), since the page asks again on every change of a control.
        """
        from PIL import Image

        from upscaler.gallery.chart import render
        from upscaler.gallery.measures import scales_of

        wanted = model.scale if model is not None else scale
        if wanted is None or wanted not in scales_of(self.catalog):
            return None
        key = (wanted, model.id if model is not None else None)
        with self._lock:
            if key in self._charts:
                return self._charts[key]
        try:
            data = render(self.catalog, scales=[wanted], fmt="png", highlight=key[1], width_in=7)
        except DependencyError:
            image = None
        else:
            image = Image.open(io.BytesIO(data))
            image.load()
        with self._lock:
            self._charts[key] = image
            while len(self._charts) > _CHARTS_KEPT:
                self._charts.popitem(last=False)
        return image


def _step(progress: Any, fraction: float, text: str) -> None:
    if progress is not None:
        progress(fraction, desc=text)


def build_app(catalog: Catalog | None = None) -> "gradio.Blocks":
    """The Gradio Blocks of the explorer (not launched)."""
    import_gradio()
    import gradio as gr

    explorer = Explorer(catalog)
    options = control_options(explorer.catalog)
    samples = sample_images()
    has_slider = hasattr(gr, "ImageSlider")

    demo = gr.Blocks(title="upscaler explorer", analytics_enabled=False)
    with demo:
        gr.Markdown(
            "# upscaler explorer\n"
            "Choose a model by what it is. The resolver answers as you change the controls; "
            "the code below is exactly what **Run** executes."
        )
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                image = gr.Image(
                    value=str(samples[0]) if samples else None,
                    type="filepath",
                    image_mode=None,
                    sources=["upload", "clipboard"],
                    label="Input image",
                    elem_id="input-image",
                    height=240,
                )
                if samples:
                    gr.Examples(
                        examples=[[str(p)] for p in samples],
                        inputs=[image],
                        label="Bundled sample",
                    )
                model = gr.Dropdown(
                    options.model, value=AUTO_MODEL, label="model id", elem_id="control-model"
                )
                attrs: dict[str, Any] = {}
                for row, width in _ATTRIBUTE_ROWS:
                    with gr.Row():
                        for name in row:
                            attrs[name] = gr.Dropdown(
                                options.attributes[name],
                                value="any",
                                label=name,
                                allow_custom_value=name == "scale",
                                elem_id=f"control-{name}",
                                min_width=width,
                            )
                with gr.Row():
                    prefer = gr.Radio(
                        options.prefer,
                        value="balanced",
                        label="prefer (ranks several exact matches)",
                        elem_id="control-prefer",
                    )
                    strict = gr.Checkbox(
                        value=False,
                        label="strict (raise instead of adapting)",
                        elem_id="control-strict",
                    )
                run = gr.Button("Run", variant="primary", elem_id="run")
            with gr.Column(scale=3, min_width=420):
                answer = gr.Markdown(elem_id="resolution")
                alternatives = gr.Dataframe(
                    headers=ALTERNATIVE_HEADERS,
                    label="Alternatives (select a row to pin that model)",
                    interactive=False,
                    wrap=True,
                    max_height=220,
                    column_widths=["22%", "7%", "10%", "33%", "28%"],
                    elem_id="alternatives",
                )
                with gr.Tab("Python"):
                    py_code = gr.Code(
                        language="python",
                        label="Python",
                        buttons=["copy"],
                        interactive=False,
                        elem_id="code-python",
                    )
                with gr.Tab("Command line"):
                    cli_code = gr.Code(
                        language="shell",
                        label="Command line",
                        buttons=["copy"],
                        interactive=False,
                        lines=2,
                        elem_id="code-cli",
                    )
                if has_slider:
                    compare: Any = gr.ImageSlider(
                        label="Before (nearest-neighbour enlarged) / after",
                        type="pil",
                        format="png",
                        elem_id="result",
                        interactive=False,
                    )
                    result_outputs: list[Any] = [compare]
                else:  # pragma: no cover - Gradio without ImageSlider
                    with gr.Row():
                        before = gr.Image(label="Before", type="pil", format="png")
                        after = gr.Image(label="After", type="pil", format="png", elem_id="result")
                    result_outputs = [before, after]
                timing = gr.Markdown(elem_id="timing")
                facts = gr.Markdown(elem_id="facts")
                with gr.Accordion("Quality against speed (your choice ringed)", open=True):
                    chart = gr.Image(
                        type="pil",
                        format="png",
                        show_label=False,
                        interactive=False,
                        buttons=["download", "fullscreen"],
                        elem_id="chart",
                    )
                    chart_note = gr.Markdown(elem_id="chart-note")
                with gr.Accordion("Compare 2 or 3 models side by side", open=True):
                    compared = gr.Dropdown(
                        options.model[1:],
                        value=[],
                        multiselect=True,
                        max_choices=MAX_COMPARED,
                        label="models to compare on the input image",
                        elem_id="compare-models",
                    )
                    compare = gr.Button("Compare", elem_id="compare", size="md")
                    compare_gallery = gr.Gallery(
                        label="Outputs, each with the time it took",
                        columns=MAX_COMPARED,
                        rows=1,
                        object_fit="contain",
                        height=300,
                        preview=False,
                        elem_id="compare-gallery",
                    )
                    compare_timing = gr.Markdown(elem_id="compare-timing")
                with gr.Accordion("Resolver answer (Resolution.to_dict())", open=False):
                    raw = gr.JSON(elem_id="resolution-json")

        controls = [model, *(attrs[n] for n in QUERY_ATTRIBUTES), prefer, strict]

        def refresh(image_path: str | None, *values: Any) -> tuple[Any, ...]:
            outcome = explorer.outcome(values)
            python, shell = explorer.code(outcome, image_path)
            data = outcome.resolution.to_dict() if outcome.resolution else {}
            picture = explorer.chart(outcome.model, outcome.scale)
            return (
                resolution_markdown(outcome),
                alternative_rows(outcome) or None,
                data,
                python,
                shell,
                gr.Button(interactive=outcome.runnable),
                picture,
                chart_note_text(picture, outcome),
            )

        views = [answer, alternatives, raw, py_code, cli_code, run, chart, chart_note]
        gr.on(
            triggers=[demo.load, image.change, *(c.change for c in controls)],
            fn=refresh,
            inputs=[image, *controls],
            outputs=views,
            show_progress="hidden",
            queue=False,
        )

        def pin(evt: gr.SelectData, *values: Any) -> tuple[Any, ...]:
            row = evt.row_value or []
            if not row:
                return tuple(gr.skip() for _ in _PINNED)
            pinned = pin_alternative(explorer.outcome(values), str(row[0]))
            return tuple(pinned[name] for name in _PINNED)

        alternatives.select(pin, inputs=controls, outputs=controls[: len(_PINNED)], queue=False)

        def upscale(
            image_path: str | None,
            *values: Any,
            progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
        ) -> tuple[Any, ...]:
            if not image_path:
                raise gr.Error("Upload an image or pick the bundled sample first.")
            outcome = explorer.outcome(values)
            if not outcome.runnable:
                raise gr.Error(resolution_markdown(outcome).split("\n\n", 1)[-1])
            try:
                before_img, after_img, took, about = explorer.run(
                    image_path, outcome.choice, progress
                )
            except UpscalerError as exc:
                raise gr.Error(error_line(exc)) from exc
            pictures = [(before_img, after_img)] if has_slider else [before_img, after_img]
            return (*pictures, took, about)

        run.click(
            upscale,
            inputs=[image, *controls],
            outputs=[*result_outputs, timing, facts],
            show_progress_on=result_outputs,
        )

        def side_by_side(
            image_path: str | None,
            model_ids: list[str] | None,
            progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
        ) -> tuple[Any, str]:
            if not image_path:
                raise gr.Error("Upload an image or pick the bundled sample first.")
            try:
                return explorer.compare(image_path, model_ids or [], progress)
            except UpscalerError as exc:
                raise gr.Error(error_line(exc)) from exc

        compare.click(
            side_by_side,
            inputs=[image, compared],
            outputs=[compare_gallery, compare_timing],
            show_progress_on=[compare_gallery],
        )
    return demo


def error_line(exc: UpscalerError) -> str:
    """What the page says when a run fails: the error's kind, message and hint."""
    hint = f" (hint: {exc.hint})" if exc.hint else ""
    return f"{type(exc).__name__}: {exc.message}{hint}"


def chart_note_text(picture: "Image.Image | None", outcome: Outcome) -> str:
    """Under the chart: why there is none, or which model the ring marks."""
    if picture is None:
        from importlib.util import find_spec

        return NO_CHART if find_spec("matplotlib") is None else "No model has this scale."
    if outcome.model is None:
        return "No model is chosen, so none is ringed."
    return (
        f"Ringed: `{outcome.model.id}`. Models not measured yet are counted, not drawn; "
        "perceptual models are hollow diamonds."
    )


def launch(
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    open_browser: bool = True,
    catalog: Catalog | None = None,
    announce: Callable[[str], object] | None = None,
) -> None:
    """Serve the explorer until interrupted (``upscaler explore``).

    Gradio runs quiet: its lines are written for notebooks and hosted demos ("set
    share=True to create a public link") and are noise for a local tool that never
    shares. ``announce(url)`` is called once the server answers, so the caller (the CLI,
    the only place that prints) says where it is.
    """
    from upscaler.explore.uploads import pillow_limit_lifted, server_options

    demo = build_app(catalog)
    demo.queue(default_concurrency_limit=1)
    with pillow_limit_lifted():
        demo.launch(
            server_name=host,
            server_port=port,
            inbrowser=open_browser,
            share=False,
            show_error=True,
            ssr_mode=False,
            mcp_server=False,
            pwa=False,
            quiet=True,
            prevent_thread_lock=True,
            css=EXPLORER_CSS,
            **server_options(),
        )
        if announce is not None:
            announce(str(demo.local_url or f"http://{host}:{port}/"))
        demo.block_thread()

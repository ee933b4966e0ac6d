"""The live model explorer: a local Gradio app (``upscaler explore``).

Pick an image (or the bundled sample) and the attributes you want; the page shows the
resolver's answer as you change them, the exact ``Upscaler(...)`` code and
``upscaler upscale`` command for that choice, and runs it with a before/after slider, the
time taken and the model's measured metrics.

Gradio is an optional dependency (``pip install 'upscaler[explore]'``) imported only
here. The app binds to 127.0.0.1 unless told otherwise, makes no share link, and turns
Gradio's analytics off before Gradio is imported.
"""

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path, PurePath
from types import ModuleType
from typing import TYPE_CHECKING, Any

from upscaler.catalog.loader import Catalog, default_catalog
from upscaler.catalog.schema import QUERY_ATTRIBUTES
from upscaler.errors import DependencyError, UpscalerError
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
    Outcome,
    alternative_rows,
    control_options,
    evaluate,
    model_facts_markdown,
    pin_alternative,
    resolution_markdown,
)

if TYPE_CHECKING:
    import gradio
    from PIL import Image

    from upscaler.upscaler import Upscaler

INSTALL = "pip install 'upscaler[explore]'"
DEFAULT_HOST = "127.0.0.1"
# Order of the controls as handlers receive their values (after the image).
CONTROL_NAMES = ("model", *QUERY_ATTRIBUTES, "prefer", "strict")
# The attribute dropdowns, row by row, with each row's minimum control width.
_ATTRIBUTE_ROWS: tuple[tuple[tuple[str, ...], int], ...] = (
    (("dataset", "scale", "channels"), 110),
    (("architecture", "implementation"), 140),
    (("pruning", "quantization"), 140),
)
# Environment that keeps Gradio (and the hub client it imports) from phoning home.
NO_TELEMETRY = {"GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_DISABLE_TELEMETRY": "1"}
_LOADED_UPSCALERS = 3


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


def _displayable(image: "Image.Image") -> "Image.Image":
    """RGB or RGBA for the browser (16-bit, palette and CMYK images are converted)."""
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = "A" in image.getbands() or "transparency" in image.info
    if image.mode.startswith("I;16") or image.mode == "I":
        import numpy as np
        from PIL import Image

        scaled = (np.asarray(image, dtype=np.float64) / 257.0).round().clip(0, 255)
        image = Image.fromarray(scaled.astype(np.uint8), "L")
    return image.convert("RGBA" if has_alpha else "RGB")


class Explorer:
    """The explorer's logic, independent of the widgets: choice → views, choice → run."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or default_catalog()
        self._lock = threading.Lock()
        self._upscalers: OrderedDict[tuple[tuple[str, Any], ...], Upscaler] = OrderedDict()

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

    def run(
        self, image_path: str, choice: Choice, progress: Any = None
    ) -> tuple["Image.Image", "Image.Image", str, str]:
        """Upscale one image: (before enlarged to the output size, after, timing, facts)."""
        from PIL import Image, ImageOps

        def step(fraction: float, text: str) -> None:
            if progress is not None:
                progress(fraction, desc=text)

        up = self.upscaler(choice)
        step(0.05, f"fetching, converting and loading {up.model.id}")
        started = time.perf_counter()
        up.load(progress=True)
        load_s = time.perf_counter() - started
        with Image.open(image_path) as opened:
            source = ImageOps.exif_transpose(opened)
            source.load()
        step(0.5, f"upscaling {source.width}×{source.height} with {up.model.id}")
        started = time.perf_counter()
        result: Image.Image = up.upscale(source, progress=True)
        run_s = time.perf_counter() - started
        step(1.0, "done")
        after = _displayable(result)
        before = _displayable(source).resize(after.size, Image.Resampling.NEAREST)
        timing = (
            f"**{up.model.id}** upscaled {source.width}×{source.height} → "
            f"{result.width}×{result.height} in **{run_s:.2f} s**"
        )
        if load_s >= 0.05:
            timing += f" (loading the model took {load_s:.2f} s, once)"
        return before, after, timing + ".", model_facts_markdown(up.model)


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
                with gr.Accordion("Resolver answer (Resolution.to_dict())", open=False):
                    raw = gr.JSON(elem_id="resolution-json")

        controls = [model, *(attrs[n] for n in CONTROL_NAMES[1:8]), prefer, strict]

        def refresh(image_path: str | None, *values: Any) -> tuple[Any, ...]:
            outcome = explorer.outcome(values)
            python, shell = explorer.code(outcome, image_path)
            data = outcome.resolution.to_dict() if outcome.resolution else {}
            return (
                resolution_markdown(outcome),
                alternative_rows(outcome) or None,
                data,
                python,
                shell,
                gr.Button(interactive=outcome.runnable),
            )

        views = [answer, alternatives, raw, py_code, cli_code, run]
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
                return tuple(gr.skip() for _ in CONTROL_NAMES[:8])
            pinned = pin_alternative(explorer.outcome(values), str(row[0]))
            return tuple(pinned[name] for name in CONTROL_NAMES[:8])

        alternatives.select(pin, inputs=controls, outputs=controls[:8], queue=False)

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
                hint = f" (hint: {exc.hint})" if exc.hint else ""
                raise gr.Error(f"{type(exc).__name__}: {exc.message}{hint}") from exc
            pictures = [(before_img, after_img)] if has_slider else [before_img, after_img]
            return (*pictures, took, about)

        run.click(
            upscale,
            inputs=[image, *controls],
            outputs=[*result_outputs, timing, facts],
            show_progress_on=result_outputs,
        )
    return demo


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
    demo = build_app(catalog)
    demo.queue(default_concurrency_limit=1)
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
    )
    if announce is not None:
        announce(str(demo.local_url or f"http://{host}:{port}/"))
    demo.block_thread()

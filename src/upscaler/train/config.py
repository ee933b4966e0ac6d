"""A training run's configuration: what it trains, on what, and how.

The configuration is written into the run folder when the run starts (``run.json``) and
compared on every resume: a run folder holds exactly one training, so continuing it with
another learning rate, seed or data folder would make its checkpoints a mixture that no
catalog entry could describe. Only the fields that do not change the weights
(:data:`OPERATIONAL`: how often to validate and checkpoint, how many checkpoints to keep,
the threads) may differ between the first start and a resume, and so may the folders'
paths: folders are identified by their names and manifest hashes, which must not change,
so a dataset moved to another place (or machine) still resumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from upscaler.errors import TrainingError
from upscaler.train_flags import FLAGS

OPERATIONAL = frozenset({"val_every", "checkpoint_every", "keep", "threads", "data", "val"})
"""Fields a resumed run may change: none of them changes a single weight (the folders'
contents are checked by name and manifest hash instead of by path)."""


class TrainConfig(BaseModel):
    """Everything that decides a run's weights, plus how it reports and checkpoints.

    ``patch`` is the LR patch side (the HR patch is ``patch * scale``); ``params`` are the
    architecture's size parameters (the catalog's ``params``), defaults filled in when the
    run starts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    data: list[str] = Field(min_length=1, description="folders of HR images")
    val: str | None = Field(default=None, description="held-out folder for validation")
    val_holdout: int = Field(default=0, ge=0, description="training images held out instead")
    scale: Literal[2, 3, 4, 8] = 2
    channels: Literal[1, 3, 4] = 3
    architecture: str = "srvgg"
    params: dict[str, int] = {}
    patch: int = Field(default=48, ge=4, le=512)
    batch: int = Field(default=16, ge=1, le=1024)
    steps: int = Field(default=60_000, ge=1)
    # nan passes no comparison and would be refused as "greater than 1"; say what it is
    lr: float = Field(default=5e-4, gt=0, le=1, allow_inf_nan=False)
    lr_min: float = Field(default=1e-6, ge=0, le=1, allow_inf_nan=False)
    warmup: int = Field(default=0, ge=0)
    loss: Literal["l1", "l1-alpha-edges"] = "l1"
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    degradation: str = "none"
    teacher: str | None = Field(default=None, description="catalog model whose outputs are targets")
    init: str | None = Field(
        default=None, description="run folder whose last weights start this run (warm start)"
    )
    xla: bool = Field(default=True, description="compile the training step with XLA")
    val_every: int = Field(default=1000, ge=1)
    checkpoint_every: int = Field(default=500, ge=1)
    keep: int = Field(default=3, ge=1)
    threads: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _alpha_loss_needs_alpha(self) -> TrainConfig:
        if self.loss == "l1-alpha-edges" and self.channels != 4:
            raise ValueError(
                f"loss l1-alpha-edges weights alpha edges, and a {self.channels}-channel "
                "model has no alpha; use it with --channels 4, or --loss l1"
            )
        return self

    @property
    def hr_patch(self) -> int:
        return self.patch * self.scale

    def optimizer_text(self) -> str:
        """The optimiser as the catalog's training record states it."""
        warm = f", {self.warmup} warm-up steps" if self.warmup else ""
        return f"adam lr {self.lr:g} cosine to {self.lr_min:g}{warm}"


def make_config(**fields: Any) -> TrainConfig:
    """A validated configuration; a bad value is a TrainingError naming field and rule."""
    try:
        return TrainConfig(**fields)
    except ValidationError as exc:
        raise training_error(exc, "training option") from None


def training_error(exc: ValidationError, what: str) -> TrainingError:
    """Pydantic's first complaint as one line, with how many more there are."""
    errors = exc.errors()
    first = errors[0]
    where = ".".join(str(p) for p in first["loc"])
    subject = f"{what} {where}" if where else f"{what}s"  # no field: options that conflict
    message = str(first["msg"]).removeprefix("Value error, ")
    bad = first.get("input")
    given = f" (got {bad!r})" if where and not isinstance(bad, dict | list) else ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return TrainingError(
        f"{subject}: {message}{given}{more}",
        hint="`upscaler train --help` lists every option and its range",
    )


def recorded_config(record: dict[str, Any], path: Path) -> TrainConfig:
    """The configuration a run record holds; one that does not validate is a TrainingError
    naming the file.

    ``run.json`` is read back from folders that may come from anywhere (``--init-from``,
    a copied run, an older or newer version), so a key this version does not know or a
    value out of range is bad input in a named file, not a bug to show as a traceback.
    """
    try:
        return TrainConfig.model_validate(record.get("config"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        problem = str(first["msg"]).removeprefix("Value error, ")
        raise TrainingError(
            f"{path} holds a configuration this version cannot read "
            f"(config{'.' + where if where else ''}: {problem})",
            hint="use a run folder that `upscaler train` of this version wrote, or a new one",
        ) from None


def differences(old: TrainConfig, new: TrainConfig) -> list[str]:
    """The fields (outside :data:`OPERATIONAL`) in which two configurations differ."""
    a, b = old.model_dump(), new.model_dump()
    return [
        f"{key}: {a[key]!r} -> {b[key]!r}"
        for key in a
        if key not in OPERATIONAL and a[key] != b[key]
    ]


def command_line(config: TrainConfig) -> str:
    """The ``upscaler train`` command that makes this run, folders by name only.

    It lives beside the configuration it spells because two records write it: an
    export's training record and a warm start's record of its source. The export reads
    the warm start, so keeping it in the export made the two modules import each other.
    """
    defaults = TrainConfig(data=["x"])
    parts = ["upscaler", "train", *(Path(d).name for d in config.data)]
    if config.val:
        parts += ["--val", Path(config.val).name]
    for field, flag in FLAGS.items():
        if field in OPERATIONAL:
            continue
        value = getattr(config, field)
        if field == "init" and value is not None:
            value = Path(value).name  # a folder, by name like the data folders
        if value != getattr(defaults, field):
            parts += [flag, f"{value:g}" if isinstance(value, float) else str(value)]
    for name, value in sorted(config.params.items()):
        parts += ["--param", f"{name}={value}"]
    if not config.xla:
        parts.append("--no-xla")
    return " ".join(parts)

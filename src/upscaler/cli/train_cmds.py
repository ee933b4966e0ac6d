"""`upscaler train` and `upscaler catalog add`: train a model, then make it a catalog entry.

Every option defaults to "not given" here so that a resume can tell what the user typed:
``upscaler train --run RUN`` alone continues a run with the configuration it was started
with, and any option given must agree with it (or be one that does not change weights).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from upscaler.train_flags import FLAGS

_OPTIONS: dict[str, tuple[type, str]] = {
    "val_holdout": (int, "hold out N training images for validation"),
    "scale": (int, "2, 3, 4 or 8 (default 2)"),
    "channels": (int, "1 (gray), 3 (RGB, default) or 4 (RGBA)"),
    "architecture": (str, "a trainable architecture (default srvgg)"),
    "patch": (int, "LR patch side in pixels (default 48; HR is patch x scale)"),
    "batch": (int, "patches per step (default 16)"),
    "steps": (int, "optimisation steps (default 60000)"),
    "lr": (float, "peak learning rate (default 5e-4)"),
    "lr_min": (float, "learning rate at the last step (default 1e-6)"),
    "warmup": (int, "linear warm-up steps (default 0)"),
    "loss": (
        str,
        "l1 (default), or l1-alpha-edges for RGBA: alpha pixels on matte edges count 20 times",
    ),
    "seed": (int, "seed of the weights and of every batch (default 0)"),
    "degradation": (str, "LR degradation (default none: clean bicubic)"),
    "teacher": (str, "catalog model whose outputs are the targets (distillation)"),
    "init": (
        str,
        "start from trained weights: a run folder, a SavedModel it exported, or a catalog "
        "model we trained, by id (same network; one with more features is pruned by L1 "
        "norm, one with fewer is widened to the same function)",
    ),
    "val_every": (int, "validate every N steps (default 1000)"),
    "checkpoint_every": (int, "checkpoint every N steps (default 500)"),
    "keep": (int, "checkpoints kept (default 3)"),
    "threads": (int, "TensorFlow CPU threads (default: every core)"),
}


def register(sub: Any, catalog_sub: Any) -> None:
    """Add `upscaler train`, and `add` under `upscaler catalog`."""
    tr = sub.add_parser(
        "train",
        help="train a model on folders of HR images (resumes when rerun)",
        description="Train a super-resolution model on folders of high-resolution images "
        "(LR made with the evaluation's MATLAB bicubic). Checkpoints go into --run; the "
        "same command again resumes at the last checkpoint with identical results. When "
        "the last step is done the model is exported to RUN/savedmodel "
        "(docs/training.md).",
    )
    tr.add_argument("data", nargs="*", type=Path, metavar="DIR", help="folders of HR images")
    tr.add_argument("--run", type=Path, required=True, help="run folder (checkpoints, log)")
    tr.add_argument("--val", type=Path, help="held-out folder of HR images for validation")
    for field, (kind, text) in _OPTIONS.items():
        tr.add_argument(FLAGS[field], dest=field, type=kind, help=text)
    tr.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="NAME=N",
        help="an architecture size parameter, e.g. features=32 (repeatable)",
    )
    tr.add_argument("--no-xla", action="store_true", help="do not compile the step with XLA")
    tr.add_argument("--stop-at", type=int, help="stop (checkpointed) after this step")
    tr.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    tr.set_defaults(handler=cmd_train)

    add = catalog_sub.add_parser(
        "add",
        help="add a finished training run to the catalog (weights shipped in the package)",
    )
    add.add_argument("run", type=Path, help="the run folder of `upscaler train`")
    add.add_argument("--family", required=True, help="family id (the YAML file's stem)")
    add.add_argument("--variant", required=True, help="variant id, e.g. x2")
    add.add_argument("--dataset", required=True, help="vocabulary id of the training data")
    add.add_argument("--catalog", type=Path, help="catalog folder (default: the shipped one)")
    add.add_argument("--title", help="family title (new families)")
    add.add_argument("--license", default="MIT", help="licence of the weights (default MIT)")
    add.add_argument("--description", help="family description (new families)")
    add.add_argument("--replace", action="store_true", help="overwrite an existing variant")
    add.add_argument(
        "--derived-from",
        metavar="MODEL_ID",
        help="the catalog model this run was made from (for a pruned run: its source's model)",
    )
    add.add_argument(
        "--eval-data",
        action="append",
        type=Path,
        default=[],
        metavar="DIR",
        help="then measure it like `upscaler eval --write` on this set (repeatable)",
    )
    add.add_argument(
        "--speed",
        action="store_true",
        help="then measure its speed with benchmarks/run.py --write-speed (source checkout)",
    )
    add.set_defaults(handler=cmd_add)


def _config(args: argparse.Namespace) -> Any:
    from upscaler.errors import TrainingError
    from upscaler.train.checkpoint import read_run_record
    from upscaler.train.config import make_config

    given: dict[str, Any] = {f: getattr(args, f) for f in _OPTIONS if getattr(args, f) is not None}
    if args.val is not None:
        given["val"] = str(args.val)
    if args.no_xla:
        given["xla"] = False
    if args.param:
        params: dict[str, int] = {}
        for item in args.param:
            name, sep, value = str(item).partition("=")
            if not sep or not value.strip().lstrip("-").isdigit():
                raise TrainingError(
                    f"--param {item!r} is not NAME=INTEGER", hint="e.g. --param features=32"
                )
            params[name.strip()] = int(value)
        given["params"] = params
    if args.data:
        given["data"] = [str(p) for p in args.data]
        return make_config(**given)
    record = read_run_record(args.run)
    if record is None:
        raise TrainingError(
            "no data folders given, and the run folder holds no run to resume",
            hint="upscaler train DIR [DIR ...] --run RUN",
        )
    return make_config(**{**record["config"], **given})


def cmd_train(args: argparse.Namespace) -> int:
    """Train or resume; print where the run stands."""
    from upscaler.train.loop import train

    config = _config(args)
    result = train(
        config, args.run, progress=not (args.no_progress or args.quiet), stop_at=args.stop_at
    )
    psnr = f", validation PSNR {result.val_psnr:.2f} dB" if result.val_psnr is not None else ""
    rate = f", {result.steps_per_hour:,.0f} steps/hour" if result.steps_per_hour else ""
    print(f"{result.run}: step {result.step}/{result.steps}{psnr}{rate}")
    if result.savedmodel is not None:
        print(f"model: {result.savedmodel}")
        print(
            f"next: upscaler catalog add {result.run} --family NAME --variant x{config.scale} "
            "--dataset ID"
        )
        return 0
    if args.stop_at is None or result.step < min(args.stop_at, result.steps):
        print("stopped; run the same command again to resume")
        return 130
    return 0


def cmd_add(args: argparse.Namespace) -> int:
    """Copy the run's model into the catalog, then measure it if asked."""
    from upscaler.train.catalog_entry import add_to_catalog
    from upscaler.train.measure import benchmark_speed, measure_metrics

    added = add_to_catalog(
        args.run,
        family=args.family,
        variant=args.variant,
        dataset=args.dataset,
        catalog_root=args.catalog,
        title=args.title,
        license=args.license,
        description=args.description,
        replace=args.replace,
        derived_from=args.derived_from,
    )
    print(f"added {added.model_id} to {added.family_file}")
    for item in added.files:
        print(f"  {added.weights_folder.name}/{item['path']}  {item['size']:,} bytes")
    root = added.family_file.parents[1]
    if args.eval_data:
        result = measure_metrics(added.model_id, root, args.eval_data, progress=not args.quiet)
        for key, value in result.items():
            print(f"  {key}: PSNR-Y {value[0]:.2f} dB, SSIM-Y {value[1]:.4f}")
    if args.speed:
        speed = benchmark_speed(added.model_id, root)
        print(f"  speed: {speed:,.1f} ms per output megapixel")
    print(f"check: upscaler catalog validate {added.family_file}")
    return 0

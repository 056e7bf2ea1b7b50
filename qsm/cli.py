"""Command line: ``python -m qsm --mag ... --phase ... --out chi.nii.gz``.

Bad input stops with a one-line message naming the file and the fix, exit
status 2, and no output written.  The output path is checked first, so a
missing folder is reported before minutes of computing, not after.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import inversion as inv
from .background import DEFAULT as DEFAULT_BACKGROUND, METHODS as BACKGROUNDS
from .inputs import check_output_path
from .io import load_inputs, load_mask, save_outputs
from .pipeline import reconstruct
from .unwrap import METHODS as UNWRAPS

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m qsm",
        description="Quantitative susceptibility map (ppm) from multi-echo GRE magnitude and phase.",
    )
    parser.add_argument("--mag", nargs="+", required=True, help="magnitude: one 4D NIfTI or one 3D file per echo")
    parser.add_argument("--phase", nargs="+", required=True, help="phase (radians or the scanner scale -4096..4095 / 0..4095), same layout")
    parser.add_argument("--te-ms", type=_echo_times, help="echo times in ms, comma-separated (default: JSON sidecars)")
    parser.add_argument("--b0-tesla", type=float, help="field strength in T (default: JSON sidecars)")
    parser.add_argument("--mask", help="brain mask NIfTI on the same grid (default: from magnitude and phase)")
    parser.add_argument("--inversion", choices=sorted(inv.INVERSIONS), default=inv.DEFAULT)
    parser.add_argument("--background", choices=BACKGROUNDS, default=DEFAULT_BACKGROUND)
    parser.add_argument("--unwrap", choices=UNWRAPS, default="path")
    parser.add_argument("--reference-mask", help="reference region NIfTI (default: whole-brain mean)")
    parser.add_argument("--out", required=True, help="output chi NIfTI (.nii or .nii.gz); provenance JSON beside it")
    parser.add_argument("--save-intermediates", metavar="DIR", help="also write mask, total and local field here")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_output_path(args.out)
        inputs = load_inputs(args.mag, args.phase, args.te_ms, args.b0_tesla, args.mask)
        reference_mask = None
        if args.reference_mask:
            reference_mask = load_mask(args.reference_mask, inputs.magnitude.shape, inputs.affine, args.mag[0])
        result = reconstruct(
            inputs.magnitude,
            inputs.phase,
            inputs.te_s,
            inputs.b0_tesla,
            inputs.affine,
            mask=inputs.mask,
            inversion=args.inversion,
            background=args.background,
            reference="mask" if reference_mask is not None else "brain",
            reference_mask=reference_mask,
            progress=None if args.quiet else _report,
            unwrap=args.unwrap,
        )
        written = save_outputs(result, inputs, args.out, args.save_intermediates)
    except ValueError as error:  # InputError included
        print(f"qsm: error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.quiet:
        seconds = ", ".join(f"{stage} {t:.1f}s" for stage, t in result.timings.items())
        print(f"wrote {written['chi']} ({seconds})", file=sys.stderr)
    return 0


def _echo_times(text: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of ms, e.g. 4,10,16") from None
    if not values:
        raise argparse.ArgumentTypeError("no echo times given")
    return values


def _report(stage: str, fraction: float) -> None:
    print(f"[{fraction:4.0%}] {stage}", file=sys.stderr)

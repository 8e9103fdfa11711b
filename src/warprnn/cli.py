"""The ``warprnn`` command line."""

from __future__ import annotations

import argparse
import sys

import yaml

from . import __version__
from .config import WarpConfig


def parse_overrides(pairs: list[str]) -> dict:
    """Parses ``key=value`` words; values are read as YAML scalars (``3``, ``true``, ``tanh``)."""
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"override {pair!r}: expected key=value")
        values[key] = yaml.safe_load(value)
    return values


def describe(args) -> None:
    """Prints the size of the model that the options describe."""
    from .model import WARP

    model = WARP(WarpConfig.from_dict(parse_overrides(args.options)))
    print(f"D_theta (state size): {model.d_theta}")
    print(f"trainable parameters: {sum(p.numel() for p in model.parameters())}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="warprnn",
        description="WARP: weight-space linear recurrent networks (Nzoyem et al., ICLR 2026).")
    parser.add_argument("--version", action="version", version=f"warprnn {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("describe", help="print the state size and parameter count of a model",
                            description="Model options as key=value, e.g. in_channels=2 root_width=48 root_depth=3.")
    p.add_argument("options", nargs="*", help="WarpConfig fields as key=value")
    p.set_defaults(run=describe)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"warprnn: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `natsync` command line (also `python -m natsync`); see docs/cli.md."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]

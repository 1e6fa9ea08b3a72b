"""The command reference of docs/cli.md, rendered from the parsers that print `--help`."""

# `python -m natsync.cli.docgen` prints the reference; `--write docs/cli.md` replaces the
# part of the file between the BEGIN/END markers; `--check docs/cli.md` exits 1 if that
# part is out of date. The layout is done here rather than by argparse's formatter, so
# the text is the same on every Python version.

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

from .connection import add_common_flags
from .main import build_parser, walk

BEGIN = "<!-- BEGIN GENERATED REFERENCE: python -m natsync.cli.docgen --write docs/cli.md -->"
END = "<!-- END GENERATED REFERENCE -->"
WIDTH = 96
COLUMN = 26


def _common_dests() -> set[str]:
    common = argparse.ArgumentParser(add_help=False)
    add_common_flags(common, top_level=False)
    return {a.dest for a in common._actions}


def invocation(action: argparse.Action) -> str:
    """`-c, --count N`: the option strings, then the value's name once."""
    if not action.option_strings:
        return action.metavar if isinstance(action.metavar, str) else action.dest.upper()
    text = ", ".join(action.option_strings)
    if action.nargs != 0:
        metavar = action.metavar if isinstance(action.metavar, str) else action.dest.upper()
        text += f" {metavar}"
    return text


def _rows(actions: Iterable[argparse.Action]) -> List[str]:
    lines: List[str] = []
    for action in actions:
        head = "  " + invocation(action)
        help_text = (action.help or "") if action.help != argparse.SUPPRESS else ""
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                lines.extend(_row(f"  {choice.dest}", choice.help or ""))
            continue
        lines.extend(_row(head, help_text))
    return lines


def _row(head: str, help_text: str) -> List[str]:
    wrapped = textwrap.wrap(help_text, WIDTH - COLUMN) or [""]
    if len(head) < COLUMN - 1:
        first = [f"{head:<{COLUMN}}{wrapped[0]}".rstrip()]
    else:
        first = [head, f"{'':<{COLUMN}}{wrapped[0]}".rstrip()] if wrapped[0] else [head]
    return first + [f"{'':<{COLUMN}}{w}" for w in wrapped[1:]]


def section(prog: str, parser: argparse.ArgumentParser, skip: set[str]) -> str:
    """The reference of one command: heading, description, usage, arguments, epilog."""
    positionals = [a for a in parser._actions if not a.option_strings]
    options = [a for a in parser._actions if a.option_strings and a.dest not in skip
               and a.dest != "help"]
    out = [f"### `{prog}`", ""]
    if parser.description:
        out += [parser.description, ""]
    out += ["```text", parser.format_usage().strip()]
    if positionals:
        out += ["", "arguments:"] + _rows(positionals)
    if options:
        out += ["", "options:"] + _rows(options)
    out += ["```", ""]
    if parser.epilog:
        out += ["```text", parser.epilog.strip(), "```", ""]
    return "\n".join(out)


def reference(parser: Optional[argparse.ArgumentParser] = None) -> str:
    """The whole generated reference (Markdown)."""
    parser = parser or build_parser()
    common = _common_dests()
    out = ["## Connection and output options", "",
           "Every command accepts these, before or after its name "
           "(`natsync -s URL stream ls` = `natsync stream ls -s URL`).", "", "```text"]
    for group in parser._action_groups:
        if group.title in ("connection options", "output options"):
            out += _rows(group._group_actions)
    out += ["```", "", "## Commands", ""]
    for prog, cmd in walk(parser):
        if cmd is parser:
            continue
        out.append(section(prog, cmd, common))
    return "\n".join(out).rstrip() + "\n"


def splice(text: str, generated: str) -> str:
    """`text` with the part between the markers replaced by `generated`."""
    try:
        start = text.index(BEGIN) + len(BEGIN)
        end = text.index(END, start)
    except ValueError:
        raise SystemExit(f"the markers {BEGIN!r} and {END!r} are missing") from None
    return text[:start] + "\n\n" + generated + "\n" + text[end:]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print, write or check the reference."""
    ap = argparse.ArgumentParser(prog="python -m natsync.cli.docgen",
                                 description="Generate the natsync command reference.")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", metavar="FILE", help="update the reference in FILE")
    mode.add_argument("--check", metavar="FILE", help="exit 1 if FILE's reference is stale")
    args = ap.parse_args(argv)
    generated = reference()
    if args.write or args.check:
        path = Path(args.write or args.check)
        text = path.read_text(encoding="utf-8")
        new = splice(text, generated)
        if args.check:
            if new != text:
                sys.stderr.write(f"{path} is out of date: run python -m natsync.cli.docgen "
                                 f"--write {path}\n")
                return 1
            return 0
        path.write_text(new, encoding="utf-8")
        return 0
    sys.stdout.write(generated)
    return 0


if __name__ == "__main__":
    sys.exit(main())

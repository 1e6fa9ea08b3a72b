"""`natsync obj ls|info|add|edit|put|get|rm`: Object Store buckets and files."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

from .common import (
    CliError,
    UsageError,
    choice,
    confirm,
    given,
    header,
    headers_of,
    positive_duration,
    positive_int,
    size,
)
from .output import Output, human, when
from .output import duration as show_duration
from .output import size as show_size
from .progress import ProgressBar
from .stream import STORAGE
from .tree import command, group

if TYPE_CHECKING:
    from ..obs import ObjectInfo, ObjectStore, ObjectStoreStatus
    from .connection import Session
    from .tree import Subparsers

PUT_EPILOG = """\
The file is streamed in chunks, so memory stays small whatever its size. A progress
bar is drawn on stderr when it is a terminal (--progress / --no-progress decide).

examples:
  natsync obj put uploads ./report.pdf
  natsync obj put uploads ./build.tar.gz --name releases/1.2.tar.gz
  pg_dump mydb | natsync obj put backups - --name mydb.sql"""

GET_EPILOG = """\
By default the object is written to a file named like it (its last path component) in
the current directory; -O names another file, -O - writes to stdout. The file is
written under a temporary name and renamed once its size and SHA-256 digest check out.

examples:
  natsync obj get uploads report.pdf
  natsync obj get backups mydb.sql -O - | psql mydb"""


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `obj` and its sub-commands."""

    p = command(sub, "obj", common, "use Object Store buckets", aliases=["object"],
                description="Store and fetch files of any size in Object Store buckets.")
    cmds = group(p, "obj_command")

    c = command(cmds, "ls", common, "list the buckets, or the objects in a bucket", run_ls,
                aliases=["list"])
    c.add_argument("bucket", metavar="BUCKET", nargs="?", help="list this bucket's objects")
    c.add_argument("-n", "--names", action="store_true", help="print only the names")

    c = command(cmds, "info", common, "show a bucket's status, or an object's info", run_info,
                aliases=["status"])
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("name", metavar="NAME", nargs="?", help="the object (default: the bucket)")

    c = command(cmds, "add", common, "create a bucket", run_add, aliases=["create"])
    _setting_flags(c, edit=False)

    c = command(cmds, "edit", common, "change a bucket's settings (those given)", run_edit,
                aliases=["update"])
    _setting_flags(c, edit=True)

    c = command(cmds, "put", common, "store a file", run_put, epilog=PUT_EPILOG)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("file", metavar="FILE", help="the file to store, - for stdin")
    c.add_argument("--name", metavar="NAME", help="the object's name (default: FILE's name)")
    c.add_argument("--description", metavar="TEXT", help="a description")
    c.add_argument("-H", "--header", type=header, action="append", metavar="NAME:VALUE",
                   help="store a header with the object (repeatable)")
    c.add_argument("--chunk-size", type=size, metavar="SIZE",
                   help="bytes per chunk (default 128K)")
    _progress_flags(c)

    c = command(cmds, "get", common, "fetch an object into a file", run_get, epilog=GET_EPILOG)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("name", metavar="NAME", help="the object's name")
    c.add_argument("-O", "--output", metavar="FILE",
                   help="where to write it (default: NAME's last part, here); - for stdout")
    c.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    _progress_flags(c)

    c = command(cmds, "rm", common, "delete an object, or a whole bucket", run_rm,
                aliases=["delete"])
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("name", metavar="NAME", nargs="?",
                   help="the object (default: delete the bucket)")
    c.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")


#: The bucket settings `add` and `edit` take, by their ObjectStoreConfig names.
SETTINGS = ("ttl", "max_bytes", "replicas", "description")


def _setting_flags(c: argparse.ArgumentParser, edit: bool) -> None:
    """The settings a bucket is created with; `edit` changes those given (not its storage)."""
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("--ttl", type=positive_duration, metavar="DURATION",
                   help="how long objects are kept" + ("" if edit else " (default: forever)"))
    c.add_argument("--max-bytes", type=size, metavar="SIZE", help="size limit of the bucket")
    if not edit:
        c.add_argument("--storage", type=choice(STORAGE), metavar="TYPE",
                       help="file (default) or memory")
    c.add_argument("--replicas", type=positive_int, metavar="N",
                   help="copies in a cluster" + ("" if edit else " (default 1)"))
    c.add_argument("--description", metavar="TEXT", help="a description")


def _progress_flags(parser: argparse.ArgumentParser) -> None:
    bar = parser.add_mutually_exclusive_group()
    bar.add_argument("--progress", dest="progress", action="store_true", default=None,
                     help="always draw the progress bar")
    bar.add_argument("--no-progress", dest="progress", action="store_false",
                     help="never draw it")


def _bar(session: Session, label: str) -> Optional[ProgressBar]:
    wanted = session.args.progress
    if wanted is None:
        wanted = sys.stderr.isatty() and not session.out.json_mode
    return ProgressBar(label) if wanted else None


def store(session: Session, bucket: str) -> ObjectStore:
    """The bucket named on the command line."""
    return session.js().object_store(bucket)


# --- buckets and listings ----------------------------------------------------------------------------


def _status_json(s: ObjectStoreStatus) -> dict[str, Any]:
    return {"bucket": s.bucket, "description": s.description, "ttl": s.ttl,
            "storage": human(s.storage) or None, "replicas": s.replicas, "sealed": s.sealed,
            "size": s.size, "compressed": s.is_compressed, "metadata": s.metadata,
            "stream": s.stream_info.config.name}


def info_json(info: ObjectInfo) -> dict[str, Any]:
    """An object's info as JSON (its ADR-20 meta, with the real mtime)."""
    doc = info.as_dict()
    doc["mtime"] = info.mtime
    return doc


def run_ls(session: Session) -> int:
    """List buckets, or the objects of one."""
    args = session.args
    out = session.out
    js = session.js()
    if args.bucket is None:
        if args.names:
            return _names(out, js.object_store_names())
        statuses = js.object_stores()
        if out.json_mode:
            out.json([_status_json(s) for s in statuses])
        elif not statuses:
            out.line("No Object Store buckets defined")
        else:
            out.table(["Bucket", "Description", "Size", "TTL", "Sealed"],
                      [[s.bucket, s.description or "", show_size(s.size), show_duration(s.ttl),
                        s.sealed] for s in statuses])
        return 0
    infos = sorted(store(session, args.bucket).list(), key=lambda i: i.name)
    if args.names:
        return _names(out, [i.name for i in infos])
    if out.json_mode:
        out.json([info_json(i) for i in infos])
    elif not infos:
        out.line(f"No objects in bucket {args.bucket}")
    else:
        out.table(["Name", "Size", "Modified", "Link"],
                  [[i.name, show_size(i.size), when(i.mtime), _link(i)] for i in infos])
    return 0


def _names(out: Output, names: list[str]) -> int:
    out.names(names)
    return 0


def _link(info: ObjectInfo) -> str:
    link = info.link
    if link is None:
        return ""
    return f"-> bucket {link.bucket}" if link.is_bucket_link else f"-> {link.bucket}/{link.name}"


def run_info(session: Session) -> int:
    """Show a bucket's status or one object's info."""
    args = session.args
    out = session.out
    obs = store(session, args.bucket)
    if args.name is None:
        s = obs.status()
        if out.json_mode:
            out.json(_status_json(s))
            return 0
        out.line(f"Object Store bucket {s.bucket}" + (f": {s.description}" if s.description
                                                      else ""))
        out.line()
        out.fields([("Size", show_size(s.size)), ("TTL", show_duration(s.ttl)),
                    ("Storage", human(s.storage)), ("Replicas", s.replicas),
                    ("Sealed", s.sealed), ("Compressed", s.is_compressed),
                    ("Backing stream", s.stream_info.config.name)], indent=2)
        return 0
    info = obs.get_info(args.name)
    if out.json_mode:
        out.json(info_json(info))
        return 0
    out.line(f"Object {info.bucket} > {info.name}"
             + (f": {info.description}" if info.description else ""))
    out.line()
    out.fields([("Size", f"{show_size(info.size)} ({info.size:,} bytes)"),
                ("Modified", when(info.mtime)), ("Chunks", info.chunks),
                ("Digest", info.digest), ("Link", _link(info) or None),
                ("Headers", dict(info.headers.items()) if info.headers else None),
                ("Metadata", info.metadata or None)], indent=2)
    return 0


def run_add(session: Session) -> int:
    """Create a bucket."""
    from ..js.api import StorageType

    args = session.args
    params = given(args, SETTINGS)
    if args.storage:
        params["storage"] = StorageType(args.storage)
    return _done(session, "Created", session.js().create_object_store(args.bucket, **params))


def run_edit(session: Session) -> int:
    """Change the settings given of a bucket; the others stay."""
    params = given(session.args, SETTINGS)
    if not params:
        raise UsageError("nothing to change: give at least one setting, e.g. --ttl 30d")
    return _done(session, "Updated",
                 session.js().update_object_store(session.args.bucket, **params))


def _done(session: Session, what: str, obs: ObjectStore) -> int:
    if not session.out.json_mode:
        session.out.line(f"{what} Object Store bucket {obs.bucket}")
    else:
        session.out.json(_status_json(obs.status()))
    return 0


# --- put / get / rm -----------------------------------------------------------------------------------


def run_put(session: Session) -> int:
    """Store a file (or stdin) as an object."""
    from ..obs import ObjectMeta

    args = session.args
    out = session.out
    if args.file == "-":
        if not args.name:
            raise UsageError("--name is required when FILE is - (stdin)")
        source: Any = sys.stdin.buffer
        name = args.name
    else:
        path = Path(args.file).expanduser()
        if not path.is_file():
            raise CliError(f"{args.file}: not a file")
        source = path
        name = args.name or path.name
    meta = ObjectMeta(name=name, description=args.description,
                      headers=headers_of(args.header))
    obs = store(session, args.bucket)
    bar = _bar(session, name)
    try:
        info = obs.put(name, source, meta=meta, chunk_size=args.chunk_size, progress=bar)
    finally:
        if bar is not None:
            bar.finish()
    if out.json_mode:
        out.json(info_json(info))
    else:
        out.line(f"Stored {info.bucket} > {info.name}: {show_size(info.size)} "
                 f"({info.size:,} bytes) in {info.chunks} chunk{'s' if info.chunks != 1 else ''}")
    return 0


def run_get(session: Session) -> int:
    """Fetch an object into a file (or stdout)."""
    args = session.args
    out = session.out
    obs = store(session, args.bucket)
    obs.get_info(args.name)  # a missing object fails before a file is created
    bar = _bar(session, args.name)
    if args.output == "-":
        sys.stdout.flush()
        try:
            obs.get(args.name, writeinto=sys.stdout.buffer, progress=bar)
        finally:
            if bar is not None:
                bar.finish()
        sys.stdout.buffer.flush()
        return 0
    path = Path(args.output or _default_file(args.name)).expanduser()
    if path.is_dir():
        path = path / _default_file(args.name)
    if path.exists() and not args.force:
        raise CliError(f"{path} exists; pass --force (-f) to overwrite it")
    try:
        info = obs.get(args.name, writeinto=os.fspath(path), progress=bar).info
    finally:
        if bar is not None:
            bar.finish()
    if out.json_mode:
        doc = info_json(info)
        doc["file"] = os.fspath(path)
        out.json(doc)
    else:
        out.line(f"Wrote {info.bucket} > {info.name} to {path} ({show_size(info.size)}, "
                 f"{info.size:,} bytes)")
    return 0


def _default_file(name: str) -> str:
    base = name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    if base in ("", ".", ".."):
        raise UsageError(f"cannot name a file after object {name!r}; pass --output")
    return base


def run_rm(session: Session) -> int:
    """Delete an object, or the whole bucket."""
    args = session.args
    out = session.out
    js = session.js()
    obs = js.object_store(args.bucket)
    if args.name is None:
        if not confirm(f"Really delete Object Store bucket {args.bucket} and all its objects?",
                       args.force):
            out.note("Not deleted")
            return 1
        js.delete_object_store(args.bucket)
        doc: dict[str, Any] = {"bucket": args.bucket, "deleted": True}
        text = f"Deleted Object Store bucket {args.bucket}"
    else:
        obs.get_info(args.name)  # a missing object fails before the question
        if not confirm(f"Really delete {args.bucket} > {args.name}?", args.force):
            out.note("Not deleted")
            return 1
        obs.delete(args.name)
        doc = {"bucket": args.bucket, "name": args.name, "deleted": True}
        text = f"Deleted {args.bucket} > {args.name}"
    if out.json_mode:
        out.json(doc)
    else:
        out.line(text)
    return 0

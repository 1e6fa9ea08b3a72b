"""`natsync kv ls|info|add|edit|rm|get|put|del|history|watch|keys`: Key-Value buckets."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .common import (
    UsageError,
    body,
    choice,
    confirm,
    given,
    positive_duration,
    positive_int,
    size,
)
from .output import Output, count, human, payload_json, when
from .output import duration as show_duration
from .output import size as show_size
from .stream import STORAGE
from .tree import command, group

if TYPE_CHECKING:
    from ..js.api import StreamSource
    from ..js.context import JetStreamContext
    from ..kv import BucketStatus, Entry, KeyValue
    from .connection import Session
    from .tree import Subparsers

WATCH_EPILOG = """\
Prints the current value of each matching key, then every change as it happens, until
Ctrl-C. "Watching ..." goes to stderr once the watch is set up; with --json each entry
is one line: bucket, key, revision, operation (PUT, DEL, PURGE), created, data.

examples:
  natsync kv watch config
  natsync kv watch config 'app.*' --updates-only --json
  natsync kv watch config --revision 42     # resume where a previous watch stopped"""


def register(sub: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add `kv` and its sub-commands."""

    p = command(sub, "kv", common, "use Key-Value buckets",
                description="Create, read, write, watch and delete Key-Value buckets and keys.")
    cmds = group(p, "kv_command")

    c = command(cmds, "ls", common, "list the buckets", run_ls, aliases=["list"])
    c.add_argument("-n", "--names", action="store_true", help="print only the names")

    c = command(cmds, "info", common, "show a bucket's settings and usage", run_info,
                aliases=["status"])
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")

    c = command(cmds, "add", common, "create a bucket", run_add, aliases=["create"])
    _setting_flags(c, edit=False)

    c = command(cmds, "edit", common, "change a bucket's settings (those given)", run_edit,
                aliases=["update"])
    _setting_flags(c, edit=True)

    c = command(cmds, "rm", common, "delete a bucket and all its keys", run_rm,
                aliases=["delete"])
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("-f", "--force", action="store_true", help="do not ask for confirmation")

    c = command(cmds, "get", common, "print a key's value", run_get)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("key", metavar="KEY", help="the key")
    c.add_argument("--revision", type=positive_int, metavar="N", help="the value at revision N")
    c.add_argument("-r", "--raw", action="store_true", help="print only the value")

    c = command(cmds, "put", common, "set a key's value", run_put)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("key", metavar="KEY", help="the key")
    c.add_argument("value", metavar="VALUE", nargs="?",
                   help="the value (default: stdin when it is not a terminal)")

    c = command(cmds, "del", common, "delete a key (its history stays, unless --purge)", run_del)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("key", metavar="KEY", help="the key")
    c.add_argument("--purge", action="store_true", help="remove the key's history too")

    c = command(cmds, "history", common, "show every stored revision of a key", run_history)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("key", metavar="KEY", help="the key")

    c = command(cmds, "watch", common, "print changes to keys as they happen", run_watch,
                epilog=WATCH_EPILOG)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("key", metavar="KEY", nargs="?", default=">",
                   help="key or filter with * and > (default: every key)")
    c.add_argument("--history", action="store_true",
                   help="start with every stored revision, not just the latest")
    c.add_argument("--updates-only", action="store_true",
                   help="only changes made from now on")
    c.add_argument("--ignore-deletes", action="store_true", help="leave out deletes and purges")
    c.add_argument("--revision", type=positive_int, metavar="N",
                   help="start at revision N: it and every later one, then live changes")
    c.add_argument("-c", "--count", type=positive_int, metavar="N", help="exit after N entries")

    c = command(cmds, "keys", common, "list the keys that have a value", run_keys)
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("filters", metavar="FILTER", nargs="*",
                   help="only keys matching these filters (* and >)")


#: The bucket settings `add` and `edit` take, by their KeyValueConfig names.
SETTINGS = ("history", "ttl", "max_value_size", "max_bytes", "replicas", "description")


def _setting_flags(c: argparse.ArgumentParser, edit: bool) -> None:
    """The settings a bucket is created with; `edit` changes those given (not its storage)."""
    default = "" if edit else " (default 1)"
    c.add_argument("bucket", metavar="BUCKET", help="the bucket's name")
    c.add_argument("--history", type=positive_int, metavar="N",
                   help=f"revisions kept per key, 1-64{default}")
    c.add_argument("--ttl", type=positive_duration, metavar="DURATION",
                   help="how long values are kept" + ("" if edit else " (default: forever)"))
    c.add_argument("--max-value-size", type=size, metavar="SIZE", help="largest value accepted")
    c.add_argument("--max-bytes", type=size, metavar="SIZE", help="size limit of the bucket")
    if not edit:
        c.add_argument("--storage", type=choice(STORAGE), metavar="TYPE",
                       help="file (default) or memory")
    c.add_argument("--replicas", type=positive_int, metavar="N",
                   help=f"copies in a cluster{default}")
    c.add_argument("--description", metavar="TEXT", help="a description")
    if not edit:
        c.add_argument("--mirror", metavar="BUCKET",
                       help="make the bucket a read replica of BUCKET (writes go to BUCKET)")
        c.add_argument("--mirror-domain", metavar="DOMAIN",
                       help="the JetStream domain of the --mirror bucket (e.g. a leaf's hub)")
    c.add_argument("--source", action="append", metavar="BUCKET",
                   help="copy the keys of BUCKET into this one (repeatable)")


def manager(session: Session) -> JetStreamContext:
    """The session's JetStream context, which has the Key-Value methods."""
    return session.js()


def bucket(session: Session) -> KeyValue:
    """The bucket named on the command line."""
    return manager(session).key_value(session.args.bucket)


# --- buckets ---------------------------------------------------------------------------------------


def run_ls(session: Session) -> int:
    """List the buckets."""
    out = session.out
    kvm = manager(session)
    if session.args.names:
        names = kvm.key_value_store_names()
        out.names(names)
        return 0
    statuses = kvm.key_value_stores()
    if out.json_mode:
        out.json([_status_json(s) for s in statuses])
        return 0
    if not statuses:
        out.line("No Key-Value buckets defined")
        return 0
    out.table(["Bucket", "Description", "Values", "Size", "History", "TTL"],
              [[s.bucket, s.description or "", count(s.values), show_size(s.bytes), s.history,
                show_duration(s.ttl)] for s in statuses])
    return 0


def _status_json(s: BucketStatus) -> dict[str, Any]:
    return {"bucket": s.bucket, "description": s.description, "values": s.values,
            "bytes": s.bytes, "history": s.history, "ttl": s.ttl,
            "storage": human(s.storage) or None, "replicas": s.replicas,
            "compressed": s.is_compressed, "direct": s.direct,
            "limit_marker_ttl": s.limit_marker_ttl, "metadata": s.metadata,
            "mirror": s.mirror.as_dict() if s.mirror else None,
            "sources": [src.as_dict() for src in s.sources or []],
            "stream": s.stream_info.config.name}


def show_status(out: Output, s: BucketStatus) -> None:
    """A bucket's settings and usage."""
    if out.json_mode:
        out.json(_status_json(s))
        return
    out.line(f"Key-Value bucket {s.bucket}" + (f": {s.description}" if s.description else ""))
    out.line()
    out.fields([
        ("Values", count(s.values)),
        ("Size", show_size(s.bytes)),
        ("History", s.history),
        ("TTL", show_duration(s.ttl)),
        ("Maximum value size", show_size(s.stream_info.config.max_msg_size)),
        ("Maximum bytes", show_size(s.stream_info.config.max_bytes)),
        ("Storage", human(s.storage)),
        ("Replicas", s.replicas),
        ("Compressed", s.is_compressed),
        ("Mirror of", _source_name(s.mirror) if s.mirror else None),
        ("Sources", ", ".join(_source_name(src) for src in s.sources) if s.sources else None),
        ("Backing stream", s.stream_info.config.name),
    ], indent=2)


def _source_name(src: StreamSource) -> str:
    """A mirrored or sourced stream as `KV_name` (with ` in domain D` when it has one)."""
    api = src.external.api if src.external is not None else None
    where = ""
    if api and api.startswith("$JS.") and api.endswith(".API"):
        where = f" in domain {api[4:-4]}"
    elif api:
        where = f" through {api}"
    return f"{src.name}{where}"


def run_info(session: Session) -> int:
    """Show one bucket."""
    show_status(session.out, bucket(session).status())
    return 0


def run_add(session: Session) -> int:
    """Create a bucket."""
    from ..js.api import StorageType, StreamSource

    args = session.args
    params = given(args, SETTINGS + ("source",))
    if args.storage:
        params["storage"] = StorageType(args.storage)
    if args.mirror:
        params["mirror"] = StreamSource(name=args.mirror, domain=args.mirror_domain)
    elif args.mirror_domain:
        raise UsageError("--mirror-domain goes with --mirror")
    kv = manager(session).create_key_value(bucket=args.bucket, **_sources(params))
    return _done(session, "Created", kv)


def run_edit(session: Session) -> int:
    """Change the settings given of a bucket; the others stay."""
    params = given(session.args, SETTINGS + ("source",))
    if not params:
        raise UsageError("nothing to change: give at least one setting, e.g. --history 5")
    kv = manager(session).update_key_value(session.args.bucket, **_sources(params))
    return _done(session, "Updated", kv)


def _sources(params: dict[str, Any]) -> dict[str, Any]:
    """`--source` flags as the `sources` setting."""
    if "source" in params:
        params["sources"] = params.pop("source")
    return params


def _done(session: Session, what: str, kv: KeyValue) -> int:
    if not session.out.json_mode:
        session.out.line(f"{what} Key-Value bucket {kv.bucket}")
        session.out.line()
    show_status(session.out, kv.status())
    return 0


def run_rm(session: Session) -> int:
    """Delete a bucket."""
    args = session.args
    kvm = manager(session)
    kvm.key_value(args.bucket)  # a missing bucket fails before the question
    if not confirm(f"Really delete Key-Value bucket {args.bucket} and all its keys?",
                   args.force):
        session.out.note("Not deleted")
        return 1
    kvm.delete_key_value(args.bucket)
    if session.out.json_mode:
        session.out.json({"bucket": args.bucket, "deleted": True})
    else:
        session.out.line(f"Deleted Key-Value bucket {args.bucket}")
    return 0


# --- keys ------------------------------------------------------------------------------------------


def entry_json(e: Entry) -> dict[str, Any]:
    """An entry as JSON: bucket, key, revision, operation, created, delta, data."""
    doc: dict[str, Any] = {"bucket": e.bucket, "key": e.key, "revision": e.revision,
                           "operation": e.operation.value, "created": e.created,
                           "delta": e.delta}
    if e.marker_reason:
        doc["marker_reason"] = e.marker_reason
    doc.update(payload_json(e.value))
    return doc


def run_get(session: Session) -> int:
    """Print a key's value."""
    args = session.args
    out = session.out
    entry = bucket(session).get(args.key, revision=args.revision)
    if out.json_mode:
        out.json(entry_json(entry))
    elif args.raw:
        out.raw(entry.value)
    else:
        out.line(f"{entry.bucket} > {entry.key} revision {entry.revision}"
                 + (f" created @ {when(entry.created)}" if entry.created else ""))
        out.line()
        out.raw(entry.value, newline=True)
    return 0


def run_put(session: Session) -> int:
    """Set a key."""
    args = session.args
    revision = bucket(session).put(args.key, body(args.value))
    if session.out.json_mode:
        session.out.json({"bucket": args.bucket, "key": args.key, "revision": revision})
    else:
        session.out.line(f"Put {args.bucket} > {args.key} at revision {revision}")
    return 0


def run_del(session: Session) -> int:
    """Delete (or purge) a key."""
    args = session.args
    kv = bucket(session)
    kv.get(args.key)  # KeyNotFoundError for a key without a value
    revision = kv.purge(args.key) if args.purge else kv.delete(args.key)
    what = "Purged" if args.purge else "Deleted"
    if session.out.json_mode:
        session.out.json({"bucket": args.bucket, "key": args.key, "revision": revision,
                          "operation": "PURGE" if args.purge else "DEL"})
    else:
        session.out.line(f"{what} {args.bucket} > {args.key} (marker revision {revision})")
    return 0


def run_history(session: Session) -> int:
    """Show every stored revision of a key."""
    args = session.args
    out = session.out
    entries = bucket(session).history(args.key)
    if out.json_mode:
        out.json([entry_json(e) for e in entries])
        return 0
    if not entries:
        out.line(f"No history for {args.bucket} > {args.key}")
        return 0
    out.table(["Revision", "Operation", "Created", "Length", "Value"],
              [[e.revision, e.operation.value, when(e.created), len(e.value), _preview(e.value)]
               for e in entries])
    return 0


def _preview(value: bytes, width: int = 40) -> str:
    text = value.decode("utf-8", "replace").replace("\n", "\\n")
    return text if len(text) <= width else text[:width - 3] + "..."


def run_watch(session: Session) -> int:
    """Print entries until Ctrl-C (or --count)."""
    from ..errors import TimeoutError as NatsTimeoutError

    args = session.args
    out = session.out
    kv = bucket(session)
    n = 0
    with kv.watch(args.key, include_history=args.history, ignore_deletes=args.ignore_deletes,
                  updates_only=args.updates_only,
                  resume_from_revision=args.revision) as watcher:
        what = "every key" if args.key == ">" else f"key {args.key}"
        out.note(f"Watching {what} of bucket {args.bucket}")
        while args.count is None or n < args.count:
            try:
                entry = watcher.updates(timeout=0.5)
            except NatsTimeoutError:
                continue
            except StopIteration:
                break
            if entry is None:
                continue  # the current values are all in; changes follow
            n += 1
            if out.json_mode:
                out.json_line(entry_json(entry))
                continue
            stamp = entry.created.astimezone().strftime("%Y-%m-%d %H:%M:%S") \
                if entry.created else ""
            line = f"[{stamp}] {entry.operation.value} {entry.bucket} > {entry.key}"
            if entry.operation.value == "PUT":
                out.line(f"{line}: {entry.value.decode('utf-8', 'replace')}")
            else:
                out.line(line)
    return 0


def run_keys(session: Session) -> int:
    """List the keys that have a value."""
    args = session.args
    out = session.out
    keys = sorted(bucket(session).keys(args.filters or None))
    if out.json_mode:
        out.json(keys)
        return 0
    for key in keys:
        out.line(key)
    if not keys:
        out.note(f"No keys in bucket {args.bucket}")
    return 0

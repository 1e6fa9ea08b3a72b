"""`manage.py nats_worker STREAM CONSUMER module.handler`: a JetStream work-queue worker."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ....runner import Handler, StopSignals, work
from ... import holder
from ._base import NatsCommand


class Command(NatsCommand):
    help = ("Consume the pull consumer CONSUMER of STREAM (created, with explicit acks, if "
            "missing): handler(msg), then ack; nak if it raises. On Ctrl-C or SIGTERM the "
            "message in hand is finished and acked before the worker drains and exits.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("stream")
        parser.add_argument("consumer")
        super().add_arguments(parser)
        parser.add_argument("--max-messages", type=int, default=10,
                            help="messages to keep prefetched (default 10)")

    def loop(self, handler: Handler, stop: StopSignals, options: dict[str, Any]) -> None:
        work(holder.client, options["stream"], options["consumer"], handler, stop,
             max_messages=options["max_messages"], say=self.say)

"""`manage.py nats_listen SUBJECT module.handler [--queue Q]`: a long-running responder."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from ....runner import Handler, StopSignals, listen
from ... import holder
from ._base import NatsCommand


class Command(NatsCommand):
    help = ("Subscribe to SUBJECT and run handler(msg) for each message; a bytes or str "
            "result is sent as the reply. Stops and drains on Ctrl-C or SIGTERM.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject")
        super().add_arguments(parser)
        parser.add_argument("--queue", default="", help="queue group to join")

    def loop(self, handler: Handler, stop: StopSignals, options: dict[str, Any]) -> None:
        listen(holder.client, options["subject"], handler, stop, queue=options["queue"],
               say=self.say)

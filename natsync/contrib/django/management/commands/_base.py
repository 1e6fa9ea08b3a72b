"""What the natsync management commands share: the handler argument, signals, draining."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ....runner import Handler, HandlerImportError, StopSignals, import_handler
from ... import holder


class NatsCommand(BaseCommand):
    """Runs `loop(client, handler, stop, options)` until SIGINT/SIGTERM, then drains."""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("handler", help="dotted path of a function taking a natsync Msg")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            handler = import_handler(options["handler"])
        except HandlerImportError as exc:
            raise CommandError(str(exc)) from exc
        with StopSignals() as stop:
            self.loop(handler, stop, options)
        holder.close()

    def loop(self, handler: Handler, stop: StopSignals, options: dict[str, Any]) -> None:
        raise NotImplementedError

    def say(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()


__all__ = ["NatsCommand"]

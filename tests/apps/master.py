"""For gunicorn --preload runs: connect in the master and write down that connection."""

from __future__ import annotations

import json
import os
from pathlib import Path

from natsync import Client


def record_master_client(nc: Client) -> None:
    """Write the master's pid and connection to $MASTER_INFO (the test reads it)."""
    info = {"pid": os.getpid(), "connection": f"{nc.server_info.get('server_id')}/{nc.client_id}"}
    Path(os.environ["MASTER_INFO"]).write_text(json.dumps(info))

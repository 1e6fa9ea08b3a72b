"""Ordered replay of a stream, notebook style: run it cell by cell in Jupyter, or as a script.

An ordered consumer hands back every stored message once, in order, with no consumer to
create or clean up — the way to look at what a stream holds from a notebook.
"""

# %% Connect (NATS_URL, or an embedded server for the demo)
from __future__ import annotations

import os
from collections import Counter

import natsync
from natsync.testing import NatsServer

server = None if os.environ.get("NATS_URL") else NatsServer(jetstream=True).start()
nc = natsync.connect(os.environ.get("NATS_URL") or server.url)  # type: ignore[union-attr]
js = nc.jetstream()

# %% Some history to look at
js.add_stream(name="SENSORS", subjects=["sensors.>"])
for i in range(60):
    js.publish(f"sensors.room{i % 3}", b"%d" % (20 + i % 7))

# %% Replay everything in order
temps = []
with js.stream("SENSORS").ordered_consumer().messages() as replay:
    for msg in replay:
        temps.append((msg.metadata.sequence.stream, msg.subject, int(msg.data)))
        if msg.metadata.num_pending == 0:
            break
print(f"Replayed {len(temps)} readings in order: sequences "
      f"{temps[0][0]}..{temps[-1][0]}, strictly increasing: "
      f"{all(a[0] < b[0] for a, b in zip(temps, temps[1:]))}")

# %% Only one room, from a given point
room1 = js.stream("SENSORS").ordered_consumer(filter_subjects=["sensors.room1"], opt_start_seq=30)
msgs = room1.fetch(max_messages=100, max_wait=1)
print(f"room1 from sequence 30: {len(msgs)} readings; per room overall: "
      f"{dict(sorted(Counter(s for _, s, _ in temps).items()))}")

# %% Clean up
js.delete_stream("SENSORS")
nc.close()
if server is not None:
    server.close()

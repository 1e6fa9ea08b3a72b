"""Replace a crontab line with a message schedule: the stream itself fires the job.

Instead of `* * * * * publish-cleanup-job` on one machine (which stops when that machine
does), a schedule stored in a stream publishes the job message on time, on whichever
server leads the stream. Workers pull the jobs like any others. Here the schedule fires
every second so the example is quick; a real one would say "@hourly" or "0 0 3 * * *".
A distributed counter tallies the runs, and the schedule is cancelled at the end.
"""

from __future__ import annotations

import sys
import time

import natsync
from natsync.testing import server_url


def main(url: str) -> None:
    with natsync.connect(url) as nc:
        js = nc.jetstream()
        js.add_stream(name="CRON", subjects=["schedules.>", "jobs.>"],
                      allow_msg_schedules=True, allow_msg_ttl=True)
        # A counter stream takes only increments, so the tally lives in a stream of its own.
        js.add_stream(name="STATS", subjects=["stats.>"], allow_msg_counter=True)
        # Workers first: a durable pull consumer on the job subject.
        jobs = js.pull_subscribe("jobs.cleanup", durable="cleaner", stream="CRON")
        js.publish_schedule("schedules.cleanup", b'{"older_than": "7d"}',
                            target="jobs.cleanup", schedule="@every 1s", ttl=3600)
        print("Scheduled the cleanup job every second (the crontab line is gone).")
        runs = 0
        deadline = time.monotonic() + 15
        while runs < 3 and time.monotonic() < deadline:
            for msg in jobs.fetch(batch=1, timeout=2):
                runs = js.counter_incr("stats.cleanup.runs")
                print(f"Cleanup run {runs}: {msg.data.decode()} "
                      f"(fired by {msg.headers['Nats-Scheduler'] if msg.headers else '?'})")
                msg.ack_sync()
        js.cancel_schedule("schedules.cleanup")
        print(f"Cancelled the schedule after {js.counter_get('STATS', 'stats.cleanup.runs')} runs.")
        js.delete_stream("CRON")
        js.delete_stream("STATS")


if __name__ == "__main__":
    with server_url(jetstream=True, say=print) as url:
        main(url)
    sys.exit(0)

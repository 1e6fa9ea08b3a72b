"""Consumer defaults (issue 11): an unset ack_policy is explicit on the server, ack none stays
possible when asked for, and ordered consumers and watchers keep ack none."""

from __future__ import annotations

import asyncio
from typing import Any

import natsync
from natsync.js import api


def _ack_policies_by_nats_py(url: str, stream: str, names: list[str]) -> dict[str, str]:
    """The ack policy of each named consumer, read back by nats-py (another client)."""
    import nats  # nats-py, the asyncio client

    async def read() -> dict[str, str]:
        anc = await nats.connect(url)
        try:
            jsm = anc.jsm()
            out = {}
            for name in names:
                info = await jsm.consumer_info(stream, name)
                out[name] = str(getattr(info.config.ack_policy, "value", info.config.ack_policy))
            return out
        finally:
            await anc.close()

    return asyncio.run(read())


def test_unset_ack_policy_is_explicit_on_the_server(nats_url: str) -> None:
    with natsync.connect(nats_url) as nc:
        js = nc.jetstream()
        js.add_stream(name="ORDERS", subjects=["orders.>"])
        js.add_consumer("ORDERS", durable_name="worker")
        js.add_consumer("ORDERS", api.ConsumerConfig(name="named", filter_subject="orders.new"))
        js.add_consumer("ORDERS", {"durable_name": "from-dict"})
        stream = js.stream("ORDERS")
        stream.create_consumer(api.ConsumerConfig(durable_name="simplified"))
        stream.create_consumer(durable_name="simplified-kw")
        pull = js.pull_subscribe("orders.>", durable="puller")
        eph = js.pull_subscribe("orders.>")
        push = js.subscribe("orders.>", durable="pusher")
        names = ["worker", "named", "from-dict", "simplified", "simplified-kw", "puller",
                 eph.consumer, "pusher"]
        try:
            assert _ack_policies_by_nats_py(nats_url, "ORDERS", names) == \
                {n: "explicit" for n in names}
            # An update that does not mention the ack policy keeps the (explicit) one.
            info = js.update_consumer("ORDERS", durable_name="worker", description="updated")
            assert info.config.description == "updated"
            assert info.config.ack_policy == api.AckPolicy.EXPLICIT
        finally:
            pull.unsubscribe()
            eph.unsubscribe()
            push.unsubscribe()


def test_ack_sync_works_on_a_consumer_made_without_an_ack_policy(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="JOBS", subjects=["jobs"])
    js.add_consumer("JOBS", durable_name="worker")
    for i in range(3):
        js.publish("jobs", b"job %d" % i)
    consumer = js.stream("JOBS").consumer("worker")
    msgs = consumer.fetch(3, max_wait=5)
    assert [m.data for m in msgs] == [b"job 0", b"job 1", b"job 2"]
    for msg in msgs:
        msg.ack_sync(timeout=2)
    info = consumer.info()
    assert info.num_ack_pending == 0
    assert info.ack_floor.stream_seq == 3


def test_explicit_ack_none_is_honoured(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="EVENTS", subjects=["events"])
    made: list[Any] = [
        js.add_consumer("EVENTS", durable_name="kw", ack_policy="none"),
        js.add_consumer("EVENTS", api.ConsumerConfig(durable_name="cfg",
                                                     ack_policy=api.AckPolicy.NONE)),
        js.add_consumer("EVENTS", {"durable_name": "dict", "ack_policy": "none"}),
    ]
    made.append(js.stream("EVENTS").create_consumer(durable_name="simple", ack_policy="none").info())
    pull = js.pull_subscribe("events", durable="pull",
                             config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE))
    push = js.subscribe("events", durable="push",
                        config=api.ConsumerConfig(ack_policy=api.AckPolicy.NONE))
    try:
        made += [pull.consumer_info(), push.consumer_info()]
        assert [i.config.ack_policy for i in made] == [api.AckPolicy.NONE] * 6
        # All is passed through, too.
        info = js.add_consumer("EVENTS", durable_name="all", ack_policy=api.AckPolicy.ALL)
        assert info.config.ack_policy == api.AckPolicy.ALL
    finally:
        pull.unsubscribe()
        push.unsubscribe()


def test_ordered_consumers_and_watchers_keep_ack_none(nc: natsync.Client) -> None:
    js = nc.jetstream()
    js.add_stream(name="LOG", subjects=["log.>"])
    js.publish("log.a", b"1")
    ordered = js.stream("LOG").ordered_consumer()
    push = js.subscribe("log.>", ordered_consumer=True,
                        config=api.ConsumerConfig(ack_policy=api.AckPolicy.EXPLICIT))
    try:
        assert ordered.info().config.ack_policy == api.AckPolicy.NONE
        assert push.consumer_info().config.ack_policy == api.AckPolicy.NONE
    finally:
        ordered.delete()
        push.unsubscribe()

    kv = js.create_key_value(bucket="cfg")
    kv.put("k", b"v")
    obs = js.create_object_store("files")
    with kv.watchall() as kv_watch, obs.watch() as obs_watch:
        kv_consumers = js.consumers_info("KV_cfg")
        obs_consumers = js.consumers_info("OBJ_files")
        assert [c.config.ack_policy for c in kv_consumers] == [api.AckPolicy.NONE]
        assert [c.config.ack_policy for c in obs_consumers] == [api.AckPolicy.NONE]
        assert not kv_watch.stopped and not obs_watch.stopped

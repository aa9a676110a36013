"""gnsq.aio: create two channels over HTTP, publish with asyncio, consume
with an async handler on one channel and with async for on the other, and
read nsqd's stats over HTTP.

    python examples/python/aio_demo.py 127.0.0.1:4150 127.0.0.1:4151 [topic]
"""
import asyncio
import sys

import gnsq.aio

tcp = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:4150"
http = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1:4151"
topic = sys.argv[3] if len(sys.argv) > 3 else "demo_aio"


async def main():
    async with gnsq.aio.NsqdHTTPClient.from_url(http) as client:
        # both channels exist before publishing: each gets every message
        await client.create_topic(topic)
        for channel in ("handler", "iterator"):
            await client.create_channel(topic, channel)

    async with gnsq.aio.Producer([tcp]) as producer:
        await producer.publish(topic, b"hello from asyncio")
        await producer.multipublish(topic, [b"message %d" % i for i in range(1, 5)])
        answers = await asyncio.gather(*(producer.publish(topic, b"concurrent %d" % i) for i in range(5)))
        print("published 10 messages; the last 5 concurrently, answered", set(answers))

    received = []
    consumer = gnsq.aio.Consumer(topic, "handler", nsqd_tcp_addresses=[tcp], max_in_flight=16, max_concurrency=4)

    @consumer.on_message.connect
    async def handler(consumer, message):
        await asyncio.sleep(0.01)  # up to 4 handlers await at once
        received.append(message.body)
        if len(received) == 10:
            await consumer.close(drain=True)  # returns at once here; start() returns when drained

    await consumer.start()
    print("an async handler got %d messages" % len(received))

    count = 0
    async with gnsq.aio.Consumer(topic, "iterator", nsqd_tcp_addresses=[tcp], max_in_flight=16) as iterated:
        async for message in iterated:
            count += 1
            if count == 10:
                message.finish()  # handled: finish it before leaving the loop
                break
    print("async for got %d messages" % count)

    async with gnsq.aio.NsqdHTTPClient.from_url(http) as client:
        stats = await client.stats(topic=topic)
        await client.delete_topic(topic)
        for channel in stats["topics"][0]["channels"]:
            print("channel %s: depth %d, in flight %d" % (
                channel["channel_name"], channel["depth"], channel["in_flight_count"]))


asyncio.run(main())

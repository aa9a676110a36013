"""gnsq for asyncio: Producer, Consumer, NsqdHTTPClient and LookupdClient
whose I/O methods are coroutines, over the same library as the rest of the
package.

The library's notify fd is watched with ``loop.add_reader``: no call on the
loop thread blocks, no thread runs per message or publish, and events are
handled in batches. Works with the default event loop and with uvloop.
An object belongs to the event loop it was first used on.

    import asyncio
    import gnsq.aio

    async def main():
        async with gnsq.aio.Producer(["127.0.0.1:4150"]) as producer:
            await producer.publish("topic", b"hello")

        consumer = gnsq.aio.Consumer("topic", "channel", nsqd_tcp_addresses=["127.0.0.1:4150"])

        @consumer.on_message.connect
        async def handler(consumer, message):
            print(message.body)      # returning finishes, raising requeues

        await consumer.start()       # until consumer.close()

    asyncio.run(main())
"""
from .consumer import Consumer
from .http import LookupdClient, NsqdHTTPClient
from .producer import Producer

__all__ = ["Consumer", "Producer", "NsqdHTTPClient", "LookupdClient"]

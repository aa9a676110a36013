"""The gnsq 1.0 API over libgnsq: publish a few messages, consume them.

    python examples/python/demo.py 127.0.0.1:4150 [topic]

Runs unchanged against PyPI's gnsq too (with bytes bodies, as gnsq 1.0
requires on Python 3)."""
import sys

import gnsq

address = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:4150"
topic = sys.argv[2] if len(sys.argv) > 2 else "demo_python"

producer = gnsq.Producer(address)
producer.start()
producer.publish(topic, b"hello from Python")
producer.multipublish(topic, [b"message %d" % i for i in range(1, 5)])
result = producer.publish(topic, b"last one", raise_error=False)  # an AsyncResult-like object
print("published 6 messages; the last answered", result.get())
producer.close()

consumer = gnsq.Consumer(topic, "demo", address, max_in_flight=16)
received = []


@consumer.on_message.connect
def handler(consumer, message):
    received.append(message.body)
    print("got message %d: %r (attempts %d)" % (len(received), message.body, message.attempts))
    if len(received) == 6:
        consumer.close()  # ends start() below, after answering every message


consumer.start()  # blocks until close(); Ctrl-C raises KeyboardInterrupt here
print("consumed %d messages; the consumer is %s" % (len(received), "running" if consumer.is_running else "closed"))

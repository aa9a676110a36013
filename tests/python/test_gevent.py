"""The producer/consumer scenario under gevent, with and without monkey
patching, in a subprocess (the package chooses gevent once the program has
imported it; the pytest process itself stays on threads). A ticker greenlet
must keep running while the package waits and handles messages."""
import json
import os
import subprocess
import sys
import textwrap

import pytest

SCENARIO = """
import time, json
import gevent, gevent.event
import gnsq

ticks = []
def ticker():
    while True:
        ticks.append(time.monotonic())
        gevent.sleep(0.01)

def worst_gap():
    return max(b - a for a, b in zip(ticks, ticks[1:]))

gevent.spawn(ticker)
gevent.sleep(0.05)
t0 = time.monotonic()

producer = gnsq.Producer(NSQD)
producer.start()
assert producer.publish(TOPIC, b'first') == b'OK'
results = [producer.publish(TOPIC, b'%d' % i, raise_error=False) for i in range(2000)]
assert all(isinstance(r, gevent.event.AsyncResult) for r in results)
gevent.joinall(results, timeout=30)
assert [r.get() for r in results] == [b'OK'] * 2000
for i in range(20):
    assert producer.multipublish(TOPIC, [b'x' * 100] * 1000) == b'OK'
total = 1 + 2000 + 20000

got = []
consumer = gnsq.Consumer(TOPIC, 'ch', NSQD, max_in_flight=500)
@consumer.on_message.connect
def handler(consumer, message):
    got.append(message.body)
    if len(got) == total:
        consumer.close()
consumer.start()  # blocks this greenlet only; the ticker keeps ticking
assert len(got) == total and not consumer.is_running

# start(block=False): the consumer runs while this greenlet sleeps. (Another
# channel: nsqd may still hand a message to the closing connection above.)
more = []
c2 = gnsq.Consumer(TOPIC, 'ch2', NSQD, message_handler=lambda consumer, message: more.append(message.body))
c2.start(block=False)
deadline = time.monotonic() + 10
while c2.total_ready_count == 0 and time.monotonic() < deadline:
    gevent.sleep(0.01)
assert producer.publish(TOPIC, b'again') == b'OK'
while not more and time.monotonic() < deadline:
    gevent.sleep(0.01)
c2.close()
producer.close()
producer.join()
print(json.dumps({"more": [m.decode() for m in more], "run": time.monotonic() - t0,
                  "worst_gap": worst_gap(), "ticks": len(ticks)}))
"""


@pytest.mark.parametrize("patched", [False, True], ids=["unpatched", "monkey_patched"])
def test_producer_and_consumer_cooperate_with_other_greenlets(nsqd, topic, patched):
    prelude = "from gevent import monkey; monkey.patch_all()\n" if patched else ""
    code = prelude + "NSQD, TOPIC = %r, %r\n" % (nsqd.tcp_address, topic) + textwrap.dedent(SCENARIO)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["more"] == ["again"]
    # the ticker ran throughout: its worst gap is far below the run time
    assert out["worst_gap"] < out["run"] / 5, out
    assert out["ticks"] > out["run"] / 0.01 / 4, out

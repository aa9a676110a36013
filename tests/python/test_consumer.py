"""gnsq.Consumer against live nsqd: gnsq's message rules, signals and their
keyword names, lifecycle, bad input. The same scenario under gevent is in
test_gevent.py."""
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from conftest import wait_until

import gnsq
from gnsq import errors


def publish(nsqd, topic, bodies):
    p = gnsq.Producer(nsqd.tcp_address)
    p.start()
    try:
        p.multipublish(topic, list(bodies))
    finally:
        p.close()
        p.join()


def run(consumer, until, timeout=20):
    """Runs consumer in a thread until until() holds, then closes it."""
    consumer.start(block=False)
    try:
        wait_until(until, timeout, "the consumer")
    finally:
        consumer.close()
        consumer.join(5)
    assert not consumer.is_running


def test_messages_are_finished_when_the_handler_returns(nsqd, topic):
    publish(nsqd, topic, [b"m%d" % i for i in range(500)])
    got, finished = [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=100)
    c.on_message.connect(lambda consumer, message: got.append(message), weak=False)
    c.on_finish.connect(lambda consumer, message_id: finished.append(message_id), weak=False)
    run(c, lambda: len(finished) == 500)
    assert sorted(m.body for m in got) == sorted(b"m%d" % i for i in range(500))
    assert all(isinstance(m.id, bytes) and len(m.id) == 16 and m.attempts == 1 for m in got)
    assert all(isinstance(m.timestamp, int) for m in got)
    assert set(finished) == {m.id for m in got}
    assert nsqd.depth(topic, "ch") == 0 and nsqd.in_flight(topic, "ch") == 0


def test_message_handler_argument_and_binary_and_large_bodies(nsqd, topic):
    bodies = [bytes(range(256)), b"\0" * 10, os.urandom(600 * 1024)]  # the last exceeds the poll buffer
    publish(nsqd, topic, bodies)
    got = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, message_handler=lambda consumer, message: got.append(message.body),
                      max_in_flight=10)
    run(c, lambda: len(got) == 3)
    assert sorted(got) == sorted(bodies)


def test_enable_async_messages_are_answered_later_from_another_thread(nsqd, topic):
    publish(nsqd, topic, [b"a", b"b"])
    held, finished, requeued = [], [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=10)

    @c.on_message.connect
    def handler(consumer, message):
        message.enable_async()
        held.append(message)

    c.on_finish.connect(lambda consumer, message_id: finished.append(message_id), weak=False)
    c.on_requeue.connect(lambda consumer, message_id, timeout: requeued.append((message_id, timeout)), weak=False)
    c.start(block=False)
    try:
        wait_until(lambda: len(held) == 1)
        wait_until(lambda: nsqd.in_flight(topic, "ch") == 1)  # not finished by the handler's return
        first = held[0]
        threading.Thread(target=first.finish).start()
        wait_until(lambda: finished == [first.id])
        with pytest.raises(errors.NSQException, match="already responded"):
            first.finish()
        wait_until(lambda: len(held) == 2)  # a new connection has RDY 1 until its first FIN (gnsq)
        second = held[1]
        second.requeue(0, backoff=False)
        wait_until(lambda: (second.id, 0) in requeued)
        wait_until(lambda: len(held) == 3)  # the requeued one comes back
        assert held[2].id == second.id and held[2].attempts == 2
        held[2].finish()
        wait_until(lambda: nsqd.in_flight(topic, "ch") == 0 and nsqd.depth(topic, "ch") == 0)
    finally:
        c.close()
        c.join(5)


def test_exception_requeues_and_fires_on_exception(nsqd, topic):
    publish(nsqd, topic, [b"x"])
    attempts, exceptions = [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_backoff_duration=0)

    @c.on_message.connect
    def handler(consumer, message):
        attempts.append(message.attempts)
        if message.attempts == 1:
            raise KeyError("boom")

    c.on_exception.connect(lambda consumer, message, error: exceptions.append((message.body, error)), weak=False)
    run(c, lambda: attempts == [1, 2] and nsqd.in_flight(topic, "ch") == 0)
    assert len(exceptions) == 1 and exceptions[0][0] == b"x"
    assert isinstance(exceptions[0][1], KeyError)


def test_requeue_message_error_requeues_with_the_consumers_delay(nsqd, topic):
    publish(nsqd, topic, [b"x"])
    attempts, requeues = [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, requeue_delay=50, max_backoff_duration=0)

    @c.on_message.connect
    def handler(consumer, message):
        attempts.append(message.attempts)
        if message.attempts == 1:
            raise errors.NSQRequeueMessage()

    c.on_requeue.connect(lambda consumer, message_id, timeout: requeues.append(timeout), weak=False)
    run(c, lambda: attempts == [1, 2] and nsqd.in_flight(topic, "ch") == 0)
    assert requeues == [50]


def test_giving_up_after_max_tries(nsqd, topic):
    publish(nsqd, topic, [b"doomed"])
    attempts, given_up = [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_tries=2, max_backoff_duration=0)

    @c.on_message.connect
    def handler(consumer, message):
        attempts.append(message.attempts)
        raise ValueError("always")

    c.on_giving_up.connect(lambda consumer, message: given_up.append(message), weak=False)
    run(c, lambda: given_up and nsqd.in_flight(topic, "ch") == 0)
    assert attempts == [1, 2]
    assert given_up[0].body == b"doomed" and given_up[0].attempts == 3
    with pytest.raises(errors.NSQException, match="already responded"):
        given_up[0].finish()
    assert nsqd.depth(topic, "ch") == 0


def test_a_failed_message_backs_off_its_connection(nsqd, topic):
    publish(nsqd, topic, [b"fail", b"ok"])
    failed = threading.Event()
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=5, max_backoff_duration=2)

    @c.on_message.connect
    def handler(consumer, message):
        if message.body == b"fail" and message.attempts == 1:
            failed.set()
            raise RuntimeError("fail once")

    c.start(block=False)
    try:
        wait_until(failed.is_set)
        wait_until(lambda: c.total_ready_count == 0, what="RDY 0 during backoff")
        wait_until(lambda: c.total_ready_count > 0 and nsqd.depth(topic, "ch") == 0
                   and nsqd.in_flight(topic, "ch") == 0, what="recovery after backoff")
    finally:
        c.close()
        c.join(5)


def test_max_in_flight_is_shared_across_two_nsqd(nsqd, nsqd2, topic):
    publish(nsqd, topic, [b"1-%d" % i for i in range(50)])
    publish(nsqd2, topic, [b"2-%d" % i for i in range(50)])
    got, worst = [], [0]
    c = gnsq.Consumer(topic, "ch", [nsqd.tcp_address, nsqd2.tcp_address], max_in_flight=4)

    @c.on_message.connect
    def handler(consumer, message):
        got.append(message.body)
        # the RDY sent never sums above max_in_flight (messages already in
        # flight when RDY moves between connections may briefly exceed it)
        worst[0] = max(worst[0], consumer.total_ready_count)

    run(c, lambda: len(got) == 100)
    assert {b[:1] for b in got} == {b"1", b"2"}
    assert worst[0] <= 4


def test_close_from_a_handler_ends_start_block_and_loses_nothing(start_nsqd, topic):
    # a message left in flight comes back after 1 s: a lost FIN would show in the depth
    nsqd = start_nsqd("--msg-timeout=1s")
    publish(nsqd, topic, [b"%d" % i for i in range(200)])
    handled, closed = [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=200)

    @c.on_message.connect
    def handler(consumer, message):
        handled.append(message.body)
        if len(handled) == 50:
            consumer.close()
            assert not consumer.is_running

    c.on_close.connect(lambda consumer: closed.append(True), weak=False)
    c.start()  # returns after close()
    assert closed == [True] and not c.is_running
    # everything handled was finished, nothing else: the rest is back in the channel
    wait_until(lambda: nsqd.in_flight(topic, "ch") == 0 and nsqd.depth(topic, "ch") == 200 - len(handled))
    c.start(block=False)  # a closed consumer does not start again
    assert not c.is_running


def test_close_from_another_thread_waits_for_the_handler_in_progress(nsqd, topic):
    publish(nsqd, topic, [b"slow"])
    entered, finished = threading.Event(), []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address)

    @c.on_message.connect
    def handler(consumer, message):
        entered.set()
        time.sleep(0.3)  # a slow handler, still running when close() is called
        finished.append(message.body)

    c.start(block=False)
    entered.wait(10)
    c.close()
    assert finished == [b"slow"]  # close() returned after the handler
    c.join(5)
    wait_until(lambda: nsqd.in_flight(topic, "ch") == 0 and nsqd.depth(topic, "ch") == 0)


def test_on_auth_and_on_response_carry_gnsqs_keyword_names(auth_nsqd, topic):
    nsqd, auth = auth_nsqd
    publish_authed(nsqd, topic, [b"x"])
    auths, responses, got = [], [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, auth_secret="letmein",
                      message_handler=lambda consumer, message: got.append(message.body))
    c.on_auth.connect(lambda consumer, conn, response: auths.append((str(conn), response)), weak=False)
    c.on_response.connect(lambda consumer, response: responses.append(response), weak=False)
    run(c, lambda: got == [b"x"])
    assert auths == [(nsqd.tcp_address, {"identity": "tester", "identity_url": "", "permission_count": 1})]
    assert b"OK" in responses


def test_on_error_carries_nsqds_error_class_with_bytes_args(auth_nsqd, topic):
    nsqd, auth = auth_nsqd
    auth.topics = "only-this-topic"  # SUB to another topic is refused: E_UNAUTHORIZED
    errs = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, auth_secret="letmein",
                      message_handler=lambda consumer, message: None)
    c.on_error.connect(lambda consumer, error: errs.append(error), weak=False)
    run(c, lambda: errs)
    assert isinstance(errs[0], errors.NSQUnauthorized) and isinstance(errs[0].args[0], bytes)


def publish_authed(nsqd, topic, bodies):
    p = gnsq.Producer(nsqd.tcp_address, auth_secret="letmein")
    p.start()
    try:
        p.multipublish(topic, bodies)
    finally:
        p.close()


def test_construction_errors_are_gnsqs():
    with pytest.raises(ValueError, match="must specify at least one nsqd or lookupd"):
        gnsq.Consumer("t", "c")
    with pytest.raises(TypeError):
        gnsq.Consumer("t", "c", 4150)
    with pytest.raises(ValueError, match="invalid nsqd port"):
        gnsq.Consumer("t", "c", "127.0.0.1:x")
    with pytest.raises(TypeError, match="bogus"):
        gnsq.Consumer("t", "c", "127.0.0.1:4150", bogus=1)
    c = gnsq.Consumer("t", "c", "localhost")
    assert c.nsqd_tcp_addresses == {"localhost:4150"} and c.name == "gnsq.consumer.t.c"
    with pytest.raises(RuntimeError, match="no receivers connected to on_message"):
        c.start()


def test_invalid_names_raise_before_any_connection(nsqd):
    for topic, channel in (("bad topic", "c"), ("t", "bad/channel"), ("x" * 65, "c")):
        c = gnsq.Consumer(topic, channel, nsqd.tcp_address, message_handler=lambda consumer, message: None)
        with pytest.raises(ValueError, match="invalid (topic|channel) name"):
            c.start(block=False)
        assert not c.is_running


def test_unreachable_nsqd_does_not_raise_from_start_and_close_is_prompt():
    from conftest import free_port

    c = gnsq.Consumer("t", "c", "127.0.0.1:%d" % free_port(), message_handler=lambda consumer, message: None)
    c.start(block=False)
    assert c.is_running and not c.is_starved and c.total_in_flight == 0
    t0 = time.monotonic()
    c.close()
    c.join(5)
    assert time.monotonic() - t0 < 5


def run_python(code, timeout=60):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def test_ctrl_c_interrupts_start_block_and_leaves_the_consumer_closable(nsqd, topic):
    proc = run_python("""
        import sys, time, gnsq
        c = gnsq.Consumer(%r, 'ch', %r, message_handler=lambda consumer, message: None)
        print('ready', flush=True)
        try:
            c.start()
        except KeyboardInterrupt:
            t0 = time.monotonic()
            c.close()
            print('interrupted', c.is_running, round(time.monotonic() - t0, 1), flush=True)
    """ % (topic, nsqd.tcp_address))
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # let it reach its wait; the test is that SIGINT ends it, whenever it comes
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert out.strip() == "interrupted False 0.0", err
    assert time.monotonic() - t0 < 5


def test_exit_with_a_live_consumer_and_producer_does_not_hang(nsqd, topic):
    code = """
        import gnsq
        c = gnsq.Consumer(%r, 'ch', %r, message_handler=lambda consumer, message: None)
        c.start(block=False)
        p = gnsq.Producer(%r)
        p.start()
        p.publish(%r, b'x')
        print('ok', flush=True)
    """ % (topic, nsqd.tcp_address, nsqd.tcp_address, topic)
    procs = [run_python(code) for _ in range(20)]
    for proc in procs:
        out, err = proc.communicate(timeout=30)
        assert out.strip() == "ok" and proc.returncode == 0, err


def test_fork_after_use_gives_a_clear_error_in_the_child(nsqd, topic):
    proc = run_python("""
        import os, gnsq
        from gnsq import errors
        p = gnsq.Producer(%r)
        p.start()
        p.publish(%r, b'before fork')
        pid = os.fork()
        if pid == 0:
            try:
                gnsq.Producer(%r).start()
            except errors.NSQException as e:
                os._exit(0 if 'fork' in str(e) else 3)
            os._exit(4)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), p.publish(%r, b'after fork'), flush=True)
    """ % (nsqd.tcp_address, topic, nsqd.tcp_address, topic))
    out, err = proc.communicate(timeout=30)
    assert out.strip() == "0 b'OK'", err


def test_system_exit_in_a_handler_propagates_and_closes_the_consumer(nsqd, topic):
    publish(nsqd, topic, [b"x"])
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address)

    @c.on_message.connect
    def handler(consumer, message):
        raise SystemExit(3)

    with pytest.raises(SystemExit):
        c.start()
    assert not c.is_running
    c.close()  # still fine


def test_handlers_survive_garbage_collection_while_messages_flow(nsqd, topic):
    import gc

    publish(nsqd, topic, [b"%d" % i for i in range(300)])
    got = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=10,
                      message_handler=lambda consumer, message: got.append(message.body))
    c.on_finish.connect(lambda consumer, message_id: None, weak=False)
    c.start(block=False)
    deadline = time.monotonic() + 20
    try:
        while len(got) < 300 and time.monotonic() < deadline:
            gc.collect()
    finally:
        c.close()
    assert len(set(got)) == 300


def test_close_from_a_signal_handler_ends_an_idle_start(nsqd, topic):
    proc = run_python("""
        import signal, time, gnsq
        c = gnsq.Consumer(%r, 'ch', %r, message_handler=lambda consumer, message: None)
        signal.signal(signal.SIGTERM, lambda *args: c.close())
        print('ready', flush=True)
        c.start()  # idle topic: the loop waits on its fd when SIGTERM comes
        print('closed', c.is_running, flush=True)
    """ % (topic, nsqd.tcp_address))
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)  # let it reach its wait; the test is that SIGTERM ends it, whenever it comes
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    assert out.strip() == "closed False", err


def test_works_with_file_descriptors_above_1024(nsqd, topic):
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2100:
        pytest.skip("the fd limit is too low")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 2100), hard))
    filler = [os.open("/dev/null", os.O_RDONLY) for _ in range(1100)]
    try:
        publish(nsqd, topic, [b"a", b"b"])
        got = []
        c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, message_handler=lambda consumer, message: got.append(1))
        run(c, lambda: len(got) == 2)  # select() raised ValueError for an fd above 1024
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_gnsq_style_subclass_overriding_the_handle_methods(nsqd, topic):
    publish(nsqd, topic, [b"x"])
    seen = []

    class MyConsumer(gnsq.Consumer):
        def handle_message(self, conn, message):
            seen.append(("message", str(conn), message.body))
            super().handle_message(conn, message)

        def handle_finish(self, conn, message_id):
            seen.append(("finish", str(conn)))
            super().handle_finish(conn, message_id)

    finished = []
    c = MyConsumer(topic, "ch", nsqd.tcp_address, message_handler=lambda consumer, message: None)
    c.on_finish.connect(lambda consumer, message_id: finished.append(message_id), weak=False)
    run(c, lambda: finished)
    assert seen == [("message", nsqd.tcp_address, b"x"), ("finish", nsqd.tcp_address)]


def test_changing_max_in_flight_at_run_time_is_applied(nsqd, topic):
    publish(nsqd, topic, [b"%d" % i for i in range(5)])
    got = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=5,
                      message_handler=lambda consumer, message: got.append(message))
    c.start(block=False)
    try:
        wait_until(lambda: got)
        c.max_in_flight = 0  # pause, as gnsq's RDY loop would apply
        c.redistribute_ready_state()
        wait_until(lambda: c.total_ready_count == 0)
        c.max_in_flight = 5
        c.redistribute_ready_state()
        wait_until(lambda: len(got) == 5)
    finally:
        c.close()


def test_drain_hands_out_what_was_received_and_loses_nothing(nsqd, topic):
    publish(nsqd, topic, [b"%d" % i for i in range(300)])
    handled, closed = [], []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=50)

    @c.on_message.connect
    def handler(consumer, message):
        handled.append(message.body)
        if len(handled) == 20:
            consumer.drain(timeout=10)  # from a handler: returns at once
            assert consumer.is_running  # the received messages are still handled

    c.on_close.connect(lambda consumer: closed.append(True), weak=False)
    c.start()  # returns when the drain is done
    assert closed == [True] and not c.is_running
    assert len(handled) >= 20
    assert nsqd.in_flight(topic, "ch") == 0  # every received message was handled and finished
    assert nsqd.depth(topic, "ch") == 300 - len(handled)


def test_drain_from_another_thread_waits_for_it(nsqd, topic):
    publish(nsqd, topic, [b"%d" % i for i in range(100)])
    handled = []
    c = gnsq.Consumer(topic, "ch", nsqd.tcp_address, max_in_flight=10,
                      message_handler=lambda consumer, message: handled.append(message.body))
    c.start(block=False)
    wait_until(lambda: len(handled) >= 10)
    c.drain()
    assert not c.is_running
    n = len(handled)
    assert nsqd.in_flight(topic, "ch") == 0 and nsqd.depth(topic, "ch") == 100 - n
    c.close()  # a no-op now
    assert len(handled) == n

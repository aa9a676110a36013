"""libgnsq through Python's ctypes, as the Python package loads it: lazily,
with dlopen(). Run by tests/c/dlopen_test.go with GNSQ_LIBRARY, NSQD_TCP
set. Prints "ok <name>" per test; failures go to stdout, and the Go test
checks that stderr stays empty."""
import ctypes
import os
import struct
import sys
import time

lib = ctypes.CDLL(os.environ["GNSQ_LIBRARY"])
nsqd = os.environ["NSQD_TCP"].encode()

c_p = ctypes.c_void_p
for name, args in {
    "gnsq_last_error": [ctypes.c_char_p, ctypes.c_size_t],
    "gnsq_producer_new": [ctypes.POINTER(c_p), ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, c_p],
    "gnsq_producer_start": [c_p],
    "gnsq_producer_publish": [c_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int64, ctypes.c_int],
    "gnsq_producer_free": [c_p],
    "gnsq_consumer_new": [ctypes.POINTER(c_p), ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                          ctypes.c_size_t, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, c_p],
    "gnsq_consumer_start": [c_p],
    "gnsq_consumer_poll": [c_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t],
    "gnsq_consumer_respond": [c_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t],
    "gnsq_consumer_free": [c_p],
}.items():
    fn = getattr(lib, name)
    fn.argtypes, fn.restype = args, ctypes.c_int

GNSQ_E_FORKED = -20
GNSQ_EV_MESSAGE = 1
EVENT = struct.Struct("<iiQqqIIHHI16s")  # gnsq_event_t, 64 bytes
RESPONSE = struct.Struct("<QiiqII")  # gnsq_response_t, 32 bytes
assert EVENT.size == 64 and RESPONSE.size == 32


def check(rc, want=0):
    if rc != want:
        buf = ctypes.create_string_buffer(4096)
        lib.gnsq_last_error(buf, len(buf))
        print(f"returned {rc}, want {want}: {buf.value.decode()}")
        sys.exit(1)


def addrs():
    return (ctypes.c_char_p * 1)(nsqd)


def test_round_trip():
    topic = f"ctypes_{time.time_ns()}".encode()
    p, c = c_p(), c_p()
    check(lib.gnsq_producer_new(ctypes.byref(p), addrs(), 1, None))
    check(lib.gnsq_producer_start(p))
    check(lib.gnsq_producer_publish(p, topic, b"via ctypes", 10, 0, 5000))
    check(lib.gnsq_consumer_new(ctypes.byref(c), topic, b"ch", addrs(), 1, None, 0, None))
    check(lib.gnsq_consumer_start(c))
    evs, buf = ctypes.create_string_buffer(64 * 16), ctypes.create_string_buffer(4096)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        n = lib.gnsq_consumer_poll(c, evs, 16, 500, buf, len(buf))
        if n < 0:
            check(n)
        for (typ, _code, token, _ts, _value, dlen, doff, attempts, _flags, conn, _id) in EVENT.iter_unpack(evs.raw[: 64 * n]):
            if typ == GNSQ_EV_MESSAGE:
                if buf.raw[doff : doff + dlen] != b"via ctypes" or attempts != 1 or conn == 0:
                    print("unexpected message", buf.raw[doff : doff + dlen], attempts, conn)
                    sys.exit(1)
                check(lib.gnsq_consumer_respond(c, RESPONSE.pack(token, 1, 0, 0, 0, 0), 1, None, 0), 1)
                check(lib.gnsq_consumer_free(c))
                check(lib.gnsq_producer_free(p))
                return
    print("no message within 10 s")
    sys.exit(1)


def test_fork():
    """multiprocessing 'fork' / gunicorn --preload: the child gets
    GNSQ_E_FORKED at once, the parent goes on."""
    p = c_p()
    check(lib.gnsq_producer_new(ctypes.byref(p), addrs(), 1, None))
    check(lib.gnsq_producer_start(p))
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        q = c_p()
        ok = (lib.gnsq_producer_publish(p, b"t", b"x", 1, 0, 5000) == GNSQ_E_FORKED
              and lib.gnsq_producer_new(ctypes.byref(q), addrs(), 1, None) == GNSQ_E_FORKED)
        os._exit(0 if ok else 3)
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.001)
    else:
        os.kill(pid, 9)
        print("the forked child did not finish within 1 s")
        sys.exit(1)
    if os.waitstatus_to_exitcode(status) != 0:
        print("child exit status", status)
        sys.exit(1)
    check(lib.gnsq_producer_publish(p, b"forked_parent", b"x", 1, 0, 5000))
    check(lib.gnsq_producer_free(p))


test_round_trip()
print("ok round_trip")
test_fork()
print("ok fork")

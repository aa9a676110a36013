"""gnsq.protocol and gnsq.states: gnsq 1.0's bytes (the same the library
sends, tests/c/tcp_steps_test.go) and values."""
import json
import struct

import pytest

from gnsq import protocol as nsq
from gnsq import states

MSG_ID = b"0123456789abcdef"


def sized(line, body):
    return line + struct.pack(">l", len(body)) + body


@pytest.mark.parametrize("got, want", [
    (nsq.subscribe("topic", "channel"), b"SUB topic channel\n"),
    (nsq.ready(0), b"RDY 0\n"),
    (nsq.ready(42), b"RDY 42\n"),
    (nsq.finish(MSG_ID), b"FIN " + MSG_ID + b"\n"),
    (nsq.requeue(MSG_ID), b"REQ " + MSG_ID + b" 0\n"),
    (nsq.requeue(MSG_ID, 42), b"REQ " + MSG_ID + b" 42\n"),
    (nsq.touch(MSG_ID), b"TOUCH " + MSG_ID + b"\n"),
    (nsq.close(), b"CLS\n"),
    (nsq.nop(), b"NOP\n"),
    (nsq.publish("topic", b"hello world"), sized(b"PUB topic\n", b"hello world")),
    (nsq.publish("topic", b""), sized(b"PUB topic\n", b"")),
    (nsq.deferpublish("topic", b"later", 1000), sized(b"DPUB topic 1000\n", b"later")),
    (nsq.multipublish("topic", [b"a", b"bc"]),
     sized(b"MPUB topic\n", struct.pack(">l", 2) + sized(b"", b"a") + sized(b"", b"bc"))),
    (nsq.auth("secret"), sized(b"AUTH\n", b"secret")),
    (nsq.identify({"short_id": "x", "feature_negotiation": True}),
     sized(b"IDENTIFY\n", json.dumps({"short_id": "x", "feature_negotiation": True}).encode())),
])
def test_encoders(got, want):
    assert got == want


def test_encoder_errors():
    with pytest.raises(TypeError):
        nsq.publish("topic", "not bytes")
    with pytest.raises(TypeError):
        nsq.multipublish("topic", iter([b"a"]))  # gnsq needs a sized sequence
    with pytest.raises(TypeError):
        nsq.requeue(MSG_ID, 1.5)
    with pytest.raises(TypeError):
        nsq.ready("1")
    with pytest.raises(ValueError):
        nsq.ready(-1)
    with pytest.raises(ValueError, match="invalid topic name"):
        nsq.publish("bad topic", b"x")
    with pytest.raises(ValueError, match="invalid channel name"):
        nsq.subscribe("topic", "")


@pytest.mark.parametrize("name, valid", [
    ("a", True), ("a.b_c-d", True), ("topic#ephemeral", True), ("x" * 64, True),
    ("", False), ("x" * 65, False), ("a b", False), ("a#b", False), ("ünï", False),
])
def test_name_checks(name, valid):
    assert nsq.valid_topic_name(name) is valid
    assert nsq.valid_channel_name(name) is valid


def test_decoders():
    payload = struct.pack(">qh", 1234567890, 3) + MSG_ID + b"body\x00\xff"
    frame = struct.pack(">l", nsq.FRAME_TYPE_MESSAGE) + payload
    assert nsq.unpack_size(struct.pack(">l", 10)) == 10
    assert nsq.unpack_response(frame) == (nsq.FRAME_TYPE_MESSAGE, payload)
    assert nsq.unpack_message(payload) == (1234567890, 3, MSG_ID, b"body\x00\xff")


def test_constants_and_states():
    assert (nsq.MAGIC_V2, nsq.HEARTBEAT, nsq.OK) == (b"  V2", b"_heartbeat_", b"OK")
    assert (nsq.FRAME_TYPE_RESPONSE, nsq.FRAME_TYPE_ERROR, nsq.FRAME_TYPE_MESSAGE) == (0, 1, 2)
    assert [states.INIT, states.CONNECTED, states.DISCONNECTED, states.RUNNING, states.BACKOFF,
            states.THROTTLED, states.CLOSED] == list(range(7))

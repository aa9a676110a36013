"""The NSQ TCP protocol's constants, name checks, encoders and decoders, as
gnsq 1.0's gnsq.protocol has them (byte for byte: gnsq's own tests and
users build and parse frames with these). The client itself speaks the
protocol in libgnsq; this module is for code that does it by hand.
"""
import json
import re
import struct

__all__ = [
    "MAGIC_V2", "NEWLINE", "SPACE", "EMPTY", "HEARTBEAT", "OK",
    "IDENTIFY", "AUTH", "SUB", "PUB", "MPUB", "DPUB", "RDY", "FIN", "REQ", "TOUCH", "CLS", "NOP",
    "FRAME_TYPE_RESPONSE", "FRAME_TYPE_ERROR", "FRAME_TYPE_MESSAGE",
    "valid_topic_name", "valid_channel_name", "assert_valid_topic_name", "assert_valid_channel_name",
    "unpack_size", "unpack_response", "unpack_message",
    "identify", "auth", "subscribe", "publish", "multipublish_body", "multipublish", "deferpublish",
    "ready", "finish", "requeue", "touch", "close", "nop",
]

MAGIC_V2 = b"  V2"
NEWLINE = b"\n"
SPACE = b" "
EMPTY = b""
HEARTBEAT = b"_heartbeat_"
OK = b"OK"

IDENTIFY = b"IDENTIFY"
AUTH = b"AUTH"
SUB = b"SUB"
PUB = b"PUB"
MPUB = b"MPUB"
DPUB = b"DPUB"
RDY = b"RDY"
FIN = b"FIN"
REQ = b"REQ"
TOUCH = b"TOUCH"
CLS = b"CLS"
NOP = b"NOP"

FRAME_TYPE_RESPONSE = 0
FRAME_TYPE_ERROR = 1
FRAME_TYPE_MESSAGE = 2

_NAME = re.compile(r"^[.a-zA-Z0-9_-]+(#ephemeral)?$")


def _valid_name(name):
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    return 0 < len(name) <= 64 and _NAME.match(name) is not None


def valid_topic_name(topic):
    return _valid_name(topic)


def valid_channel_name(channel):
    return _valid_name(channel)


def assert_valid_topic_name(topic):
    if not valid_topic_name(topic):
        raise ValueError("invalid topic name")


def assert_valid_channel_name(channel):
    if not valid_channel_name(channel):
        raise ValueError("invalid channel name")


def unpack_size(data):
    """A frame's big-endian int32 size (or a message count)."""
    return struct.unpack(">l", data)[0]


def unpack_response(data):
    """(frame_type, payload) of a frame without its size prefix."""
    return unpack_size(data[:4]), data[4:]


def unpack_message(data):
    """(timestamp, attempts, id, body) of a message frame's payload."""
    timestamp, attempts = struct.unpack(">qh", data[:10])
    return timestamp, attempts, data[10:26], data[26:]


def _encode(param):
    if isinstance(param, bytes):
        return param
    return str(param).encode("utf-8")


def _sized(body):
    if not isinstance(body, bytes):
        raise TypeError("message body must be a byte string")
    return struct.pack(">l", len(body)) + body


def _command(cmd, body, *params):
    line = SPACE.join((cmd,) + tuple(_encode(p) for p in params)) + NEWLINE
    return line if body is None else line + _sized(body)


def identify(data):
    return _command(IDENTIFY, json.dumps(data).encode("utf-8"))


def auth(secret):
    return _command(AUTH, _encode(secret))


def subscribe(topic_name, channel_name):
    assert_valid_topic_name(topic_name)
    assert_valid_channel_name(channel_name)
    return _command(SUB, None, topic_name, channel_name)


def publish(topic_name, data):
    assert_valid_topic_name(topic_name)
    return _command(PUB, data, topic_name)


def multipublish_body(messages):
    """MPUB's body: the count, then each message size-prefixed."""
    return struct.pack(">l", len(messages)) + EMPTY.join(_sized(m) for m in messages)


def multipublish(topic_name, messages):
    assert_valid_topic_name(topic_name)
    return _command(MPUB, multipublish_body(messages), topic_name)


def deferpublish(topic_name, data, delay_ms):
    assert_valid_topic_name(topic_name)
    return _command(DPUB, data, topic_name, delay_ms)


def ready(count):
    if not isinstance(count, int) or isinstance(count, bool):
        raise TypeError("ready count must be an integer")
    if count < 0:
        raise ValueError("ready count cannot be negative")
    return _command(RDY, None, count)


def finish(message_id):
    return _command(FIN, None, message_id)


def requeue(message_id, timeout=0):
    if not isinstance(timeout, int) or isinstance(timeout, bool):
        raise TypeError("requeue timeout must be an integer")
    return _command(REQ, None, message_id, timeout)


def touch(message_id):
    return _command(TOUCH, None, message_id)


def close():
    return _command(CLS, None)


def nop():
    return _command(NOP, None)

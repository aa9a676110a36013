"""gnsq's NsqdHTTPClient (exported by gnsq.nsqd): nsqd's HTTP API.

JSON answers (stats, info) come back as dicts; the others as bytes (b'OK'
for ping and publishes, b'' for the topic and channel operations). A
non-200 answer raises NSQHttpError('http error <404>: TOPIC_NOT_FOUND').
"""
from . import httpclient as _h
from .errors import NSQException
from .httpclient import HTTPClient, body_bytes
from .protocol import assert_valid_channel_name, assert_valid_topic_name

__all__ = ["NsqdHTTPClient"]


class NsqdHTTPClient(HTTPClient):
    """Low level HTTP client for nsqd."""

    _KIND = _h.KIND_NSQD
    _DEFAULT_PORT = 4151

    def __init__(self, host="localhost", port=4151, **kwargs):
        super().__init__(host, port, **kwargs)

    def publish(self, topic, data, defer=None):
        """Publishes data (bytes) to topic, deferred by defer ms if given."""
        assert_valid_topic_name(topic)
        return self._request(_h.PUBLISH, topic=topic, bodies=[body_bytes(data)], defer_ms=int(defer or 0))

    def multipublish(self, topic, messages, binary=False):
        """Publishes an iterable of messages (bytes) to topic; in text mode
        (the default) a message must not contain b'\\n'."""
        assert_valid_topic_name(topic)
        bodies = [body_bytes(m) for m in messages]
        if not binary and any(b"\n" in b for b in bodies):
            raise NSQException("newlines are not allowed in text mode multipublish; use binary=True")
        return self._request(_h.MULTIPUBLISH_BINARY if binary else _h.MULTIPUBLISH, topic=topic, bodies=bodies)

    def create_topic(self, topic):
        return self._topic_op(_h.CREATE_TOPIC, topic)

    def delete_topic(self, topic):
        return self._topic_op(_h.DELETE_TOPIC, topic)

    def empty_topic(self, topic):
        return self._topic_op(_h.EMPTY_TOPIC, topic)

    def pause_topic(self, topic):
        return self._topic_op(_h.PAUSE_TOPIC, topic)

    def unpause_topic(self, topic):
        return self._topic_op(_h.UNPAUSE_TOPIC, topic)

    def create_channel(self, topic, channel):
        return self._channel_op(_h.CREATE_CHANNEL, topic, channel)

    def delete_channel(self, topic, channel):
        return self._channel_op(_h.DELETE_CHANNEL, topic, channel)

    def empty_channel(self, topic, channel):
        return self._channel_op(_h.EMPTY_CHANNEL, topic, channel)

    def pause_channel(self, topic, channel):
        return self._channel_op(_h.PAUSE_CHANNEL, topic, channel)

    def unpause_channel(self, topic, channel):
        return self._channel_op(_h.UNPAUSE_CHANNEL, topic, channel)

    def stats(self, topic=None, channel=None, text=False):
        """nsqd's stats (a dict; bytes with text=True), optionally of one
        topic or channel only."""
        if topic:
            assert_valid_topic_name(topic)
        if channel:
            assert_valid_channel_name(channel)
        return self._request(_h.STATS_TEXT if text else _h.STATS, topic=topic, channel=channel)

    def ping(self):
        """b'OK', else raises."""
        return self._request(_h.PING)

    def info(self):
        """nsqd's version and settings (a dict)."""
        return self._request(_h.INFO)

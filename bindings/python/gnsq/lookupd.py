"""gnsq's LookupdClient (nsqlookupd's HTTP API) and the deprecated Lookupd.

JSON answers come back as dicts; ping as b'OK' and the registry
operations as b''. A non-200 answer raises NSQHttpError.
"""
import warnings

from . import httpclient as _h
from .decorators import deprecated
from .httpclient import HTTPClient, url_args
from .protocol import assert_valid_topic_name

__all__ = ["LookupdClient", "Lookupd"]


class LookupdClient(HTTPClient):
    """Low level HTTP client for nsqlookupd."""

    _KIND = _h.KIND_LOOKUPD
    _DEFAULT_PORT = 4161

    def __init__(self, host="localhost", port=4161, **kwargs):
        super().__init__(host, port, **kwargs)

    def lookup(self, topic):
        """{'channels': [...], 'producers': [...]} of topic."""
        return self._topic_op(_h.LOOKUP, topic)

    def topics(self):
        """{'topics': [...]}."""
        return self._request(_h.TOPICS)

    def channels(self, topic):
        """{'channels': [...]} of topic."""
        return self._topic_op(_h.CHANNELS, topic)

    def nodes(self):
        """{'producers': [...]}: every known nsqd."""
        return self._request(_h.NODES)

    def create_topic(self, topic):
        return self._topic_op(_h.CREATE_TOPIC, topic)

    def delete_topic(self, topic):
        return self._topic_op(_h.DELETE_TOPIC, topic)

    def create_channel(self, topic, channel):
        return self._channel_op(_h.CREATE_CHANNEL, topic, channel)

    def delete_channel(self, topic, channel):
        return self._channel_op(_h.DELETE_CHANNEL, topic, channel)

    def tombstone_topic(self, topic, node):
        """Tombstones the producer node ('host:http_port') of topic."""
        assert_valid_topic_name(topic)
        return self._request(_h.TOMBSTONE_TOPIC, topic=topic, node=node)

    def ping(self):
        """b'OK', else raises."""
        return self._request(_h.PING)

    def info(self):
        """nsqlookupd's version (a dict)."""
        return self._request(_h.INFO)


class Lookupd(LookupdClient):
    """Deprecated: use LookupdClient (or LookupdClient.from_url)."""

    def __init__(self, address="http://localhost:4161/", **kwargs):
        warnings.warn("Lookupd is deprecated, use LookupdClient instead", DeprecationWarning, stacklevel=2)
        host, port, kwargs = url_args(address, kwargs)
        super().__init__(host, port, **kwargs)

    @property
    @deprecated
    def base_url(self):
        """Lookupd.base_url is deprecated, use LookupdClient.address instead."""
        return self.address

    @deprecated
    def tombstone_topic_producer(self, topic, node):
        """Lookupd.tombstone_topic_producer is deprecated, use LookupdClient.tombstone_topic instead."""
        return self.tombstone_topic(topic, node)

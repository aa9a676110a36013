"""gnsq.nsqd: NsqdTCPClient, NsqdHTTPClient and the deprecated Nsqd."""
import warnings

from ._nsqd_http import NsqdHTTPClient
from ._nsqd_tcp import HOSTNAME, SHORTNAME, NsqdTCPClient
from .decorators import deprecated

__all__ = ["NsqdTCPClient", "NsqdHTTPClient", "Nsqd", "HOSTNAME", "SHORTNAME"]


class Nsqd:
    """Use NsqdTCPClient or NsqdHTTPClient instead (deprecated in gnsq 1.0).

    publish/multipublish go over TCP while that client is connected, else
    over HTTP; any other attribute is looked up on the TCP client, then on
    the HTTP client."""

    def __init__(self, address="127.0.0.1", tcp_port=4150, http_port=4151, **kwargs):
        warnings.warn("Nsqd is deprecated, use NsqdTCPClient or NsqdHTTPClient", DeprecationWarning, stacklevel=2)
        self.address, self.tcp_port, self.http_port = address, tcp_port, http_port
        self.__tcp_client = NsqdTCPClient(address, tcp_port, **kwargs)
        self.__http_client = NsqdHTTPClient(address, http_port)

    @property
    def base_url(self):
        return "http://%s:%s/" % (self.address, self.http_port)

    def __getattr__(self, name):
        for client in (self.__tcp_client, self.__http_client):
            try:
                return getattr(client, name)
            except AttributeError:
                pass
        raise AttributeError("%r object has no attribute %r" % (type(self).__name__, name))

    def publish(self, topic, data, *args, **kwargs):
        if self.__tcp_client.is_connected:
            return self.__tcp_client.publish(topic, data, *args, **kwargs)
        return self.__http_client.publish(topic, data, *args, **kwargs)

    def multipublish(self, topic, messages, *args, **kwargs):
        if self.__tcp_client.is_connected:
            return self.__tcp_client.multipublish(topic, messages, *args, **kwargs)
        return self.__http_client.multipublish(topic, messages, *args, **kwargs)

    @deprecated
    def publish_tcp(self, topic, data, **kwargs):
        """Use NsqdTCPClient.publish instead."""
        return self.__tcp_client.publish(topic, data, **kwargs)

    @deprecated
    def publish_http(self, topic, data, **kwargs):
        """Use NsqdHTTPClient.publish instead."""
        return self.__http_client.publish(topic, data, **kwargs)

    @deprecated
    def multipublish_tcp(self, topic, messages, **kwargs):
        """Use NsqdTCPClient.multipublish instead."""
        return self.__tcp_client.multipublish(topic, messages, **kwargs)

    @deprecated
    def multipublish_http(self, topic, messages, **kwargs):
        """Use NsqdHTTPClient.multipublish instead."""
        return self.__http_client.multipublish(topic, messages, **kwargs)

    def __str__(self):
        return "%s:%s" % (self.address, self.tcp_port)

    def __hash__(self):
        return hash(str(self))

    def __eq__(self, other):
        return str(self) == str(other)

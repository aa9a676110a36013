"""gnsq's keyword arguments -> libgnsq config keys (docs/config.md).

The connection keywords are NsqdTCPClient's; Consumer and Producer pass
their **kwargs through to it, as gnsq does. Units are gnsq's, which are
also the library's (timeout and heartbeat_interval in seconds,
output_buffer_timeout and requeue_delay in ms). Unknown keywords raise
TypeError when the object is created (gnsq only failed at start())."""
import ssl

from . import version

# NsqdTCPClient's keywords with their gnsq defaults (None: the library's).
TCP_DEFAULTS = {
    "timeout": 60.0,
    "client_id": None,
    "hostname": None,
    "heartbeat_interval": 30,
    "output_buffer_size": 16384,
    "output_buffer_timeout": 250,
    "tls_v1": False,
    "tls_options": None,
    "snappy": False,
    "deflate": False,
    "deflate_level": 6,
    "sample_rate": 0,
    "auth_secret": None,
    "user_agent": version.USERAGENT,
}

# gnsq's tls_options (arguments of ssl.wrap_socket) -> config keys.
_TLS_KEYS = {"keyfile": "tls_key_file", "certfile": "tls_cert_file", "ca_certs": "tls_ca_file",
             "server_hostname": "tls_server_name"}


def check_tcp_kwargs(owner, kwargs):
    """Raises TypeError for a keyword NsqdTCPClient does not take."""
    for key in kwargs:
        if key not in TCP_DEFAULTS:
            raise TypeError("%s() got an unexpected keyword argument %r" % (owner, key))


def _text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return str(value)


def tls_items(options):
    """Config items for gnsq's tls_options dict. Certificates are verified
    unless cert_reqs is ssl.CERT_NONE (gnsq never verified)."""
    items = []
    for key, value in (options or {}).items():
        if key in _TLS_KEYS:
            if value is not None:
                items.append((_TLS_KEYS[key], _text(value)))
        elif key == "cert_reqs":
            items.append(("tls_insecure_skip_verify", _text(value == ssl.CERT_NONE)))
        elif key != "ssl_version":  # the library negotiates TLS 1.2 or newer
            raise ValueError("unsupported tls_options key %r" % key)
    return items


def config_items(kwargs, **extra):
    """(key, value-text) pairs for Config, from connection keywords plus
    the object's own settings (extra); None values keep the default."""
    items = []
    for key, value in list(kwargs.items()) + list(extra.items()):
        if value is None:
            continue
        if key == "tls_options":
            items.extend(tls_items(value))
        else:
            items.append((key, _text(value)))
    return items

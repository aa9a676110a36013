"""gnsq.util: address parsing with gnsq 1.0's rules and errors."""
__all__ = ["normalize_nsqd_address", "parse_nsqds", "parse_lookupds"]


def normalize_nsqd_address(address):
    """'host[:port]' -> 'host:port' (port 4150 by default)."""
    if not isinstance(address, str):
        raise TypeError("nsqd address must be a string")
    host, sep, port = address.rpartition(":")
    if not sep:
        host, port = address, "4150"
    try:
        port = int(port)
    except ValueError:
        raise ValueError("invalid nsqd port")
    return "%s:%d" % (host, port)


def parse_nsqds(nsqd_tcp_addresses):
    """A str or a list/tuple/set of addresses -> a set of 'host:port'."""
    if isinstance(nsqd_tcp_addresses, str):
        return {normalize_nsqd_address(nsqd_tcp_addresses)}
    if isinstance(nsqd_tcp_addresses, (list, tuple, set, frozenset)):
        return {normalize_nsqd_address(a) for a in nsqd_tcp_addresses}
    raise TypeError("nsqd_tcp_addresses must be a list, set or tuple")


def parse_lookupds(lookupd_http_addresses):
    """A str or a list/tuple/set of URLs -> a list of LookupdClient, shuffled
    (gnsq rejected a set despite its error message; a set works here)."""
    import random

    from .lookupd import LookupdClient

    if isinstance(lookupd_http_addresses, str):
        return [LookupdClient.from_url(lookupd_http_addresses)]
    if not isinstance(lookupd_http_addresses, (list, tuple, set, frozenset)):
        raise TypeError("lookupd_http_addresses must be a list, set or tuple")
    lookupds = [LookupdClient.from_url(a) for a in lookupd_http_addresses]
    random.shuffle(lookupds)
    return lookupds

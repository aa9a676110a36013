"""gnsq 1.0's API over libgnsq, an NSQ client written in Go, through its C
ABI: a drop-in replacement for ``import gnsq`` (same modules, classes,
signatures, blinker signals and errors), with threads or under gevent.

The library is loaded on first use, never at import (see gnsq._ffi).
"""
from . import errors, protocol, states  # noqa: F401  (gnsq's own tests import them from here)
from .backofftimer import BackoffTimer
from .consumer import Consumer
from .lookupd import Lookupd, LookupdClient
from .message import Message
from .nsqd import Nsqd, NsqdHTTPClient, NsqdTCPClient
from .producer import Producer
from .reader import Reader
from .version import __version__

__author__ = "libgnsq authors (API of gnsq by Trevor Olson)"
__email__ = ""
__all__ = ["Consumer", "Reader", "Producer", "Nsqd", "NsqdTCPClient", "NsqdHTTPClient", "Lookupd", "LookupdClient",
           "Message", "BackoffTimer"]

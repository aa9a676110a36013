"""gnsq 1.0's API over libgnsq (the NSQ client written in Go, through its C ABI).

Work in progress (issue 8): the library's C functions (gnsq._ffi, loaded
lazily), gnsq.errors, gnsq.protocol and gnsq.states are in place; the
client classes are not yet.
"""
from . import errors, protocol, states

__version__ = "1.0.2"  # the gnsq API this package mirrors; libgnsq's own version is separate

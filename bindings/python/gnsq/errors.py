"""gnsq 1.0's exception classes, with the same names, bases and args.

nsqd's error frames map to NSQErrorCode subclasses through ERROR_CODES
(bytes codes) and make_error(); unknown codes give a plain, fatal
NSQErrorCode. NSQLibraryForkedError is this package's own: the library
was loaded before the process forked (see gnsq._ffi).
"""
import socket

__all__ = [
    "NSQException", "NSQRequeueMessage", "NSQNoConnections", "NSQHttpError", "NSQSocketError",
    "NSQFrameError", "NSQLibraryForkedError", "NSQErrorCode", "NSQInvalid", "NSQBadBody", "NSQBadTopic",
    "NSQBadChannel", "NSQBadMessage", "NSQPutFailed", "NSQPubFailed", "NSQMPubFailed", "NSQAuthDisabled",
    "NSQAuthFailed", "NSQUnauthorized", "NSQFinishFailed", "NSQRequeueFailed", "NSQTouchFailed",
    "ERROR_CODES", "make_error",
]


class NSQException(Exception):
    pass


class NSQRequeueMessage(NSQException):
    """Raised by a handler to requeue its message; backoff None follows
    the consumer's backoff_on_requeue."""

    def __init__(self, backoff=None):
        super().__init__()
        self.backoff = backoff


class NSQNoConnections(NSQException):
    pass


class NSQHttpError(NSQException):
    pass


class NSQSocketError(socket.error, NSQException):
    pass


class NSQFrameError(NSQException):
    pass


class NSQLibraryForkedError(NSQException):
    """libgnsq was loaded before this process forked and cannot be used here."""


class NSQErrorCode(NSQException):
    fatal = True


class NSQInvalid(NSQErrorCode):
    """E_INVALID"""


class NSQBadBody(NSQErrorCode):
    """E_BAD_BODY"""


class NSQBadTopic(NSQErrorCode):
    """E_BAD_TOPIC"""


class NSQBadChannel(NSQErrorCode):
    """E_BAD_CHANNEL"""


class NSQBadMessage(NSQErrorCode):
    """E_BAD_MESSAGE"""


class NSQPutFailed(NSQErrorCode):
    """E_PUT_FAILED"""


class NSQPubFailed(NSQErrorCode):
    """E_PUB_FAILED"""


class NSQMPubFailed(NSQErrorCode):
    """E_MPUB_FAILED"""


class NSQAuthDisabled(NSQErrorCode):
    """E_AUTH_DISABLED"""


class NSQAuthFailed(NSQErrorCode):
    """E_AUTH_FAILED"""


class NSQUnauthorized(NSQErrorCode):
    """E_UNAUTHORIZED"""


class NSQFinishFailed(NSQErrorCode):
    """E_FIN_FAILED"""

    fatal = False


class NSQRequeueFailed(NSQErrorCode):
    """E_REQ_FAILED"""

    fatal = False


class NSQTouchFailed(NSQErrorCode):
    """E_TOUCH_FAILED"""

    fatal = False


ERROR_CODES = {
    b"E_INVALID": NSQInvalid,
    b"E_BAD_BODY": NSQBadBody,
    b"E_BAD_TOPIC": NSQBadTopic,
    b"E_BAD_CHANNEL": NSQBadChannel,
    b"E_BAD_MESSAGE": NSQBadMessage,
    b"E_PUT_FAILED": NSQPutFailed,
    b"E_PUB_FAILED": NSQPubFailed,
    b"E_MPUB_FAILED": NSQMPubFailed,
    b"E_AUTH_DISABLED": NSQAuthDisabled,
    b"E_AUTH_FAILED": NSQAuthFailed,
    b"E_UNAUTHORIZED": NSQUnauthorized,
    b"E_FIN_FAILED": NSQFinishFailed,
    b"E_FINISH_FAILED": NSQFinishFailed,
    b"E_REQ_FAILED": NSQRequeueFailed,
    b"E_REQUEUE_FAILED": NSQRequeueFailed,
    b"E_TOUCH_FAILED": NSQTouchFailed,
}


def make_error(data):
    """The exception for an nsqd error frame: b'E_INVALID cannot SUB' ->
    NSQInvalid(b'cannot SUB'); an unknown code -> NSQErrorCode(data)."""
    parts = data.split(None, 1)
    if not parts or parts[0] not in ERROR_CODES:
        return NSQErrorCode(data)
    return ERROR_CODES[parts[0]](parts[1] if len(parts) > 1 else b"")

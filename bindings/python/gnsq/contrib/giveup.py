"""gnsq.contrib.giveup: handlers for on_giving_up.

Unlike gnsq 1.0.2 the log handlers work on Python 3 (bytes bodies and ids
are decoded as UTF-8, undecodable bytes as backslash escapes)."""
import itertools
import json
import sys

from ..nsqd import NsqdHTTPClient

__all__ = ["LogGiveupHandler", "JSONLogGiveupHandler", "NsqdGiveupHandler"]


def _text(data):
    return data.decode("utf-8", "backslashreplace") if isinstance(data, bytes) else str(data)


class LogGiveupHandler:
    """Writes each given-up message's body to log (a write function), one
    per line. Override format_message() to change what is written."""

    def __init__(self, log=sys.stdout.write, newline="\n"):
        self.log = log
        self.newline = newline

    def format_message(self, message):
        return _text(message.body)

    def __call__(self, consumer, message):
        self.log(self.format_message(message) + self.newline)


class JSONLogGiveupHandler(LogGiveupHandler):
    """Writes each given-up message as a JSON object (timestamp, attempts,
    id, body)."""

    def format_message(self, message):
        return json.dumps({"timestamp": message.timestamp, "attempts": message.attempts,
                           "id": _text(message.id), "body": _text(message.body)})


class NsqdGiveupHandler:
    """Publishes each given-up message's body to topic over nsqd's HTTP API,
    round-robin over nsqd_hosts. Override format_message() to change what
    is published."""

    def __init__(self, topic, nsqd_hosts=["localhost"], nsqd_class=NsqdHTTPClient):
        if not nsqd_hosts:
            raise ValueError("at least one nsqd host is required")
        self.topic = topic
        self.nsqds = itertools.cycle([nsqd_class(host) for host in nsqd_hosts])

    def format_message(self, message):
        return message.body

    def __call__(self, consumer, message):
        next(self.nsqds).publish(self.topic, self.format_message(message))

"""gnsq.contrib.sentry: report handler exceptions to Sentry."""

__all__ = ["SentryExceptionHandler"]


class SentryExceptionHandler:
    """For on_exception: reports the exception being handled with the
    message's details. client is a raven client (captureException), or
    anything with sentry_sdk's capture_exception(error)."""

    def __init__(self, client):
        self.client = client

    def message_extra(self, message):
        return {"id": message.id, "timestamp": message.timestamp, "attempts": message.attempts,
                "body": message.body}

    def __call__(self, consumer, message, error):
        extra = {"message": self.message_extra(message)}
        if hasattr(self.client, "captureException"):
            self.client.captureException(extra=extra)
        else:
            self.client.capture_exception(error)

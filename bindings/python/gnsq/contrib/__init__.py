"""gnsq.contrib: handlers for common patterns (batch, giveup, queue, sentry)."""

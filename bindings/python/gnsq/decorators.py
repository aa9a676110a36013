"""gnsq.decorators: cached_property and deprecated."""
import functools
import warnings

__all__ = ["cached_property", "deprecated"]


class cached_property:
    """A property computed once per instance, then stored on it."""

    def __init__(self, func):
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj, cls):
        if obj is None:
            return self
        value = obj.__dict__[self.func.__name__] = self.func(obj)
        return value


def deprecated(fn):
    """Marks fn deprecated: each call warns with DeprecationWarning, using
    the first line of fn's docstring as the message."""
    message = (fn.__doc__ or "%s is deprecated" % fn.__name__).strip().split("\n")[0]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        warnings.warn(message, DeprecationWarning, stacklevel=2)
        return fn(*args, **kwargs)

    return wrapper

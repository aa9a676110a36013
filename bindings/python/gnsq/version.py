"""Versions: the gnsq API this package mirrors, and the package itself."""
__version__ = "1.0.2"  # gnsq's API version (gnsq.__version__)
PACKAGE_VERSION = "0.1.0"  # the libgnsq distribution; the library reports its own (gnsq_version_str)
# Sent in IDENTIFY and as the HTTP User-Agent: gnsq's, plus who really speaks.
USERAGENT = "gnsq/%s libgnsq/%s" % (__version__, PACKAGE_VERSION)

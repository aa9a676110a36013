"""gnsq._ffi: every C function declared once, the library loaded lazily
and refused in a child forked after loading. Run by ./build.sh test
(PYTHONPATH=bindings/python, the library bundled by build.sh)."""
import ctypes
import os
import re
import subprocess
import sys
import textwrap

import pytest

import gnsq
from gnsq import _ffi, errors

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = os.path.join(ROOT, "include", "gnsq.h")


def exported_symbols():
    out = subprocess.run(["nm", "-D", "--defined-only", _ffi.library_path()], check=True,
                         capture_output=True, text=True).stdout
    return {line.split()[2] for line in out.splitlines() if len(line.split()) == 3 and line.split()[2].startswith("gnsq_")}


def header_prototypes():
    with open(HEADER) as f:
        src = f.read()
    return {name: params for name, params in re.findall(r"(?ms)^(?:int|const char \*)\s*(gnsq_\w+)\((.*?)\);", src)}


def test_every_export_is_declared_once_with_the_headers_arity():
    protos = header_prototypes()
    assert set(_ffi.SIGNATURES) == exported_symbols() == set(protos)
    for name, (_, argtypes) in _ffi.SIGNATURES.items():
        params = protos[name].strip()
        arity = 0 if params == "void" else params.count(",") + 1
        assert len(argtypes) == arity, name


def run_python(code, **env):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=dict(os.environ, **env), timeout=60)


def test_import_does_not_load_the_library():
    r = run_python("""
        import gnsq, gnsq.errors, gnsq._ffi
        maps = open('/proc/self/maps').read()
        assert 'libgnsq' not in maps, 'loaded at import'
        assert gnsq._ffi.lib().gnsq_version() > 0
        assert 'libgnsq' in open('/proc/self/maps').read()
        print('ok')
    """)
    assert r.stdout.strip() == "ok", r.stderr


def test_a_child_forked_after_loading_gets_a_clear_error_at_once():
    r = run_python("""
        import os, time
        from gnsq import _ffi, errors
        _ffi.lib()
        pid = os.fork()
        if pid == 0:
            t0 = time.monotonic()
            try:
                _ffi.lib()
            except errors.NSQLibraryForkedError as e:
                ok = 'fork' in str(e) and time.monotonic() - t0 < 1
                os._exit(0 if ok else 3)
            os._exit(4)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert _ffi.lib().gnsq_version() > 0  # the parent goes on
        print('ok')
    """)
    assert r.stdout.strip() == "ok", r.stderr


def test_a_child_forked_before_loading_can_use_the_library():
    r = run_python("""
        import os
        from gnsq import _ffi
        pid = os.fork()
        if pid == 0:
            os._exit(0 if _ffi.lib().gnsq_version() > 0 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        print('ok')
    """)
    assert r.stdout.strip() == "ok", r.stderr


def test_gnsq_library_overrides_the_bundled_file():
    r = run_python("""
        from gnsq import _ffi, errors
        try:
            _ffi.lib()
        except errors.NSQException as e:
            print('refused:', e)
    """, GNSQ_LIBRARY="/nonexistent/libgnsq.so.0")
    assert r.stdout.startswith("refused: cannot load libgnsq from /nonexistent/libgnsq.so.0"), r.stdout + r.stderr


def test_version_mirrors_gnsq():
    assert gnsq.__version__ == "1.0.2"


@pytest.mark.parametrize("frame, cls, args, fatal", [
    (b"E_INVALID cannot SUB in current state", errors.NSQInvalid, (b"cannot SUB in current state",), True),
    (b"E_BAD_TOPIC PUB topic name \"a b\" is not valid", errors.NSQBadTopic, (b"PUB topic name \"a b\" is not valid",), True),
    (b"E_FIN_FAILED FIN 0a0b failed", errors.NSQFinishFailed, (b"FIN 0a0b failed",), False),
    (b"E_REQUEUE_FAILED x", errors.NSQRequeueFailed, (b"x",), False),
    (b"E_TOUCH_FAILED x", errors.NSQTouchFailed, (b"x",), False),
    (b"E_AUTH_FIRST AUTH required", errors.NSQErrorCode, (b"E_AUTH_FIRST AUTH required",), True),
])
def test_make_error(frame, cls, args, fatal):
    e = errors.make_error(frame)
    assert type(e) is cls and e.args == args and e.fatal is fatal


def test_error_hierarchy():
    assert issubclass(errors.NSQSocketError, OSError) and issubclass(errors.NSQSocketError, errors.NSQException)
    assert issubclass(errors.NSQLibraryForkedError, errors.NSQException)
    assert errors.NSQRequeueMessage().backoff is None and errors.NSQRequeueMessage(backoff=True).backoff is True
    for code, cls in errors.ERROR_CODES.items():
        assert isinstance(code, bytes) and issubclass(cls, errors.NSQErrorCode)


def test_library_errors_become_gnsq_exceptions():
    lib = _ffi.lib()
    cfg = ctypes.c_void_p()
    _ffi.check(lib.gnsq_config_new(ctypes.byref(cfg)))
    try:
        with pytest.raises(ValueError, match="max_in_flight"):
            _ffi.check(lib.gnsq_config_set(cfg, b"max_in_flight", b"-1"))
        with pytest.raises(errors.NSQException, match="invalid config handle"):
            _ffi.check(lib.gnsq_config_set(ctypes.c_void_p(12345), b"max_in_flight", b"1"))
    finally:
        _ffi.check(lib.gnsq_config_free(cfg))


@pytest.mark.parametrize("code, detail, cls, args", [
    (_ffi.E_NSQ, b"E_BAD_TOPIC PUB topic name is not valid", errors.NSQBadTopic, (b"PUB topic name is not valid",)),
    (_ffi.E_NSQ_NONFATAL, b"E_FIN_FAILED FIN x failed", errors.NSQFinishFailed, (b"FIN x failed",)),
    (_ffi.E_AUTH, b"E_AUTH_FAILED AUTH failed", errors.NSQAuthFailed, (b"AUTH failed",)),
    (_ffi.E_AUTH, b"gnsq: nsqd requires AUTH", errors.NSQException, ("gnsq: nsqd requires AUTH",)),
    (_ffi.E_NO_CONNECTIONS, b"none connected", errors.NSQNoConnections, ("none connected",)),
    (_ffi.E_HTTP, b"http error 404", errors.NSQHttpError, ("http error 404",)),
    (_ffi.E_CONNECTION, b"refused", errors.NSQSocketError, ("refused",)),
    (_ffi.E_PROTOCOL, b"bad frame", errors.NSQFrameError, ("bad frame",)),
    (_ffi.E_FORKED, b"forked", errors.NSQLibraryForkedError, ("forked",)),
    (_ffi.E_CLOSED, b"producer closed", errors.NSQException, ("producer closed",)),
])
def test_error_for(code, detail, cls, args):
    e = _ffi.error_for(code, detail)
    assert type(e) is cls and e.args == args

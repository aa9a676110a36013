package main

/*
#include <stddef.h>
#include "gnsq.h"
void libgnsq_set_detail(const char *msg, size_t n);
*/
import "C"

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime/debug"
	"unsafe"

	gnsq "github.com/libgnsq/libgnsq/core"
)

// setDetail stores text as the calling thread's last error detail.
func setDetail(text string) {
	if text == "" {
		C.libgnsq_set_detail(nil, 0)
		return
	}
	b := []byte(text)
	C.libgnsq_set_detail((*C.char)(unsafe.Pointer(&b[0])), C.size_t(len(b)))
}

// fail records err's text and returns its code.
func fail(err error) C.int {
	setDetail(err.Error())
	return codeOf(err)
}

// failCode records a detail for a code decided by the C layer itself.
func failCode(code C.int, format string, args ...any) C.int {
	setDetail(fmt.Sprintf(format, args...))
	return code
}

// codeOf maps a core error to its GNSQ_E_* code (the one place that does).
func codeOf(err error) C.int {
	var (
		ine     *gnsq.InvalidNameError
		iae     *gnsq.InvalidArgumentError
		se      *gnsq.ServerError
		pe      *gnsq.ProtocolError
		he      *gnsq.HTTPError
		ua      x509.UnknownAuthorityError
		hn      x509.HostnameError
		ci      x509.CertificateInvalidError
		rec     tls.RecordHeaderError
		alrt    tls.AlertError
		ne      net.Error
		pathErr *os.PathError
	)
	switch {
	case err == nil:
		return C.GNSQ_OK
	case errors.As(err, &ine), errors.As(err, &iae):
		return C.GNSQ_E_INVALID_ARG
	case errors.Is(err, gnsq.ErrClosed):
		return C.GNSQ_E_CLOSED
	case errors.Is(err, gnsq.ErrNoConnections):
		return C.GNSQ_E_NO_CONNECTIONS
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return C.GNSQ_E_TIMEOUT
	case errors.Is(err, gnsq.ErrNotRunning):
		return C.GNSQ_E_NOT_RUNNING
	case errors.Is(err, gnsq.ErrAlreadyResponded):
		return C.GNSQ_E_ALREADY_RESPONDED
	case errors.Is(err, gnsq.ErrAuthRequired):
		return C.GNSQ_E_AUTH
	case errors.Is(err, gnsq.ErrTLSNotSupported), errors.As(err, &ua), errors.As(err, &hn),
		errors.As(err, &ci), errors.As(err, &rec), errors.As(err, &alrt):
		return C.GNSQ_E_TLS
	case errors.As(err, &se):
		switch {
		case !se.Fatal():
			return C.GNSQ_E_NSQ_NONFATAL
		case errors.Is(se, gnsq.ErrAuthFailed), errors.Is(se, gnsq.ErrAuthError),
			errors.Is(se, gnsq.ErrAuthDisabled), errors.Is(se, gnsq.ErrAuthFirst), errors.Is(se, gnsq.ErrUnauthorized):
			return C.GNSQ_E_AUTH
		}
		return C.GNSQ_E_NSQ
	case errors.As(err, &pe):
		return C.GNSQ_E_PROTOCOL
	case errors.As(err, &he):
		return C.GNSQ_E_HTTP
	case errors.Is(err, gnsq.ErrConnectionClosed), errors.Is(err, gnsq.ErrNotConnected):
		return C.GNSQ_E_CONNECTION
	case errors.As(err, &ne):
		if ne.Timeout() {
			return C.GNSQ_E_TIMEOUT
		}
		return C.GNSQ_E_CONNECTION
	case errors.As(err, &pathErr):
		return C.GNSQ_E_IO
	}
	return C.GNSQ_E_CONNECTION
}

// recoverInto turns a panic in an export into GNSQ_E_INTERNAL; use as
// defer recoverInto(&rc).
func recoverInto(rc *C.int) {
	if r := recover(); r != nil {
		*rc = failCode(C.GNSQ_E_INTERNAL, "libgnsq internal error: %v\n%s", r, debug.Stack())
	}
}

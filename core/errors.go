package gnsq

import (
	"errors"
	"fmt"
	"strings"
)

// Errors that are not sent by nsqd. Compare with errors.Is.
var (
	// ErrNotConnected: the connection is not (or no longer) open.
	ErrNotConnected = errors.New("gnsq: not connected")
	// ErrNoConnections: no nsqd connection was available for a publish
	// within the caller's wait (gnsq's NSQNoConnections).
	ErrNoConnections = errors.New("gnsq: no connections")
	// ErrNotRunning: the producer or consumer was never started.
	ErrNotRunning = errors.New("gnsq: not running")
	// ErrClosed: the object was closed; also the outcome of every publish
	// still outstanding when Close was called.
	ErrClosed = errors.New("gnsq: closed")
	// ErrConnectionClosed: the connection died while a publish was
	// outstanding. The server may or may not have received it.
	ErrConnectionClosed = errors.New("gnsq: connection closed")
	// ErrAuthRequired: nsqd requires AUTH but no auth_secret is configured.
	ErrAuthRequired = errors.New("gnsq: nsqd requires auth but no auth_secret is set")
	// ErrTLSNotSupported: tls_v1 was requested but nsqd did not agree to
	// TLS; the client never falls back to plaintext.
	ErrTLSNotSupported = errors.New("gnsq: tls_v1 requested but nsqd does not offer TLS")
)

// InvalidNameError is returned, before any byte is sent, for a topic or
// channel name that NSQ would reject (or that could inject a command).
type InvalidNameError struct {
	Kind string // "topic" or "channel"
	Name string
}

func (e *InvalidNameError) Error() string {
	return fmt.Sprintf("gnsq: invalid %s name %q", e.Kind, e.Name)
}

// InvalidArgumentError reports a bad argument detected locally.
type InvalidArgumentError struct{ Reason string }

func (e *InvalidArgumentError) Error() string { return "gnsq: invalid argument: " + e.Reason }

// ProtocolError reports bytes from the server that break the NSQ protocol
// (bad frame size, unknown frame type, truncated message, bad JSON). The
// connection that produced it is closed.
type ProtocolError struct{ Reason string }

func (e *ProtocolError) Error() string { return "gnsq: protocol error: " + e.Reason }

// ServerError is an error frame from nsqd, "<Code> <Detail>". Use
// errors.Is(err, gnsq.ErrBadTopic) and friends to test the code.
type ServerError struct {
	Code   string // e.g. "E_BAD_TOPIC"
	Detail string // the rest of nsqd's text
}

func (e *ServerError) Error() string {
	if e.Detail == "" {
		return e.Code
	}
	return e.Code + " " + e.Detail
}

// Fatal reports whether nsqd closes the connection after this error. Only
// E_FIN_FAILED, E_REQ_FAILED and E_TOUCH_FAILED (and their old long names)
// leave it open.
func (e *ServerError) Fatal() bool {
	switch e.Code {
	case "E_FIN_FAILED", "E_FINISH_FAILED", "E_REQ_FAILED", "E_REQUEUE_FAILED", "E_TOUCH_FAILED":
		return false
	}
	return true
}

// Is matches another *ServerError with the same Code and an empty Detail,
// so the sentinel values below work with errors.Is.
func (e *ServerError) Is(target error) bool {
	t, ok := target.(*ServerError)
	return ok && t.Detail == "" && t.Code == e.Code
}

// Sentinels for every error code nsqd v1.3.0 sends.
var (
	ErrInvalid        = &ServerError{Code: "E_INVALID"}
	ErrBadBody        = &ServerError{Code: "E_BAD_BODY"}
	ErrBadTopic       = &ServerError{Code: "E_BAD_TOPIC"}
	ErrBadChannel     = &ServerError{Code: "E_BAD_CHANNEL"}
	ErrBadMessage     = &ServerError{Code: "E_BAD_MESSAGE"}
	ErrPubFailed      = &ServerError{Code: "E_PUB_FAILED"}
	ErrMPubFailed     = &ServerError{Code: "E_MPUB_FAILED"}
	ErrDPubFailed     = &ServerError{Code: "E_DPUB_FAILED"}
	ErrSubFailed      = &ServerError{Code: "E_SUB_FAILED"}
	ErrIdentifyFailed = &ServerError{Code: "E_IDENTIFY_FAILED"}
	ErrAuthFirst      = &ServerError{Code: "E_AUTH_FIRST"}
	ErrAuthFailed     = &ServerError{Code: "E_AUTH_FAILED"}
	ErrAuthError      = &ServerError{Code: "E_AUTH_ERROR"}
	ErrAuthDisabled   = &ServerError{Code: "E_AUTH_DISABLED"}
	ErrUnauthorized   = &ServerError{Code: "E_UNAUTHORIZED"}
	ErrFinFailed      = &ServerError{Code: "E_FIN_FAILED"}
	ErrReqFailed      = &ServerError{Code: "E_REQ_FAILED"}
	ErrTouchFailed    = &ServerError{Code: "E_TOUCH_FAILED"}
)

// parseServerError turns the data of an error frame into a *ServerError.
// Only the first token is the code (nsqd repeats it in some MPUB errors).
func parseServerError(data []byte) *ServerError {
	s := string(data)
	code, detail, _ := strings.Cut(s, " ")
	return &ServerError{Code: code, Detail: detail}
}

// HTTPError is a non-2xx answer from nsqd's or nsqlookupd's HTTP API.
type HTTPError struct {
	StatusCode int
	Message    string // nsqd's {"message": ...} text, or the raw body
}

func (e *HTTPError) Error() string {
	if e.Message == "" {
		return fmt.Sprintf("gnsq: http error %d", e.StatusCode)
	}
	return fmt.Sprintf("gnsq: http error %d: %s", e.StatusCode, e.Message)
}

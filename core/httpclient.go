package gnsq

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultHTTPTimeout bounds each request of NsqdHTTPClient and
// LookupdClient unless their Timeout field is changed.
const DefaultHTTPTimeout = 30 * time.Second

// httpAccept asks nsqd/nsqlookupd for the unwrapped v1 JSON format.
const httpAccept = "application/vnd.nsq; version=1.0"

// maxHTTPResponse caps a response body (stats of a large nsqd are a few
// MiB); maxHTTPErrorBody caps what is kept of an error body.
const (
	maxHTTPResponse  = 64 << 20
	maxHTTPErrorBody = 64 << 10
)

// defaultHTTPClient is shared by every client that has no HTTPClient of
// its own, so keep-alive connections are pooled per process.
var defaultHTTPClient = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}

// httpAddr is where an HTTPEndpoint sends its requests.
type httpAddr struct {
	scheme string // "http" or "https"
	host   string
	port   int
}

// newHTTPAddr applies gnsq's defaults: host "localhost", port
// defaultPort when host is empty or port <= 0.
func newHTTPAddr(host string, port, defaultPort int) httpAddr {
	if host == "" {
		host = "localhost"
	}
	if port <= 0 {
		port = defaultPort
	}
	return httpAddr{scheme: "http", host: host, port: port}
}

// parseHTTPAddr implements gnsq's from_url: "http://h:p", "h:p" or
// "https://h" (TLS); a missing port is defaultPort; path, query and
// fragment are dropped.
func parseHTTPAddr(raw string, defaultPort int) (httpAddr, error) {
	bad := func(why string) (httpAddr, error) {
		return httpAddr{}, &InvalidArgumentError{Reason: fmt.Sprintf("bad url %q: %s", raw, why)}
	}
	s := strings.TrimSpace(raw)
	if s == "" {
		return bad("empty")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad(err.Error())
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return bad("scheme must be http or https")
	}
	host := u.Hostname()
	if host == "" {
		return bad("no host")
	}
	port := defaultPort
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return bad("port out of range")
		}
		port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return bad("empty port")
	}
	return httpAddr{scheme: scheme, host: host, port: port}, nil
}

// address is "scheme://host:port/".
func (e httpAddr) address() string {
	return e.scheme + "://" + net.JoinHostPort(e.host, strconv.Itoa(e.port)) + "/"
}

// HTTPEndpoint is what NsqdHTTPClient and LookupdClient share: the
// server's address (Address, Host, Port, Scheme) and how requests are
// sent. Set its fields before the client's first request.
type HTTPEndpoint struct {
	// UserAgent is sent as User-Agent; empty means DefaultUserAgent.
	UserAgent string
	// Timeout bounds each request, reading the answer included;
	// DefaultHTTPTimeout by default, 0 means only the context bounds it.
	Timeout time.Duration
	// HTTPClient sends the requests (e.g. for a custom TLS config); nil
	// means a shared client with Go's default transport.
	HTTPClient *http.Client

	ep httpAddr
}

func newHTTPEndpoint(ep httpAddr) HTTPEndpoint {
	return HTTPEndpoint{Timeout: DefaultHTTPTimeout, ep: ep}
}

// Scheme returns "http" or "https".
func (c *HTTPEndpoint) Scheme() string { return c.ep.scheme }

// Host returns the server's host.
func (c *HTTPEndpoint) Host() string { return c.ep.host }

// Port returns the server's HTTP port.
func (c *HTTPEndpoint) Port() int { return c.ep.port }

// Address returns "http://host:port/".
func (c *HTTPEndpoint) Address() string { return c.ep.address() }

func (c *HTTPEndpoint) opts() httpOptions {
	return httpOptions{userAgent: c.UserAgent, timeout: c.Timeout, client: c.HTTPClient}
}

func (c *HTTPEndpoint) getJSON(ctx context.Context, path string, q url.Values) (json.RawMessage, error) {
	return c.ep.doJSON(ctx, c.opts(), http.MethodGet, path, q)
}

func (c *HTTPEndpoint) getBytes(ctx context.Context, path string, q url.Values) ([]byte, error) {
	return c.ep.doBytes(ctx, c.opts(), http.MethodGet, path, q, nil)
}

func (c *HTTPEndpoint) post(ctx context.Context, path string, q url.Values, body []byte) ([]byte, error) {
	return c.ep.doBytes(ctx, c.opts(), http.MethodPost, path, q, body)
}

// topicOp POSTs to path with ?topic= (create, delete, empty, ...).
func (c *HTTPEndpoint) topicOp(ctx context.Context, path, topic string) error {
	q, err := httpTopicQuery(topic)
	if err != nil {
		return err
	}
	_, err = c.post(ctx, path, q, nil)
	return err
}

// channelOp POSTs to path with ?topic=&channel=.
func (c *HTTPEndpoint) channelOp(ctx context.Context, path, topic, channel string) error {
	q, err := httpTopicChannelQuery(topic, channel)
	if err != nil {
		return err
	}
	_, err = c.post(ctx, path, q, nil)
	return err
}

// httpOptions are the per-client settings a request needs.
type httpOptions struct {
	userAgent string
	timeout   time.Duration
	client    *http.Client
}

// httpResult is a 2xx answer: JSON (already unwrapped) or raw bytes.
type httpResult struct {
	body   []byte
	isJSON bool
}

// do sends one request. Parameters always go in the query string (also
// for POST, as gnsq does); body is only used by pub/mpub.
func (e httpAddr) do(ctx context.Context, o httpOptions, method, path string, query url.Values, body []byte) (httpResult, error) {
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	u := url.URL{
		Scheme:   e.scheme,
		Host:     net.JoinHostPort(e.host, strconv.Itoa(e.port)),
		Path:     path,
		RawQuery: query.Encode(),
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return httpResult{}, err
	}
	ua := o.userAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	req.Header.Set("Accept", httpAccept)
	if body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	client := o.client
	if client == nil {
		client = defaultHTTPClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return httpResult{}, err
	}
	defer resp.Body.Close()
	isJSON := isJSONContentType(resp.Header.Get("Content-Type"))

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, maxHTTPErrorBody))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxHTTPErrorBody))
		return httpResult{}, &HTTPError{StatusCode: resp.StatusCode, Message: httpErrorMessage(data)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPResponse+1))
	if err != nil {
		return httpResult{}, err
	}
	if len(data) > maxHTTPResponse {
		return httpResult{}, &ProtocolError{Reason: fmt.Sprintf("http response from %s larger than %d bytes", u.Path, maxHTTPResponse)}
	}
	if !isJSON {
		return httpResult{body: data}, nil
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return httpResult{}, &ProtocolError{Reason: "invalid JSON from " + u.Path}
	}
	inner, err := unwrapEnvelope(data)
	if err != nil {
		return httpResult{}, err
	}
	return httpResult{body: inner, isJSON: true}, nil
}

// doJSON is do for endpoints that must answer JSON.
func (e httpAddr) doJSON(ctx context.Context, o httpOptions, method, path string, query url.Values) (json.RawMessage, error) {
	r, err := e.do(ctx, o, method, path, query, nil)
	if err != nil {
		return nil, err
	}
	if !r.isJSON {
		return nil, &ProtocolError{Reason: "expected a JSON answer from " + path}
	}
	return json.RawMessage(r.body), nil
}

// doBytes is do for endpoints that answer text (or nothing).
func (e httpAddr) doBytes(ctx context.Context, o httpOptions, method, path string, query url.Values, body []byte) ([]byte, error) {
	r, err := e.do(ctx, o, method, path, query, body)
	return r.body, err
}

func isJSONContentType(ct string) bool {
	if ct == "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// unwrapEnvelope returns the "data" of a legacy (nsq 0.x)
// {"status_code": .., "status_txt": .., "data": ..} answer, only when both
// status_code and data are present; anything else is returned as is. A
// non-2xx status_code inside the envelope is an *HTTPError.
func unwrapEnvelope(data []byte) ([]byte, error) {
	if len(data) == 0 || data[0] != '{' {
		return data, nil
	}
	var env map[string]json.RawMessage
	if err := json.Unmarshal(data, &env); err != nil {
		return data, nil
	}
	code, hasCode := env["status_code"]
	inner, hasData := env["data"]
	if !hasCode || !hasData {
		return data, nil
	}
	var status int
	if json.Unmarshal(code, &status) == nil && (status < 200 || status > 299) {
		var txt string
		_ = json.Unmarshal(env["status_txt"], &txt)
		return nil, &HTTPError{StatusCode: status, Message: txt}
	}
	return inner, nil
}

// httpErrorMessage extracts nsqd's reason from an error body: the v1
// {"message": ..}, the legacy {"status_txt": ..}, else the trimmed body.
func httpErrorMessage(data []byte) string {
	data = bytes.TrimSpace(data)
	var body struct {
		Message   *string `json:"message"`
		StatusTxt *string `json:"status_txt"`
	}
	if len(data) > 0 && data[0] == '{' && json.Unmarshal(data, &body) == nil {
		if body.Message != nil {
			return *body.Message
		}
		if body.StatusTxt != nil {
			return *body.StatusTxt
		}
	}
	return string(data)
}

// httpTopicQuery validates topic and returns ?topic=.
func httpTopicQuery(topic string) (url.Values, error) {
	if err := checkTopic(topic); err != nil {
		return nil, err
	}
	return url.Values{"topic": {topic}}, nil
}

// httpTopicChannelQuery validates both names and returns ?topic=&channel=.
func httpTopicChannelQuery(topic, channel string) (url.Values, error) {
	q, err := httpTopicQuery(topic)
	if err != nil {
		return nil, err
	}
	if err := checkChannel(channel); err != nil {
		return nil, err
	}
	q.Set("channel", channel)
	return q, nil
}

package gnsq

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"

	"github.com/libgnsq/libgnsq/internal/protocol"
)

// DefaultNsqdHTTPPort is nsqd's default HTTP port.
const DefaultNsqdHTTPPort = 4151

// NsqdHTTPClient is gnsq's low level client for nsqd's HTTP API. Names
// are validated locally before any request; a non-2xx answer is an
// *HTTPError carrying nsqd's message. Safe for concurrent use once its
// fields are set.
type NsqdHTTPClient struct {
	HTTPEndpoint
}

// NewNsqdHTTPClient returns a client for http://host:port/; an empty host
// is "localhost" and a port <= 0 is 4151.
func NewNsqdHTTPClient(host string, port int) *NsqdHTTPClient {
	return &NsqdHTTPClient{newHTTPEndpoint(newHTTPAddr(host, port, DefaultNsqdHTTPPort))}
}

// NsqdHTTPClientFromURL parses "http://h:p", "h:p" or "https://h" (TLS;
// the port defaults to 4151); path and query are ignored. A bad URL is an
// *InvalidArgumentError.
func NsqdHTTPClientFromURL(rawURL string) (*NsqdHTTPClient, error) {
	ep, err := parseHTTPAddr(rawURL, DefaultNsqdHTTPPort)
	if err != nil {
		return nil, err
	}
	return &NsqdHTTPClient{newHTTPEndpoint(ep)}, nil
}

// String returns gnsq's repr, <NsqdHTTPClient 'http://host:port/'>.
func (c *NsqdHTTPClient) String() string { return "<NsqdHTTPClient '" + c.Address() + "'>" }

// Ping calls GET /ping; nsqd answers "OK".
func (c *NsqdHTTPClient) Ping(ctx context.Context) ([]byte, error) {
	return c.getBytes(ctx, "/ping", nil)
}

// Info calls GET /info (version, ports, ...).
func (c *NsqdHTTPClient) Info(ctx context.Context) (json.RawMessage, error) {
	return c.getJSON(ctx, "/info", nil)
}

// Publish posts body to topic (POST /pub); a delay > 0 is sent as
// defer=<ms>, a negative one is an *InvalidArgumentError. Returns "OK".
func (c *NsqdHTTPClient) Publish(ctx context.Context, topic string, body []byte, delay time.Duration) ([]byte, error) {
	q, err := httpTopicQuery(topic)
	if err != nil {
		return nil, err
	}
	if delay < 0 {
		return nil, &InvalidArgumentError{Reason: "defer must be >= 0, got " + delay.String()}
	}
	if delay > 0 {
		q.Set("defer", strconv.FormatInt(delay.Milliseconds(), 10))
	}
	return c.post(ctx, "/pub", q, nonNil(body))
}

// MultiPublish posts bodies to topic (POST /mpub). Text mode joins them
// with "\n" (a body containing "\n" is an *InvalidArgumentError; nsqd
// drops empty ones); binary mode sends the MPUB wire body with
// binary=true. Returns "OK".
func (c *NsqdHTTPClient) MultiPublish(ctx context.Context, topic string, bodies [][]byte, binary bool) ([]byte, error) {
	q, err := httpTopicQuery(topic)
	if err != nil {
		return nil, err
	}
	var body []byte
	if binary {
		q.Set("binary", "true")
		body = protocol.MultiPublishBody(bodies)
	} else {
		for i, b := range bodies {
			if bytes.IndexByte(b, '\n') >= 0 {
				return nil, &InvalidArgumentError{Reason: "message " + strconv.Itoa(i) + ` contains "\n"; use binary mode`}
			}
		}
		body = nonNil(bytes.Join(bodies, []byte("\n")))
	}
	return c.post(ctx, "/mpub", q, body)
}

// CreateTopic creates topic (POST /topic/create).
func (c *NsqdHTTPClient) CreateTopic(ctx context.Context, topic string) error {
	return c.topicOp(ctx, "/topic/create", topic)
}

// DeleteTopic deletes topic and its channels (POST /topic/delete).
func (c *NsqdHTTPClient) DeleteTopic(ctx context.Context, topic string) error {
	return c.topicOp(ctx, "/topic/delete", topic)
}

// EmptyTopic drops the messages queued at topic (POST /topic/empty).
func (c *NsqdHTTPClient) EmptyTopic(ctx context.Context, topic string) error {
	return c.topicOp(ctx, "/topic/empty", topic)
}

// PauseTopic stops message flow to topic's channels (POST /topic/pause).
func (c *NsqdHTTPClient) PauseTopic(ctx context.Context, topic string) error {
	return c.topicOp(ctx, "/topic/pause", topic)
}

// UnpauseTopic resumes a paused topic (POST /topic/unpause).
func (c *NsqdHTTPClient) UnpauseTopic(ctx context.Context, topic string) error {
	return c.topicOp(ctx, "/topic/unpause", topic)
}

// CreateChannel creates channel on an existing topic (POST
// /channel/create); a missing topic is an *HTTPError 404.
func (c *NsqdHTTPClient) CreateChannel(ctx context.Context, topic, channel string) error {
	return c.channelOp(ctx, "/channel/create", topic, channel)
}

// DeleteChannel deletes channel of topic (POST /channel/delete).
func (c *NsqdHTTPClient) DeleteChannel(ctx context.Context, topic, channel string) error {
	return c.channelOp(ctx, "/channel/delete", topic, channel)
}

// EmptyChannel drops the messages queued at channel (POST /channel/empty).
func (c *NsqdHTTPClient) EmptyChannel(ctx context.Context, topic, channel string) error {
	return c.channelOp(ctx, "/channel/empty", topic, channel)
}

// PauseChannel stops message flow to channel's consumers (POST
// /channel/pause).
func (c *NsqdHTTPClient) PauseChannel(ctx context.Context, topic, channel string) error {
	return c.channelOp(ctx, "/channel/pause", topic, channel)
}

// UnpauseChannel resumes a paused channel (POST /channel/unpause).
func (c *NsqdHTTPClient) UnpauseChannel(ctx context.Context, topic, channel string) error {
	return c.channelOp(ctx, "/channel/unpause", topic, channel)
}

func nsqdStatsQuery(format, topic, channel string) (url.Values, error) {
	q := url.Values{"format": {format}}
	if topic != "" {
		if err := checkTopic(topic); err != nil {
			return nil, err
		}
		q.Set("topic", topic)
	}
	if channel != "" {
		if err := checkChannel(channel); err != nil {
			return nil, err
		}
		q.Set("channel", channel)
	}
	return q, nil
}

// Stats calls GET /stats?format=json, filtered by topic and channel when
// they are not empty.
func (c *NsqdHTTPClient) Stats(ctx context.Context, topic, channel string) (json.RawMessage, error) {
	q, err := nsqdStatsQuery("json", topic, channel)
	if err != nil {
		return nil, err
	}
	return c.getJSON(ctx, "/stats", q)
}

// StatsText is Stats in nsqd's human-readable text format.
func (c *NsqdHTTPClient) StatsText(ctx context.Context, topic, channel string) ([]byte, error) {
	q, err := nsqdStatsQuery("text", topic, channel)
	if err != nil {
		return nil, err
	}
	return c.getBytes(ctx, "/stats", q)
}

// nonNil makes a nil body an empty one, so that it is posted as a body.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

package gnsq

import (
	"context"
	"encoding/json"
	"net"
	"strconv"
)

// DefaultLookupdHTTPPort is nsqlookupd's default HTTP port.
const DefaultLookupdHTTPPort = 4161

// LookupdClient is gnsq's low level client for nsqlookupd's HTTP API.
// Names are validated locally before any request; a non-2xx answer is an
// *HTTPError carrying nsqlookupd's message. Safe for concurrent use once
// its fields are set.
type LookupdClient struct {
	HTTPEndpoint
}

// NewLookupdClient returns a client for http://host:port/; an empty host
// is "localhost" and a port <= 0 is 4161.
func NewLookupdClient(host string, port int) *LookupdClient {
	return &LookupdClient{newHTTPEndpoint(newHTTPAddr(host, port, DefaultLookupdHTTPPort))}
}

// LookupdClientFromURL parses "http://h:p", "h:p" or "https://h" (TLS;
// the port defaults to 4161); path and query are ignored. A bad URL is an
// *InvalidArgumentError.
func LookupdClientFromURL(rawURL string) (*LookupdClient, error) {
	ep, err := parseHTTPAddr(rawURL, DefaultLookupdHTTPPort)
	if err != nil {
		return nil, err
	}
	return &LookupdClient{newHTTPEndpoint(ep)}, nil
}

// String returns gnsq's repr, <LookupdClient 'http://host:port/'>.
func (c *LookupdClient) String() string { return "<LookupdClient '" + c.Address() + "'>" }

// Ping calls GET /ping; nsqlookupd answers "OK".
func (c *LookupdClient) Ping(ctx context.Context) ([]byte, error) {
	return c.getBytes(ctx, "/ping", nil)
}

// Info calls GET /info (version).
func (c *LookupdClient) Info(ctx context.Context) (json.RawMessage, error) {
	return c.getJSON(ctx, "/info", nil)
}

// Lookup returns the channels and producers of topic (GET /lookup); an
// unknown topic is an *HTTPError 404.
func (c *LookupdClient) Lookup(ctx context.Context, topic string) (json.RawMessage, error) {
	q, err := httpTopicQuery(topic)
	if err != nil {
		return nil, err
	}
	return c.getJSON(ctx, "/lookup", q)
}

// Topics returns all known topics (GET /topics).
func (c *LookupdClient) Topics(ctx context.Context) (json.RawMessage, error) {
	return c.getJSON(ctx, "/topics", nil)
}

// Channels returns all known channels of topic (GET /channels).
func (c *LookupdClient) Channels(ctx context.Context, topic string) (json.RawMessage, error) {
	q, err := httpTopicQuery(topic)
	if err != nil {
		return nil, err
	}
	return c.getJSON(ctx, "/channels", q)
}

// Nodes returns all known nsqd (GET /nodes).
func (c *LookupdClient) Nodes(ctx context.Context) (json.RawMessage, error) {
	return c.getJSON(ctx, "/nodes", nil)
}

// CreateTopic adds topic to the registry (POST /topic/create).
func (c *LookupdClient) CreateTopic(ctx context.Context, topic string) error {
	return c.topicOp(ctx, "/topic/create", topic)
}

// DeleteTopic removes topic and its channels from the registry (POST
// /topic/delete).
func (c *LookupdClient) DeleteTopic(ctx context.Context, topic string) error {
	return c.topicOp(ctx, "/topic/delete", topic)
}

// CreateChannel adds channel (and topic) to the registry (POST
// /channel/create).
func (c *LookupdClient) CreateChannel(ctx context.Context, topic, channel string) error {
	return c.channelOp(ctx, "/channel/create", topic, channel)
}

// DeleteChannel removes channel of topic from the registry (POST
// /channel/delete); an unknown channel is an *HTTPError 404.
func (c *LookupdClient) DeleteChannel(ctx context.Context, topic, channel string) error {
	return c.channelOp(ctx, "/channel/delete", topic, channel)
}

// TombstoneTopic tombstones the producer node ("broadcast_address:http_port"
// of an nsqd) of topic, hiding it from Lookup (POST /topic/tombstone).
func (c *LookupdClient) TombstoneTopic(ctx context.Context, topic, node string) error {
	q, err := httpTopicQuery(topic)
	if err != nil {
		return err
	}
	if h, p, err := net.SplitHostPort(node); err != nil || h == "" || p == "" {
		return &InvalidArgumentError{Reason: "node must be \"host:http_port\", got " + strconv.Quote(node)}
	}
	q.Set("node", node)
	_, err = c.post(ctx, "/topic/tombstone", q, nil)
	return err
}

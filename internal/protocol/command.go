package protocol

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"time"
)

// Command is one client command: a text line "NAME p1 p2\n" and, for
// IDENTIFY, AUTH, PUB, DPUB and MPUB, a size-prefixed body. The
// constructors below check nothing: a name or a number they are given goes
// on the wire as it is.
type Command struct {
	Name   string
	Params []string
	Body   []byte // nil: no body section (unless Messages is set)
	// Messages, for MPUB, are encoded as the body on the wire
	// ([u32 count]([u32 size][bytes])*) straight into the output buffer.
	Messages [][]byte
}

// Writer is what Encode writes to: a *bufio.Writer on a connection, a
// *bytes.Buffer for Bytes.
type Writer interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
}

// Encode writes the wire form of c to w (write errors surface on flush).
func (c *Command) Encode(w Writer) {
	w.WriteString(c.Name)
	for _, p := range c.Params {
		w.WriteByte(' ')
		w.WriteString(p)
	}
	w.WriteByte('\n')
	switch {
	case c.Messages != nil:
		writeUint32(w, uint32(multiPublishBodySize(c.Messages)))
		encodeMessages(w, c.Messages)
	case c.Body != nil:
		writeUint32(w, uint32(len(c.Body)))
		w.Write(c.Body)
	}
}

func writeUint32(w io.Writer, n uint32) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	w.Write(b[:])
}

// Bytes returns the wire form of c.
func (c *Command) Bytes() []byte {
	var b bytes.Buffer
	b.Grow(c.wireSize())
	c.Encode(&b)
	return b.Bytes()
}

// WriteTo writes the wire form of c to w.
func (c *Command) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(c.Bytes())
	return int64(n), err
}

func (c *Command) wireSize() int {
	n := len(c.Name) + 1
	for _, p := range c.Params {
		n += 1 + len(p)
	}
	switch {
	case c.Messages != nil:
		n += 4 + multiPublishBodySize(c.Messages)
	case c.Body != nil:
		n += 4 + len(c.Body)
	}
	return n
}

func (c *Command) String() string {
	return strings.Join(append([]string{c.Name}, c.Params...), " ")
}

// IdentifyRequest is the JSON body of IDENTIFY. Durations are sent in
// milliseconds as nsqd expects.
type IdentifyRequest struct {
	ClientID            string `json:"client_id"`
	Hostname            string `json:"hostname"`
	UserAgent           string `json:"user_agent"`
	FeatureNegotiation  bool   `json:"feature_negotiation"`
	HeartbeatInterval   int64  `json:"heartbeat_interval"`
	OutputBufferSize    int64  `json:"output_buffer_size"`
	OutputBufferTimeout int64  `json:"output_buffer_timeout"`
	TLSv1               bool   `json:"tls_v1"`
	Snappy              bool   `json:"snappy"`
	Deflate             bool   `json:"deflate"`
	DeflateLevel        int    `json:"deflate_level,omitempty"`
	SampleRate          int    `json:"sample_rate"`
	MsgTimeout          int64  `json:"msg_timeout,omitempty"`
}

// Identify builds IDENTIFY with a JSON body. Free-text fields are JSON
// encoded, so quotes and newlines in them cannot break the body.
func Identify(req *IdentifyRequest) (*Command, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	return &Command{Name: "IDENTIFY", Body: body}, nil
}

// Auth builds AUTH with the secret as its body.
func Auth(secret string) *Command {
	return &Command{Name: "AUTH", Body: []byte(secret)}
}

// Subscribe builds SUB <topic> <channel>.
func Subscribe(topic, channel string) *Command {
	return &Command{Name: "SUB", Params: []string{topic, channel}}
}

// Ready builds RDY <count>.
func Ready(count int) *Command {
	return &Command{Name: "RDY", Params: []string{strconv.Itoa(count)}}
}

// Finish builds FIN <id>.
func Finish(id [16]byte) *Command {
	return &Command{Name: "FIN", Params: []string{string(id[:])}}
}

// WriteFinish writes what Finish(id) encodes to, without allocating (the
// bytes are appended to w's own buffer, so id does not escape): a consumer
// sends one FIN per message.
func WriteFinish(w *bufio.Writer, id *[16]byte) {
	b := append(w.AvailableBuffer(), "FIN "...)
	b = append(b, id[:]...)
	w.Write(append(b, '\n'))
}

// Requeue builds REQ <id> <delay in ms>.
func Requeue(id [16]byte, delay time.Duration) *Command {
	return &Command{Name: "REQ", Params: []string{string(id[:]), strconv.FormatInt(delay.Milliseconds(), 10)}}
}

// Touch builds TOUCH <id>.
func Touch(id [16]byte) *Command {
	return &Command{Name: "TOUCH", Params: []string{string(id[:])}}
}

// StartClose builds CLS (nsqd answers CLOSE_WAIT).
func StartClose() *Command { return &Command{Name: "CLS"} }

// Nop builds NOP (the answer to a heartbeat).
func Nop() *Command { return &Command{Name: "NOP"} }

// Publish builds PUB <topic> with body. An empty body is sent as is; nsqd
// answers E_BAD_MESSAGE.
func Publish(topic string, body []byte) *Command {
	return &Command{Name: "PUB", Params: []string{topic}, Body: nonNil(body)}
}

// DeferredPublish builds DPUB <topic> <delay in ms> with body.
func DeferredPublish(topic string, delay time.Duration, body []byte) *Command {
	return &Command{Name: "DPUB", Params: []string{topic, strconv.FormatInt(delay.Milliseconds(), 10)}, Body: nonNil(body)}
}

// PublishOrDefer builds PUB, or DPUB when delay is not 0.
func PublishOrDefer(topic string, delay time.Duration, body []byte) *Command {
	if delay != 0 {
		return DeferredPublish(topic, delay, body)
	}
	return Publish(topic, body)
}

// MultiPublish builds MPUB <topic>. An empty list is sent as is; nsqd
// answers E_BAD_BODY. The bodies are not copied: do not change them until
// the command was sent.
func MultiPublish(topic string, bodies [][]byte) *Command {
	if bodies == nil {
		bodies = [][]byte{}
	}
	return &Command{Name: "MPUB", Params: []string{topic}, Messages: bodies}
}

// MultiPublishBody encodes bodies in the MPUB wire format (also the body
// of nsqd's HTTP /mpub?binary=true).
func MultiPublishBody(bodies [][]byte) []byte {
	var b bytes.Buffer
	b.Grow(multiPublishBodySize(bodies))
	encodeMessages(&b, bodies)
	return b.Bytes()
}

func multiPublishBodySize(bodies [][]byte) int {
	size := 4
	for _, b := range bodies {
		size += 4 + len(b)
	}
	return size
}

func encodeMessages(w io.Writer, bodies [][]byte) {
	writeUint32(w, uint32(len(bodies)))
	for _, b := range bodies {
		writeUint32(w, uint32(len(b)))
		w.Write(b)
	}
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

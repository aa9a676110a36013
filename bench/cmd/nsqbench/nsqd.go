package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// nsqdProc is an nsqd started by this program.
type nsqdProc struct {
	cmd      *exec.Cmd
	exited   chan struct{} // closed once the process was reaped
	waitErr  error
	dataDir  string
	logPath  string
	tcpAddr  string
	httpAddr string
	http     *http.Client
}

// freePorts returns n distinct TCP ports that were free on 127.0.0.1 a
// moment ago (listen on :0, note the port, close).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startNsqd starts bin on free local ports with a temporary data directory
// and waits until its HTTP /ping answers. A port race with another process
// is retried a few times.
func startNsqd(bin string) (*nsqdProc, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		p, err := startNsqdOnce(bin)
		if err == nil {
			return p, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func startNsqdOnce(bin string) (*nsqdProc, error) {
	ports, err := freePorts(2)
	if err != nil {
		return nil, fmt.Errorf("pick free ports: %w", err)
	}
	dataDir, err := os.MkdirTemp("", "nsqbench-nsqd-")
	if err != nil {
		return nil, err
	}
	p := &nsqdProc{
		dataDir:  dataDir,
		logPath:  filepath.Join(dataDir, "nsqd.log"),
		tcpAddr:  net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0])),
		httpAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1])),
		exited:   make(chan struct{}),
		http:     &http.Client{Timeout: 10 * time.Second},
	}
	logFile, err := os.Create(p.logPath)
	if err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	p.cmd = exec.Command(bin,
		"--tcp-address="+p.tcpAddr,
		"--http-address="+p.httpAddr,
		"--broadcast-address=127.0.0.1",
		"--data-path="+dataDir,
		"--mem-queue-size=10000000",
		"--log-level=warn",
	)
	p.cmd.Stdout = logFile
	p.cmd.Stderr = logFile
	if err := p.cmd.Start(); err != nil {
		logFile.Close()
		os.RemoveAll(dataDir)
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()

	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-p.exited:
			err := fmt.Errorf("nsqd exited during startup (%v); log:\n%s", p.waitErr, p.logTail())
			p.stop()
			return nil, err
		default:
		}
		if body, err := p.get("/ping"); err == nil && string(body) == "OK" {
			return p, nil
		}
		if time.Now().After(deadline) {
			err := fmt.Errorf("nsqd did not answer /ping within 15s; log:\n%s", p.logTail())
			p.stop()
			return nil, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends nsqd by its pid: SIGTERM, wait up to 10 s, then SIGKILL. It
// removes the data directory. Safe to call more than once.
func (p *nsqdProc) stop() error {
	var err error
	select {
	case <-p.exited:
	default:
		_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			err = fmt.Errorf("nsqd (pid %d) ignored SIGTERM for 10s; killed", p.cmd.Process.Pid)
			_ = syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.exited
		}
	}
	os.RemoveAll(p.dataDir)
	return err
}

func (p *nsqdProc) logTail() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func (p *nsqdProc) get(path string) ([]byte, error) {
	return p.do(http.MethodGet, path)
}

func (p *nsqdProc) do(method, path string) ([]byte, error) {
	req, err := http.NewRequest(method, "http://"+p.httpAddr+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, body)
	}
	return body, nil
}

// topicStats is the part of nsqd's /stats for one topic that the
// benchmark checks.
type topicStats struct {
	TopicName    string         `json:"topic_name"`
	Depth        int64          `json:"depth"`
	MessageCount uint64         `json:"message_count"`
	Channels     []channelStats `json:"channels"`
}

type channelStats struct {
	ChannelName   string        `json:"channel_name"`
	Depth         int64         `json:"depth"`
	InFlightCount int64         `json:"in_flight_count"`
	DeferredCount int64         `json:"deferred_count"`
	MessageCount  uint64        `json:"message_count"`
	RequeueCount  uint64        `json:"requeue_count"`
	TimeoutCount  uint64        `json:"timeout_count"`
	ClientCount   int           `json:"client_count"`
	Clients       []clientStats `json:"clients"`
}

type clientStats struct {
	UserAgent     string `json:"user_agent"`
	ReadyCount    int64  `json:"ready_count"`
	InFlightCount int64  `json:"in_flight_count"`
	MessageCount  uint64 `json:"message_count"`
	FinishCount   uint64 `json:"finish_count"`
	RequeueCount  uint64 `json:"requeue_count"`
}

// stats returns /stats of one topic (clients included, memory statistics
// left out: they stop nsqd's world).
func (p *nsqdProc) stats(topic string) (*topicStats, error) {
	body, err := p.get("/stats?format=json&include_mem=false&topic=" + url.QueryEscape(topic))
	if err != nil {
		return nil, err
	}
	var stats struct {
		Topics []topicStats `json:"topics"`
	}
	if err := json.Unmarshal(body, &stats); err != nil {
		return nil, fmt.Errorf("decode /stats: %w", err)
	}
	for i := range stats.Topics {
		if stats.Topics[i].TopicName == topic {
			return &stats.Topics[i], nil
		}
	}
	return nil, errors.New("topic " + topic + " missing from /stats")
}

// channel returns the stats of one of the topic's channels.
func (t *topicStats) channel(name string) (*channelStats, error) {
	for i := range t.Channels {
		if t.Channels[i].ChannelName == name {
			return &t.Channels[i], nil
		}
	}
	return nil, fmt.Errorf("channel %s/%s missing from /stats", t.TopicName, name)
}

// messageCount is the topic's message_count from /stats.
func (p *nsqdProc) messageCount(topic string) (uint64, error) {
	t, err := p.stats(topic)
	if err != nil {
		return 0, err
	}
	return t.MessageCount, nil
}

// createChannel creates topic and channel, so that messages published to
// the topic go straight into the channel.
func (p *nsqdProc) createChannel(topic, channel string) error {
	if _, err := p.do(http.MethodPost, "/topic/create?topic="+url.QueryEscape(topic)); err != nil {
		return err
	}
	_, err := p.do(http.MethodPost, "/channel/create?topic="+url.QueryEscape(topic)+"&channel="+url.QueryEscape(channel))
	return err
}

// deleteTopic drops a measured topic so its messages do not weigh on
// nsqd (memory, GC) during the following phases.
func (p *nsqdProc) deleteTopic(topic string) error {
	_, err := p.do(http.MethodPost, "/topic/delete?topic="+url.QueryEscape(topic))
	return err
}

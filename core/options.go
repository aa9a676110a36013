package gnsq

import (
	"fmt"
	"slices"
)

// An Option names one construction setting of a Producer, Consumer or
// NsqdTCPClient: NewProducer(WithNsqd("127.0.0.1:4150"), WithConfig(cfg)).
// An option that does not apply to what is built (WithLookupd for a
// Producer, say) makes the constructor fail with *InvalidArgumentError.
type Option struct{ apply func(*settings) }

// settings are what the options of one constructor call collected.
type settings struct {
	cfg           *Config
	nsqd          []string
	lookupd       []string
	consumerHooks *ConsumerHooks
	producerHooks *ProducerHooks
	connHooks     *ConnHooks
	given         []string // the options' names, in order
}

// WithConfig sets the options of the connections (gnsq's keyword
// arguments); cfg is copied. Without it, NewConfig's defaults apply.
func WithConfig(cfg *Config) Option {
	return Option{func(s *settings) { s.cfg = cfg; s.given = append(s.given, "WithConfig") }}
}

// WithNsqd adds nsqd TCP addresses, "host[:port]" (port 4150 by default):
// where a Producer publishes, and which nsqd a Consumer reads from
// directly.
func WithNsqd(addrs ...string) Option {
	return Option{func(s *settings) { s.nsqd = append(s.nsqd, addrs...); s.given = append(s.given, "WithNsqd") }}
}

// WithLookupd adds nsqlookupd HTTP addresses (URLs or "host[:port]", port
// 4161 by default) through which a Consumer discovers the nsqd that have
// its topic.
func WithLookupd(addrs ...string) Option {
	return Option{func(s *settings) { s.lookupd = append(s.lookupd, addrs...); s.given = append(s.given, "WithLookupd") }}
}

// WithConsumerHooks sets a Consumer's hooks (gnsq's signals). They are
// fixed for the Consumer's life.
func WithConsumerHooks(h ConsumerHooks) Option {
	return Option{func(s *settings) { s.consumerHooks = &h; s.given = append(s.given, "WithConsumerHooks") }}
}

// WithProducerHooks sets a Producer's hooks (gnsq's signals). They are
// fixed for the Producer's life.
func WithProducerHooks(h ProducerHooks) Option {
	return Option{func(s *settings) { s.producerHooks = &h; s.given = append(s.given, "WithProducerHooks") }}
}

// WithConnHooks sets an NsqdTCPClient's hooks (gnsq's signals). They are
// fixed for the client's life.
func WithConnHooks(h ConnHooks) Option {
	return Option{func(s *settings) { s.connHooks = &h; s.given = append(s.given, "WithConnHooks") }}
}

// collect applies opts for the constructor of kind, which accepts only
// the options named in allowed; it validates the Config (nil: defaults)
// and returns a copy of it in the settings.
func collect(kind string, allowed []string, opts []Option) (*settings, error) {
	s := &settings{}
	for _, o := range opts {
		if o.apply == nil {
			return nil, &InvalidArgumentError{Reason: fmt.Sprintf("zero Option for %s", kind)}
		}
		o.apply(s)
	}
	for _, name := range s.given {
		if !slices.Contains(allowed, name) {
			return nil, &InvalidArgumentError{Reason: fmt.Sprintf("%s does not apply to %s", name, kind)}
		}
	}
	if s.cfg == nil {
		s.cfg = NewConfig()
	}
	if err := s.cfg.Validate(); err != nil {
		return nil, err
	}
	s.cfg = s.cfg.clone()
	return s, nil
}

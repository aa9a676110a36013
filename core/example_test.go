package gnsq_test

// The examples need a running nsqd (127.0.0.1:4150 for TCP, :4151 for
// HTTP), so they have no "// Output:" line: go test compiles them but
// does not run them.

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
)

// Publish one message, several in one MPUB, and one without waiting.
func ExampleProducer() {
	cfg := gnsq.NewConfig()
	if err := cfg.Set("max_backoff_duration", "30"); err != nil { // gnsq's names and units
		log.Fatal(err)
	}
	producer, err := gnsq.NewProducer(gnsq.WithNsqd("127.0.0.1:4150"), gnsq.WithConfig(cfg))
	if err != nil {
		log.Fatal(err)
	}
	if err := producer.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer producer.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// Publish waits for nsqd's answer: nil for OK, or a typed error.
	if err := producer.Publish(ctx, "events", []byte("hello")); err != nil {
		log.Fatal(err)
	}
	if err := producer.MultiPublish(ctx, "events", [][]byte{[]byte("a"), []byte("b")}); err != nil {
		log.Fatal(err)
	}

	// PublishAsync returns at once; the callback runs once nsqd answered
	// (or the publish failed), and the Result can be waited for as well.
	result, err := producer.PublishAsync(ctx, "events", 0, []byte("async"), func(r *gnsq.Result) {
		if r.Err() != nil {
			log.Printf("publish failed: %v", r.Err())
		}
	})
	if err != nil {
		log.Fatal(err)
	}
	if _, err := result.Wait(ctx); err != nil {
		log.Fatal(err)
	}
}

// Consume with a Handler: nil finishes the message, an error requeues it
// with backoff. Run blocks; on Ctrl-C its context ends and it drains the
// consumer: handlers finish what was received before it closes.
func ExampleConsumer() {
	cfg := gnsq.NewConfig()
	if err := cfg.Set("max_in_flight", "100"); err != nil {
		log.Fatal(err)
	}
	handler := func(m *gnsq.Message) error {
		if len(m.Body) == 0 {
			// Requeued without counting as a failure (no OnException).
			return &gnsq.RequeueMessage{}
		}
		fmt.Printf("%s\n", m.Body)
		return nil // finished
	}
	consumer, err := gnsq.NewConsumer("events", "printer", handler,
		gnsq.WithNsqd("127.0.0.1:4150"),    // nsqd, and/or
		gnsq.WithLookupd("127.0.0.1:4161"), // nsqlookupd
		gnsq.WithConfig(cfg),
		gnsq.WithConsumerHooks(gnsq.ConsumerHooks{
			OnGivingUp: func(m *gnsq.Message) {
				log.Printf("giving up on %x after %d attempts", m.ID[:], m.Attempts)
			},
		}))
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := consumer.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}

// An asynchronous message: the handler calls EnableAsync and hands the
// message to a worker, which answers it later with Consumer.Complete
// (gnsq's rules) or Message.Finish / Message.Requeue.
func ExampleMessage_EnableAsync() {
	work := make(chan *gnsq.Message, 100)
	handler := func(m *gnsq.Message) error {
		m.EnableAsync() // not finished when the handler returns
		work <- m
		return nil
	}
	consumer, err := gnsq.NewConsumer("events", "async", handler, gnsq.WithNsqd("127.0.0.1:4150"))
	if err != nil {
		log.Fatal(err)
	}

	process := func(body []byte) error {
		if len(body) == 0 {
			return errors.New("empty body")
		}
		return nil
	}
	go func() {
		for m := range work {
			if err := m.Touch(); err != nil { // resets nsqd's msg_timeout
				log.Printf("touch: %v", err)
			}
			// nil finishes the message; an error requeues it with backoff.
			consumer.Complete(m, process(m.Body))
		}
	}()

	if err := consumer.Run(context.Background()); err != nil { // blocks until Close
		log.Fatal(err)
	}
}

// Publish and administer nsqd over its HTTP API.
func ExampleNsqdHTTPClient() {
	client, err := gnsq.NsqdHTTPClientFromURL("http://127.0.0.1:4151")
	if err != nil {
		log.Fatal(err)
	}
	client.Timeout = 5 * time.Second
	ctx := context.Background()

	if err := client.CreateTopic(ctx, "events"); err != nil {
		log.Fatal(err)
	}
	if _, err := client.Publish(ctx, "events", []byte("hello"), 0); err != nil {
		var httpErr *gnsq.HTTPError
		if errors.As(err, &httpErr) {
			log.Fatalf("nsqd refused: %v", httpErr)
		}
		log.Fatal(err)
	}
	stats, err := client.Stats(ctx, "events", "")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", stats)
}

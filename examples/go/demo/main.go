// Command demo publishes a few messages with the libgnsq Producer and
// consumes them back with the Consumer. ./build.sh demo starts an nsqd and runs it.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"time"

	gnsq "github.com/libgnsq/libgnsq/core"
)

func main() {
	nsqdAddr := flag.String("nsqd", "127.0.0.1:4150", "nsqd TCP address")
	nsqdHTTP := flag.String("nsqd-http", "127.0.0.1:4151", "nsqd HTTP address")
	flag.Parse()
	topic := fmt.Sprintf("demo_%d", time.Now().Unix())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	producer, err := gnsq.NewProducer(gnsq.WithNsqd(*nsqdAddr))
	check(err)
	check(producer.Start(ctx))
	defer producer.Close()

	check(producer.Publish(ctx, topic, []byte("hello from libgnsq")))
	fmt.Println("PUB  -> OK")
	check(producer.MultiPublish(ctx, topic, [][]byte{[]byte("second"), []byte("third")}))
	fmt.Println("MPUB -> OK")
	// An async publish returns at once; its Result gives nsqd's answer.
	result, err := producer.PublishAsync(ctx, topic, 0, []byte("fourth (async)"), nil)
	check(err)
	resp, err := result.Wait(ctx)
	check(err)
	fmt.Printf("async PUB -> %s\n", resp)

	httpClient, err := gnsq.NsqdHTTPClientFromURL("http://" + *nsqdHTTP)
	check(err)
	stats, err := httpClient.Stats(ctx, topic, "")
	check(err)
	fmt.Printf("nsqd /stats for %s: %.200s\n", topic, stats)

	// Read the four messages back with a Consumer: the handler's nil return
	// finishes each message.
	received := make(chan string, 4)
	cfg := gnsq.NewConfig()
	check(cfg.Set("max_in_flight", "10"))
	consumer, err := gnsq.NewConsumer(topic, "demo", func(m *gnsq.Message) error {
		received <- fmt.Sprintf("%q (attempt %d)", m.Body, m.Attempts)
		return nil
	}, gnsq.WithNsqd(*nsqdAddr), gnsq.WithConfig(cfg))
	check(err)
	check(consumer.Start(ctx))
	for i := 0; i < 4; i++ {
		select {
		case r := <-received:
			fmt.Println("consumed:", r)
		case <-ctx.Done():
			log.Fatal("timed out waiting for messages")
		}
	}
	consumer.Close()
	consumer.Join(5 * time.Second)
	fmt.Println("demo OK")
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

// Command demo publishes a few messages with the libgnsq Producer and
// reads them back from nsqd. ./build.sh demo starts an nsqd and runs it.
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

	producer, err := gnsq.NewProducer([]string{*nsqdAddr}, nil)
	check(err)
	check(producer.Start())
	defer producer.Close()

	resp, err := producer.Publish(ctx, topic, []byte("hello from libgnsq"))
	check(err)
	fmt.Printf("PUB  -> %s\n", resp)
	resp, err = producer.MultiPublish(ctx, topic, [][]byte{[]byte("second"), []byte("third")})
	check(err)
	fmt.Printf("MPUB -> %s\n", resp)
	result, err := producer.PublishAsync(ctx, topic, 0, []byte("fourth (async)"), nil)
	check(err)
	resp, err = result.Wait(ctx)
	check(err)
	fmt.Printf("async PUB -> %s\n", resp)

	httpClient, err := gnsq.NsqdHTTPClientFromURL("http://" + *nsqdHTTP)
	check(err)
	stats, err := httpClient.Stats(ctx, topic, "")
	check(err)
	fmt.Printf("nsqd /stats for %s: %.200s\n", topic, stats)

	// Read the four messages back on a low-level connection.
	conn, err := gnsq.NewNsqdTCPClient(*nsqdAddr, nil)
	check(err)
	defer conn.CloseStream()
	check(conn.Connect())
	_, err = conn.Identify()
	check(err)
	check(conn.Subscribe(topic, "demo"))
	check(conn.Ready(10))
	for received := 0; received < 4; {
		r, err := conn.ReadResponse()
		check(err)
		if r.Err != nil {
			log.Fatal(r.Err)
		}
		if r.Message != nil {
			fmt.Printf("read back: %q (attempt %d)\n", r.Message.Body, r.Message.Attempts)
			check(conn.Finish(r.Message.ID))
			received++
		}
	}
	fmt.Println("demo OK")
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}

'use strict';
// libgnsq for Node.js: publish a few messages, consume them with an async
// handler, drain, and read nsqd's stats over HTTP.
//
//   node examples/node/demo.js 127.0.0.1:4150 127.0.0.1:4151 [topic]
const { Producer, Consumer, NsqdHTTPClient } = require('../../bindings/node');

const [tcp = '127.0.0.1:4150', http = '127.0.0.1:4151', topic = 'demo_node'] = process.argv.slice(2);

async function main() {
  const producer = new Producer([tcp]);
  await producer.start();
  await producer.publish(topic, 'hello from Node');
  await producer.multipublish(topic, ['message 1', 'message 2', 'message 3']);
  await Promise.all([1, 2].map((i) => producer.publish(topic, Buffer.from(`concurrent ${i}`))));
  console.log('published 6 messages');
  await producer.close();

  const consumer = new Consumer(topic, 'demo', { nsqdTcpAddresses: [tcp], maxInFlight: 16 });
  let received = 0;
  const all = new Promise((resolve) => {
    consumer.on('message', async (message) => {
      await new Promise((r) => setTimeout(r, 5)); // a fulfilled Promise finishes the message
      received++;
      console.log(`got message ${received}: ${message.body} (attempts ${message.attempts})`);
      if (received === 6) resolve();
    });
  });
  await consumer.start();
  await all;
  await consumer.close({ drain: true });

  const client = new NsqdHTTPClient(http);
  const stats = await client.stats({ topic });
  const channel = stats.topics[0].channels[0];
  console.log(`channel ${channel.channel_name}: depth ${channel.depth}, in flight ${channel.in_flight_count}`);
  await client.deleteTopic(topic);
  await client.close();
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});

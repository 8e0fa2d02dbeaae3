// MQTT.js, the client browsers use, over WebSocket: connects to
// ws://127.0.0.1:PORT/mqtt (3.1.1, then 5.0), subscribes to its own topic,
// publishes to it at QoS 1 and exits 0 once the message came back.
//
// Usage: node websocket_mqttjs.js PORT
const mqtt = require("mqtt");

// The last argument, whether run as a file or with -e.
const port = process.argv[process.argv.length - 1];

function roundTrip(version) {
  return new Promise((resolve, reject) => {
    const topic = `mqttjs/${version}`;
    const client = mqtt.connect(`ws://127.0.0.1:${port}/mqtt`, {
      protocolVersion: version,
      clientId: `mqttjs-${version}`,
      reconnectPeriod: 0,
      connectTimeout: 10000,
    });
    const timer = setTimeout(() => reject(new Error(`v${version}: no message in time`)), 20000);
    client.on("error", (error) => reject(new Error(`v${version}: ${error.message}`)));
    client.on("connect", () => {
      client.subscribe(topic, { qos: 1 }, (error) => {
        if (error) return reject(error);
        client.publish(topic, "from the browser's client", { qos: 1 });
      });
    });
    client.on("message", (received, payload) => {
      clearTimeout(timer);
      client.end();
      if (received === topic && payload.toString() === "from the browser's client") {
        resolve(`v${version}: ok`);
      } else {
        reject(new Error(`v${version}: got ${received} ${payload}`));
      }
    });
  });
}

(async () => {
  try {
    for (const version of [4, 5]) {
      console.log(await roundTrip(version));
    }
    process.exit(0);
  } catch (error) {
    console.log(error.message);
    process.exit(1);
  }
})();

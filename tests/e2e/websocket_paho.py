"""paho-mqtt over WebSocket and over TCP, against one broker.

Usage: websocket_paho.py WS_PORT TCP_PORT WS_PATH [CA_FILE]

With CA_FILE the WebSocket side speaks secure WebSocket (wss), trusting
that CA.

For MQTT 3.1, 3.1.1 and 5.0 in turn, a WebSocket client and a TCP client
each subscribe (QoS 1) to their own topic and publish to the other's: a
short payload, and one large enough to take many WebSocket messages on its
way out of the broker. Prints one line per version and exits 0 when every
message arrived intact, 1 otherwise.
"""

import sys
import threading

import paho.mqtt.client as mqtt

WAIT = 20
BIG = bytes(i % 251 for i in range(200 * 1024))


def new_client(client_id, transport, protocol):
    kwargs = dict(client_id=client_id, transport=transport, protocol=protocol)
    # paho 2 asks which callback signatures the caller uses.
    if hasattr(mqtt, "CallbackAPIVersion"):
        kwargs["callback_api_version"] = mqtt.CallbackAPIVersion.VERSION1
    return mqtt.Client(**kwargs)


class Side:
    """One client: connects, subscribes to `topic`, collects messages."""

    def __init__(self, name, transport, protocol, port, path, topic, expected, ca=None):
        self.name = name
        self.topic = topic
        self.expected = expected
        self.received = []
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.complete = threading.Event()
        self.client = new_client(name, transport, protocol)
        if transport == "websockets":
            self.client.ws_set_options(path=path)
        if ca is not None:
            self.client.tls_set(ca_certs=ca)
        self.client.on_connect = self.on_connect
        self.client.on_subscribe = self.on_subscribe
        self.client.on_message = self.on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()

    def on_connect(self, client, userdata, flags, rc, properties=None):
        if rc == 0:
            client.subscribe(self.topic, qos=1)
            self.connected.set()

    def on_subscribe(self, client, userdata, mid, granted, properties=None):
        self.subscribed.set()

    def on_message(self, client, userdata, message):
        self.received.append(bytes(message.payload))
        if len(self.received) >= len(self.expected):
            self.complete.set()

    def stop(self):
        self.client.disconnect()
        self.client.loop_stop()


def exchange(label, protocol, ws_port, tcp_port, path, ca):
    payloads = [label.encode(), BIG]
    ws = Side(f"ws-{label}", "websockets", protocol, ws_port, path, f"e2e/{label}/to-ws", payloads, ca)
    tcp = Side(f"tcp-{label}", "tcp", protocol, tcp_port, path, f"e2e/{label}/to-tcp", payloads)
    try:
        for side in (ws, tcp):
            if not side.subscribed.wait(WAIT):
                return f"{side.name}: not connected and subscribed"
        for payload in payloads:
            ws.client.publish(tcp.topic, payload, qos=1).wait_for_publish(WAIT)
            tcp.client.publish(ws.topic, payload, qos=1).wait_for_publish(WAIT)
        for side in (ws, tcp):
            if not side.complete.wait(WAIT):
                return f"{side.name}: got {len(side.received)} of {len(side.expected)} messages"
            if side.received != side.expected:
                sizes = [len(p) for p in side.received]
                return f"{side.name}: messages differ (sizes {sizes})"
        return None
    finally:
        ws.stop()
        tcp.stop()


def main():
    ws_port, tcp_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    ca = sys.argv[4] if len(sys.argv) > 4 else None
    failed = False
    for label, protocol in (("v31", mqtt.MQTTv31), ("v311", mqtt.MQTTv311), ("v5", mqtt.MQTTv5)):
        problem = exchange(label, protocol, ws_port, tcp_port, path, ca)
        print(f"{label}: {problem or 'ok'}", flush=True)
        failed = failed or problem is not None
    sys.exit(1 if failed else 0)


main()

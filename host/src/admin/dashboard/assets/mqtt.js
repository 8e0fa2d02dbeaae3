// MQTT 3.1.1, as little of it as a page needs to be a client: CONNECT,
// SUBSCRIBE, UNSUBSCRIBE, PUBLISH at QoS 0, PINGREQ, DISCONNECT out;
// CONNACK, SUBACK, UNSUBACK, PUBLISH, PINGRESP in. Bytes are Uint8Arrays;
// WebSocket messages may cut packets anywhere, so the decoder keeps what
// is left over.

const utf8 = new TextEncoder();

function string(s) {
  const bytes = utf8.encode(s);
  if (bytes.length > 0xffff) throw new Error("a string longer than 65535 bytes");
  return [bytes.length >> 8, bytes.length & 0xff, ...bytes];
}

function packet(first, body) {
  const length = [];
  let n = body.length;
  if (n > 268435455) throw new Error("a packet larger than MQTT allows");
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    length.push(byte);
  } while (n > 0);
  const out = new Uint8Array(1 + length.length + body.length);
  out[0] = first;
  out.set(length, 1);
  out.set(body, 1 + length.length);
  return out;
}

// CONNECT: clean session, keep alive in seconds, user and password if given.
export function connect({ clientId, username, password, keepalive = 60 }) {
  let flags = 0x02;
  const payload = [...string(clientId)];
  if (username) { flags |= 0x80; payload.push(...string(username)); }
  if (password) { flags |= 0x40; payload.push(...string(password)); }
  const header = [...string("MQTT"), 4, flags, keepalive >> 8, keepalive & 0xff];
  return packet(0x10, [...header, ...payload]);
}

export function subscribe(id, filter, qos = 0) {
  return packet(0x82, [id >> 8, id & 0xff, ...string(filter), qos]);
}

export function unsubscribe(id, filter) {
  return packet(0xa2, [id >> 8, id & 0xff, ...string(filter)]);
}

// PUBLISH at QoS 0; payload a string or bytes.
export function publish(topic, payload, { retain = false } = {}) {
  const bytes = typeof payload === "string" ? utf8.encode(payload) : payload;
  const body = new Uint8Array([...string(topic), ...bytes]);
  return packet(0x30 | (retain ? 1 : 0), body);
}

export function puback(id) {
  return packet(0x40, [id >> 8, id & 0xff]);
}

export const PINGREQ = Uint8Array.of(0xc0, 0);
export const DISCONNECT = Uint8Array.of(0xe0, 0);

export const CONNACK_CODES = [
  "accepted",
  "unacceptable protocol version",
  "identifier rejected",
  "server unavailable",
  "bad user name or password",
  "not authorized",
];

// Packets from a byte stream: push() what arrives, get whole packets.
export class Decoder {
  constructor() {
    this.buffer = new Uint8Array(0);
  }

  push(chunk) {
    const joined = new Uint8Array(this.buffer.length + chunk.length);
    joined.set(this.buffer);
    joined.set(chunk, this.buffer.length);
    this.buffer = joined;
    const packets = [];
    for (;;) {
      const header = remaining(this.buffer);
      if (!header) break;
      const [length, used] = header;
      if (this.buffer.length < 1 + used + length) break;
      const first = this.buffer[0];
      const body = this.buffer.subarray(1 + used, 1 + used + length);
      packets.push(decode(first, body));
      this.buffer = this.buffer.slice(1 + used + length);
    }
    return packets;
  }
}

// The Remaining Length after the first byte: [length, bytes it took], or
// null when not all of it is here yet.
function remaining(buffer) {
  let value = 0, multiplier = 1;
  for (let i = 1; i <= 4; i++) {
    if (i >= buffer.length) return null;
    const byte = buffer[i];
    value += (byte & 0x7f) * multiplier;
    if (!(byte & 0x80)) return [value, i];
    multiplier *= 128;
  }
  throw new Error("malformed Remaining Length");
}

const u16 = (b, at) => (b[at] << 8) | b[at + 1];

function decode(first, body) {
  const type = first >> 4;
  switch (type) {
    case 2:
      return { type: "connack", sessionPresent: (body[0] & 1) === 1, code: body[1] };
    case 3: {
      const qos = (first >> 1) & 3;
      const topicLength = u16(body, 0);
      const topic = new TextDecoder().decode(body.subarray(2, 2 + topicLength));
      let at = 2 + topicLength;
      let id = null;
      if (qos > 0) { id = u16(body, at); at += 2; }
      return { type: "publish", topic, qos, id, retain: (first & 1) === 1, dup: (first & 8) === 8, payload: body.slice(at) };
    }
    case 9:
      return { type: "suback", id: u16(body, 0), codes: Array.from(body.subarray(2)) };
    case 11:
      return { type: "unsuback", id: u16(body, 0) };
    case 13:
      return { type: "pingresp" };
    default:
      return { type: `packet ${type}` };
  }
}

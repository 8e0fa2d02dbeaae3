//! [`accept`] and [`MqttOverWs`] on loopback sockets, against
//! tungstenite's client and raw TCP clients.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tokio_tungstenite::tungstenite::protocol::frame::Frame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;

use super::*;
use crate::broker::connection::PacketTimedOut;

/// A bound on every wait, so that a broken adapter fails a test instead of
/// hanging it; never reached when things work.
const PATIENCE: Duration = Duration::from_secs(10);
const MAX: usize = 1024;
/// `mqtt.packet_timeout` for the tests that are not about it: never
/// reached.
const NO_TIMEOUT: Duration = Duration::from_secs(600);

/// An MQTT 3.1.1 CONNECT for client id "c1", keep alive 60.
const CONNECT: &[u8] = &[
    0x10, 0x0e, 0x00, 0x04, b'M', b'Q', b'T', b'T', 0x04, 0x02, 0x00, 0x3c, 0x00, 0x02, b'c', b'1',
];
/// A QoS 0 PUBLISH of "hi" to "t", then a PINGREQ.
const PUBLISH_AND_PING: &[u8] = &[0x30, 0x05, 0x00, 0x01, b't', b'h', b'i', 0xc0, 0x00];

type Server = JoinHandle<Result<MqttOverWs<TcpStream>, WsRefusal>>;
type Client = WebSocketStream<TcpStream>;

/// Accepts one connection on a loopback port and runs [`accept`] on it.
async fn serve_one(max_message: usize) -> (SocketAddr, Server) {
    serve_timed(max_message, NO_TIMEOUT).await
}

/// [`serve_one`] with `packet_timeout`.
async fn serve_timed(max_message: usize, packet_timeout: Duration) -> (SocketAddr, Server) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        accept(tcp, "/mqtt", max_message, packet_timeout).await
    });
    (addr, server)
}

async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result"))
}

/// A tungstenite client offering `protocols`; its own limits are off so
/// that it can send what the server must refuse.
async fn client(
    addr: SocketAddr,
    path: &str,
    protocols: &str,
) -> Result<
    (
        Client,
        tokio_tungstenite::tungstenite::handshake::client::Response,
    ),
    WsError,
> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("ws://{addr}{path}").into_client_request().unwrap();
    if !protocols.is_empty() {
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocols.parse().unwrap());
    }
    let config = WebSocketConfig::default()
        .max_message_size(None)
        .max_frame_size(None);
    tokio_tungstenite::client_async_with_config(request, tcp, Some(config)).await
}

async fn connected(max_message: usize) -> (Client, MqttOverWs<TcpStream>) {
    connected_timed(max_message, NO_TIMEOUT).await
}

async fn connected_timed(
    max_message: usize,
    packet_timeout: Duration,
) -> (Client, MqttOverWs<TcpStream>) {
    let (addr, server) = serve_timed(max_message, packet_timeout).await;
    let (ws, response) = within("handshake", client(addr, "/mqtt", "mqtt"))
        .await
        .unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "mqtt");
    let stream = within("accept", server).await.unwrap().unwrap();
    (ws, stream)
}

/// Sends `request` on a raw TCP connection and reads the answer to its end.
async fn raw_http(request: &[u8]) -> (String, Result<MqttOverWs<TcpStream>, WsRefusal>) {
    let (addr, server) = serve_one(MAX).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    within("answer", tcp.read_to_end(&mut answer))
        .await
        .unwrap();
    // As an HTTP client does after `Connection: close`.
    drop(tcp);
    let result = within("accept", server).await.unwrap();
    (String::from_utf8_lossy(&answer).into_owned(), result)
}

fn upgrade_request(path: &str, protocol_header: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Version: 13\r\n{protocol_header}\r\n"
    )
    .into_bytes()
}

/// Reads from `stream` until it has `len` bytes.
async fn read_bytes(stream: &mut MqttOverWs<TcpStream>, len: usize) -> Vec<u8> {
    let mut got = vec![0u8; len];
    within("read", stream.read_exact(&mut got)).await.unwrap();
    got
}

/// The next message the client sees that is not a ping or pong.
async fn next_message(ws: &mut Client) -> Option<Result<Message, WsError>> {
    loop {
        match within("client read", ws.next()).await {
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => return other,
        }
    }
}

fn close_code(message: Option<Result<Message, WsError>>) -> CloseCode {
    match message {
        Some(Ok(Message::Close(Some(frame)))) => frame.code,
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn packets_split_across_messages_arrive_whole_and_in_order() {
    let (mut ws, mut stream) = connected(MAX).await;
    assert_eq!(stream.subprotocol(), "mqtt");
    // A CONNECT a byte per message, then two packets in one message.
    for byte in CONNECT {
        ws.send(Message::binary(vec![*byte])).await.unwrap();
    }
    ws.send(Message::binary(PUBLISH_AND_PING)).await.unwrap();
    let want = [CONNECT, PUBLISH_AND_PING].concat();
    assert_eq!(read_bytes(&mut stream, want.len()).await, want);
}

#[tokio::test]
async fn fragmented_message_arrives_whole() {
    let (mut ws, mut stream) = connected(MAX).await;
    let (first, rest) = CONNECT.split_at(5);
    let fragments = [
        Frame::message(first.to_vec(), OpCode::Data(Data::Binary), false),
        Frame::message(rest.to_vec(), OpCode::Data(Data::Continue), true),
    ];
    for fragment in fragments {
        ws.send(Message::Frame(fragment)).await.unwrap();
    }
    assert_eq!(read_bytes(&mut stream, CONNECT.len()).await, CONNECT);
}

#[tokio::test]
async fn bytes_sent_with_the_request_are_kept() {
    let (addr, server) = serve_one(MAX).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    // A client that does not wait for the answer: a masked binary frame
    // "ab" (zero mask) right behind the request, in one write.
    let mut early = upgrade_request("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n");
    early.extend_from_slice(&[0x82, 0x82, 0, 0, 0, 0, b'a', b'b']);
    tcp.write_all(&early).await.unwrap();
    let mut stream = within("accept", server).await.unwrap().unwrap();
    assert_eq!(read_bytes(&mut stream, 2).await, b"ab");
}

#[tokio::test]
async fn writes_reach_the_client_without_a_flush() {
    let (mut ws, mut stream) = connected(MAX).await;
    // More than the socket buffers hold, so that the last message is only
    // partly written when the writes return; the session never flushes,
    // it reads next, and that must write out the rest.
    let payload: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let writer = async {
        stream.write_all(&payload).await.unwrap();
        read_bytes(&mut stream, 1).await
    };
    let reader = async {
        let mut got = Vec::with_capacity(payload.len());
        let mut messages = 0;
        while got.len() < payload.len() {
            match next_message(&mut ws).await {
                Some(Ok(Message::Binary(bytes))) => {
                    assert!(bytes.len() <= WRITE_CHUNK);
                    got.extend_from_slice(&bytes);
                    messages += 1;
                }
                other => panic!("expected binary data, got {other:?}"),
            }
        }
        assert!(got == payload, "the bytes differ");
        assert!(messages >= payload.len() / WRITE_CHUNK);
        ws.send(Message::binary(vec![7])).await.unwrap();
    };
    let (from_client, ()) = within("transfer", async { tokio::join!(writer, reader) }).await;
    assert_eq!(from_client, [7]);
}

#[tokio::test]
async fn ping_is_answered() {
    let (mut ws, mut stream) = connected(MAX).await;
    ws.send(Message::Ping(b"are you there".to_vec().into()))
        .await
        .unwrap();
    ws.send(Message::binary(CONNECT)).await.unwrap();
    // Reading is what answers pings, as the session always reads.
    assert_eq!(read_bytes(&mut stream, CONNECT.len()).await, CONNECT);
    match within("pong", ws.next()).await {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"are you there"),
        other => panic!("expected a pong, got {other:?}"),
    }
}

#[tokio::test]
async fn text_frame_ends_the_connection_with_1003() {
    let (mut ws, mut stream) = connected(MAX).await;
    ws.send(Message::text("CONNECT")).await.unwrap();
    let mut buf = [0u8; 16];
    let error = within("read", stream.read(&mut buf)).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    // Reading on fails again rather than going on.
    assert!(within("read", stream.read(&mut buf)).await.is_err());
    assert_eq!(
        close_code(next_message(&mut ws).await),
        CloseCode::Unsupported
    );
    within("shutdown", stream.shutdown()).await.unwrap();
    assert!(matches!(next_message(&mut ws).await, None | Some(Err(_))));
}

#[tokio::test]
async fn message_over_the_bound_is_refused_with_1009() {
    let (mut ws, mut stream) = connected(MAX).await;
    ws.send(Message::binary(vec![0u8; MAX + 1])).await.unwrap();
    let mut buf = [0u8; 16];
    assert!(within("read", stream.read(&mut buf)).await.is_err());
    assert_eq!(close_code(next_message(&mut ws).await), CloseCode::Size);
}

#[tokio::test]
async fn fragments_adding_up_over_the_bound_are_refused() {
    let (mut ws, mut stream) = connected(MAX).await;
    let half = vec![0u8; MAX / 2 + 1];
    let fragments = [
        Frame::message(half.clone(), OpCode::Data(Data::Binary), false),
        Frame::message(half, OpCode::Data(Data::Continue), true),
    ];
    for fragment in fragments {
        ws.send(Message::Frame(fragment)).await.unwrap();
    }
    let mut buf = [0u8; 16];
    assert!(within("read", stream.read(&mut buf)).await.is_err());
    assert_eq!(close_code(next_message(&mut ws).await), CloseCode::Size);
}

#[tokio::test]
async fn huge_announced_frame_is_refused_before_its_payload() {
    let (addr, server) = serve_one(MAX).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&upgrade_request(
        "/mqtt",
        "Sec-WebSocket-Protocol: mqtt\r\n",
    ))
    .await
    .unwrap();
    let mut stream = within("accept", server).await.unwrap().unwrap();
    // A binary frame announcing 2^40 bytes, masked, and no payload: the
    // refusal comes from the header alone, nothing is set aside for it.
    let mut header = vec![0x82, 0x80 | 127];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    tcp.write_all(&header).await.unwrap();
    let mut buf = [0u8; 16];
    assert!(within("read", stream.read(&mut buf)).await.is_err());
}

#[tokio::test]
async fn close_from_the_client_is_end_of_stream() {
    let (mut ws, mut stream) = connected(MAX).await;
    ws.send(Message::binary(CONNECT)).await.unwrap();
    ws.close(None).await.unwrap();
    let mut got = Vec::new();
    within("read to end", stream.read_to_end(&mut got))
        .await
        .unwrap();
    assert_eq!(got, CONNECT);
    // Shutting down answers the close; the client then sees the end.
    within("shutdown", stream.shutdown()).await.unwrap();
    // The answer echoes the client's close, here one without a code.
    assert!(matches!(
        next_message(&mut ws).await,
        Some(Ok(Message::Close(None)))
    ));
    assert!(matches!(next_message(&mut ws).await, None | Some(Err(_))));
}

#[tokio::test]
async fn shutdown_sends_a_normal_close() {
    let (mut ws, mut stream) = connected(MAX).await;
    stream.write_all(b"\x20\x02\x00\x00").await.unwrap();
    within("shutdown", stream.shutdown()).await.unwrap();
    match next_message(&mut ws).await {
        Some(Ok(Message::Binary(bytes))) => assert_eq!(&bytes[..], b"\x20\x02\x00\x00"),
        other => panic!("expected the CONNACK, got {other:?}"),
    }
    assert_eq!(close_code(next_message(&mut ws).await), CloseCode::Normal);
}

#[tokio::test]
async fn mqttv31_is_chosen_when_alone() {
    let (addr, server) = serve_one(MAX).await;
    let (_ws, response) = within("handshake", client(addr, "/mqtt?x=1", "mqttv3.1"))
        .await
        .unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "mqttv3.1");
    let stream = within("accept", server).await.unwrap().unwrap();
    assert_eq!(stream.subprotocol(), "mqttv3.1");
}

#[tokio::test]
async fn mqtt_is_chosen_among_several() {
    let (addr, server) = serve_one(MAX).await;
    let (_ws, response) = within("handshake", client(addr, "/mqtt", "mqttv3.1, mqtt"))
        .await
        .unwrap();
    assert_eq!(response.headers()["Sec-WebSocket-Protocol"], "mqtt");
    within("accept", server).await.unwrap().unwrap();
}

#[tokio::test]
async fn other_path_gets_404() {
    let (answer, result) = raw_http(b"GET /other HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
    assert!(matches!(result, Err(WsRefusal::NotFound(path)) if path == "/other"));
    // An upgrade to another path too.
    let (answer, _) = raw_http(&upgrade_request("/", "Sec-WebSocket-Protocol: mqtt\r\n")).await;
    assert!(answer.starts_with("HTTP/1.1 404 "), "{answer}");
}

#[tokio::test]
async fn no_subprotocol_gets_400() {
    let (answer, result) = raw_http(&upgrade_request("/mqtt", "")).await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(!answer.contains("Sec-WebSocket-Accept"), "{answer}");
    assert!(matches!(result, Err(WsRefusal::NoSubprotocol)));
    // The same through a WebSocket client, which sees the refusal.
    let (addr, server) = serve_one(MAX).await;
    match within("handshake", client(addr, "/mqtt", "")).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 400),
        other => panic!("expected HTTP 400, got {:?}", other.map(|(_, r)| r)),
    }
    within("accept", server).await.unwrap().unwrap_err();
}

#[tokio::test]
async fn plain_http_gets_400_and_garbage_too() {
    let (answer, result) = raw_http(b"GET /mqtt HTTP/1.1\r\nHost: localhost\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(matches!(result, Err(WsRefusal::NotUpgrade(_))));
    let (answer, result) = raw_http(b"\x10\x0e\x00\x04MQTT\x04\x02\x00\x3c\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(matches!(result, Err(WsRefusal::Malformed)));
}

#[tokio::test]
async fn wrong_version_gets_426() {
    let request = String::from_utf8(upgrade_request("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n"))
        .unwrap()
        .replace("Version: 13", "Version: 8");
    let (answer, result) = raw_http(request.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 426 "), "{answer}");
    assert!(answer.contains("Sec-WebSocket-Version: 13\r\n"), "{answer}");
    assert!(matches!(result, Err(WsRefusal::Version)));
}

#[tokio::test]
async fn oversized_request_gets_431() {
    let mut request = b"GET /mqtt HTTP/1.1\r\nCookie: ".to_vec();
    request.resize(MAX_REQUEST_BYTES + 10, b'a');
    let (addr, server) = serve_one(MAX).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&request).await.unwrap();
    let mut answer = Vec::new();
    within("answer", tcp.read_to_end(&mut answer))
        .await
        .unwrap();
    drop(tcp);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(matches!(
        within("accept", server).await.unwrap(),
        Err(WsRefusal::TooLarge)
    ));
}

/// A request larger than the room first set aside for it, within the
/// bound: the room grows and the upgrade goes through.
#[tokio::test]
async fn a_large_request_within_the_bound_is_accepted() {
    let cookie = format!("Cookie: c={}\r\n", "a".repeat(MAX_REQUEST_BYTES / 2));
    let mut request = upgrade_request("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n");
    // The cookie goes before the blank line that ends the request.
    request.splice(request.len() - 2..request.len() - 2, cookie.into_bytes());
    request.extend_from_slice(&[0x82, 0x82, 0, 0, 0, 0, b'o', b'k']);
    let (addr, server) = serve_one(MAX).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&request).await.unwrap();
    let mut stream = within("accept", server).await.unwrap().unwrap();
    assert_eq!(read_bytes(&mut stream, 2).await, b"ok");
}

#[tokio::test]
async fn closed_before_the_request_is_whole() {
    let (addr, server) = serve_one(MAX).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /mqtt HTTP/1.1\r\nHost").await.unwrap();
    drop(tcp);
    assert!(matches!(
        within("accept", server).await.unwrap(),
        Err(WsRefusal::Closed)
    ));
}

/// xorshift64: reproducible bytes for the tests below.
fn noise(seed: &mut u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|_| {
            *seed ^= *seed << 13;
            *seed ^= *seed >> 7;
            *seed ^= *seed << 17;
            (*seed >> 24) as u8
        })
        .collect()
}

/// Whatever a client sends, as its request or as frames, the handshake
/// and the stream end with an answer or an error, never a panic.
#[tokio::test]
async fn random_input_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15;
    for case in 0..200 {
        let (addr, server) = serve_one(MAX).await;
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let len = 1 + (noise(&mut seed, 1)[0] as usize) * 8;
        let mut input = noise(&mut seed, len);
        if case % 2 == 0 {
            // After a valid handshake: random frames.
            let mut request = upgrade_request("/mqtt", "Sec-WebSocket-Protocol: mqtt\r\n");
            request.append(&mut input);
            input = request;
        }
        tcp.write_all(&input).await.unwrap();
        tcp.shutdown().await.unwrap();
        let outcome = within("accept", server).await;
        let Ok(result) = outcome else {
            panic!("case {case}: accept panicked");
        };
        if let Ok(mut stream) = result {
            let reader = tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
                let _ = stream.shutdown().await;
            });
            assert!(
                within("read", reader).await.is_ok(),
                "case {case}: read panicked"
            );
        }
    }
}

/// A message begun with a frame without FIN and never finished fails the
/// read with `TimedOut` once `mqtt.packet_timeout` has passed, and the
/// client is told why with 1008.
#[tokio::test]
async fn a_message_left_unfinished_times_out() {
    let timeout = Duration::from_millis(200);
    let (mut ws, mut stream) = connected_timed(MAX, timeout).await;
    let begun = std::time::Instant::now();
    let first = Frame::message(CONNECT[..5].to_vec(), OpCode::Data(Data::Binary), false);
    ws.send(Message::Frame(first)).await.unwrap();
    let mut buf = [0u8; 16];
    let error = within("read", stream.read(&mut buf)).await.unwrap_err();
    assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
    assert!(PacketTimedOut::is(&error), "{error}");
    // A timer never goes off early.
    assert!(begun.elapsed() >= timeout);
    // Reading on fails the same way.
    let again = within("read", stream.read(&mut buf)).await.unwrap_err();
    assert!(PacketTimedOut::is(&again), "{again}");
    assert_eq!(close_code(next_message(&mut ws).await), CloseCode::Policy);
}

/// A message whose fragments come slowly but whole within the timeout is
/// read; so is a stream of messages that together take longer than the
/// timeout, each beginning in the same write as the end of the one before.
#[tokio::test]
async fn messages_whole_in_time_are_read_however_long_the_stream() {
    let timeout = Duration::from_secs(2);
    let (addr, server) = serve_timed(MAX, timeout).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&upgrade_request(
        "/mqtt",
        "Sec-WebSocket-Protocol: mqtt\r\n",
    ))
    .await
    .unwrap();
    let mut stream = within("accept", server).await.unwrap().unwrap();
    // Masked with a zero mask: the payload as it is.
    let frame = |first: u8, payload: &[u8]| {
        let mut out = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
        out.extend_from_slice(payload);
        out
    };
    let client = async {
        // One message in four fragments, a tenth of the timeout apart.
        let last = CONNECT.len() - 1;
        for (i, chunk) in CONNECT.chunks(4).enumerate() {
            let opcode = if i == 0 { 0x02 } else { 0x00 };
            let fin = if i * 4 + chunk.len() > last { 0x80 } else { 0 };
            tcp.write_all(&frame(fin | opcode, chunk)).await.unwrap();
            tokio::time::sleep(timeout / 10).await;
        }
        // Then twenty messages, each write ending one and beginning the
        // next: twice the timeout in all, never whole messages alone.
        let message = frame(0x82, PUBLISH_AND_PING);
        tcp.write_all(&message[..3]).await.unwrap();
        for _ in 0..20 {
            tokio::time::sleep(timeout / 10).await;
            tcp.write_all(&[&message[3..], &message[..3]].concat())
                .await
                .unwrap();
        }
        tcp.write_all(&message[3..]).await.unwrap();
        tcp
    };
    let want = [CONNECT.to_vec(), PUBLISH_AND_PING.repeat(21)].concat();
    let reader = async {
        let mut got = vec![0u8; want.len()];
        stream.read_exact(&mut got).await.map(|_| got)
    };
    let (_tcp, got) = within("transfer", async { tokio::join!(client, reader) }).await;
    assert_eq!(got.unwrap(), want);
}

/// Whole messages and then silence: nothing is timed, the read waits on
/// well past the timeout.
#[tokio::test]
async fn whole_messages_then_silence_do_not_time_out() {
    let timeout = Duration::from_millis(100);
    let (mut ws, mut stream) = connected_timed(MAX, timeout).await;
    let (first, rest) = CONNECT.split_at(5);
    ws.send(Message::Frame(Frame::message(
        first.to_vec(),
        OpCode::Data(Data::Binary),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Frame(Frame::message(
        rest.to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    ws.send(Message::binary(PUBLISH_AND_PING)).await.unwrap();
    let want = [CONNECT, PUBLISH_AND_PING].concat();
    assert_eq!(read_bytes(&mut stream, want.len()).await, want);
    let mut buf = [0u8; 16];
    let idle = tokio::time::timeout(timeout * 5, stream.read(&mut buf)).await;
    assert!(idle.is_err(), "expected no read, got {idle:?}");
    // Still open: the next message is read.
    ws.send(Message::binary(CONNECT)).await.unwrap();
    assert_eq!(read_bytes(&mut stream, CONNECT.len()).await, CONNECT);
}

/// The start of a message in the same write as a whole one, then silence:
/// the whole one is read, then the read times out. (Watching only for
/// bytes arriving would miss this: the bytes of the message left open
/// came with the one that ended.)
#[tokio::test]
async fn a_message_begun_behind_a_whole_one_times_out() {
    let timeout = Duration::from_millis(200);
    let (addr, server) = serve_timed(MAX, timeout).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(&upgrade_request(
        "/mqtt",
        "Sec-WebSocket-Protocol: mqtt\r\n",
    ))
    .await
    .unwrap();
    let mut stream = within("accept", server).await.unwrap().unwrap();
    // "ab" whole, then the header of a 1000-byte binary frame, zero mask.
    let mut bytes = vec![0x82, 0x82, 0, 0, 0, 0, b'a', b'b'];
    bytes.extend_from_slice(&[0x82, 0x80 | 126, 0x03, 0xE8, 0, 0, 0, 0]);
    tcp.write_all(&bytes).await.unwrap();
    assert_eq!(read_bytes(&mut stream, 2).await, b"ab");
    let mut buf = [0u8; 16];
    let error = within("read", stream.read(&mut buf)).await.unwrap_err();
    assert!(PacketTimedOut::is(&error), "{error}");
}

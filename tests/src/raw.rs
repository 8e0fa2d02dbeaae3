//! A byte-level MQTT client for tests that need to see exact packets:
//! reason codes, flags, properties, and what happens after a protocol
//! violation.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use mqhost_codec::{
    decode, encode, ConnAck, Connect, ConnectProperties, LastWill, Packet, ProtocolVersion, PubAck,
    Publish, PublishProperties, QoS, Subscribe, SubscribeProperties, SubscriptionOptions,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Default wait for a packet that should come.
pub const WAIT: Duration = Duration::from_secs(5);

/// A CONNECT from `id` with an optional user name and password.
pub fn login(
    version: ProtocolVersion,
    id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> Connect {
    let mut connect = connect_packet(version, id);
    connect.username = user.map(str::to_owned);
    connect.password = password.map(|p| p.as_bytes().to_vec().into());
    connect
}

/// The CONNACK code, raw: the 5.0 reason code, or the 3.1.1 return code
/// as it is on the wire (the codec would map it to a 5.0 code).
pub async fn connack_code(addr: SocketAddr, connect: Connect) -> u8 {
    let version = connect.protocol;
    let mut client = RawClient::open(addr, version).await;
    client.send(Packet::Connect(Box::new(connect))).await;
    if version.is_v5() {
        return match client.recv().await {
            Some(Packet::ConnAck(ack)) => ack.reason,
            other => panic!("expected CONNACK, got {other:?}"),
        };
    }
    let (mut stream, _) = client.into_parts();
    let mut bytes = [0u8; 4];
    stream.read_exact(&mut bytes).await.expect("CONNACK");
    assert_eq!(bytes[..2], [0x20, 0x02], "a 3.1.1 CONNACK");
    // A refused client's connection closes.
    if bytes[3] != 0 {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(WAIT, stream.read_to_end(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0))), "connection left open: {read:?}");
    }
    bytes[3]
}

/// One raw connection to the broker.
pub struct RawClient {
    stream: TcpStream,
    version: ProtocolVersion,
    buf: BytesMut,
}

/// A CONNECT with the usual defaults: clean start, keep alive 60.
pub fn connect_packet(version: ProtocolVersion, client_id: &str) -> Connect {
    Connect {
        protocol: version,
        clean_start: true,
        keep_alive: 60,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

/// A will on `topic` with `payload`.
pub fn will(topic: &str, payload: &str, qos: QoS) -> LastWill {
    LastWill {
        topic: topic.to_owned(),
        payload: payload.as_bytes().to_vec().into(),
        qos,
        retain: false,
        properties: Default::default(),
    }
}

/// A PUBLISH packet.
pub fn publish(topic: &str, payload: &[u8], qos: QoS, packet_id: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain: false,
        topic: topic.to_owned(),
        packet_id,
        payload: payload.to_vec().into(),
        properties: PublishProperties::default(),
    }
}

/// Subscription options with only a QoS.
pub fn options(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions {
        qos,
        no_local: false,
        retain_as_published: false,
        retain_handling: 0,
    }
}

impl RawClient {
    /// Opens a TCP connection without sending anything.
    pub async fn open(addr: SocketAddr, version: ProtocolVersion) -> RawClient {
        let stream = TcpStream::connect(addr).await.expect("connect to broker");
        stream.set_nodelay(true).unwrap();
        RawClient {
            stream,
            version,
            buf: BytesMut::new(),
        }
    }

    /// Connects a clean session whose socket receive buffer is only
    /// `bytes` long, so that TCP soon stops the broker's writes: a slow
    /// reader without waiting for the kernel's buffers to fill.
    pub async fn connect_with_receive_buffer(
        addr: SocketAddr,
        version: ProtocolVersion,
        client_id: &str,
        bytes: u32,
    ) -> RawClient {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(bytes).expect("SO_RCVBUF");
        let stream = socket.connect(addr).await.expect("connect to broker");
        stream.set_nodelay(true).unwrap();
        let mut client = RawClient {
            stream,
            version,
            buf: BytesMut::new(),
        };
        client
            .send(Packet::Connect(Box::new(connect_packet(
                version, client_id,
            ))))
            .await;
        match client.recv().await {
            Some(Packet::ConnAck(ack)) if ack.reason == 0 => client,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with `connect` and returns the CONNACK.
    pub async fn connect_with(addr: SocketAddr, connect: Connect) -> (RawClient, ConnAck) {
        let mut client = RawClient::open(addr, connect.protocol).await;
        client.send(Packet::Connect(Box::new(connect))).await;
        match client.recv().await {
            Some(Packet::ConnAck(ack)) => (client, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects a clean session and asserts success.
    pub async fn connect(addr: SocketAddr, version: ProtocolVersion, client_id: &str) -> RawClient {
        let (client, ack) = RawClient::connect_with(addr, connect_packet(version, client_id)).await;
        assert_eq!(ack.reason, 0, "CONNACK refused: {ack:?}");
        client
    }

    /// Sends a packet.
    pub async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        encode(&packet, self.version, &mut out).expect("encode");
        self.stream.write_all(&out).await.expect("write to broker");
    }

    /// Sends a packet; false when the connection is gone (a broker that
    /// was killed).
    pub async fn try_send(&mut self, packet: Packet) -> bool {
        let mut out = BytesMut::new();
        encode(&packet, self.version, &mut out).expect("encode");
        self.stream.write_all(&out).await.is_ok()
    }

    /// Sends raw bytes; false when the connection is gone (a broker that
    /// closed it).
    pub async fn try_send_bytes(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).await.is_ok()
    }

    /// Sends raw bytes (for malformed input).
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write to broker");
    }

    /// The next packet within [`WAIT`]; None when the connection closed.
    /// Panics on timeout.
    pub async fn recv(&mut self) -> Option<Packet> {
        match self.recv_within(WAIT).await {
            Ok(packet) => packet,
            Err(()) => panic!("no packet within {WAIT:?}"),
        }
    }

    /// The next packet within `wait`: Ok(None) when the connection closed,
    /// Err(()) when nothing came in time.
    pub async fn recv_within(&mut self, wait: Duration) -> Result<Option<Packet>, ()> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match decode(&mut self.buf, Some(self.version), u32::MAX) {
                Ok(Some(packet)) => return Ok(Some(packet)),
                Ok(None) => {}
                Err(e) => panic!("broker sent a malformed packet: {e}"),
            }
            self.buf.reserve(4096);
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Err(()),
                Ok(Ok(0)) | Ok(Err(_)) => return Ok(None),
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Asserts nothing arrives within `wait`.
    pub async fn expect_silence(&mut self, wait: Duration) {
        if let Ok(packet) = self.recv_within(wait).await {
            panic!("expected nothing, got {packet:?}");
        }
    }

    /// The next PUBLISH, acknowledging nothing.
    pub async fn recv_publish(&mut self) -> Publish {
        match self.recv().await {
            Some(Packet::Publish(p)) => p,
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Asserts the broker closes the connection (after any packets, which
    /// are returned).
    pub async fn expect_closed(&mut self) -> Vec<Packet> {
        let mut seen = Vec::new();
        loop {
            match self.recv_within(WAIT).await {
                Ok(Some(packet)) => seen.push(packet),
                Ok(None) => return seen,
                Err(()) => panic!("connection not closed; got {seen:?}"),
            }
        }
    }

    /// Subscribes to one filter and returns the SUBACK reason codes.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS) -> Vec<u8> {
        self.subscribe_with(filter, options(qos), None).await
    }

    /// Subscribes with full options and an optional subscription id.
    pub async fn subscribe_with(
        &mut self,
        filter: &str,
        options: SubscriptionOptions,
        identifier: Option<u32>,
    ) -> Vec<u8> {
        self.subscribe_filters(vec![(filter.to_owned(), options)], identifier)
            .await
    }

    /// Subscribes to every filter in one SUBSCRIBE, all at `qos`: the
    /// SUBACK's reason codes, one per filter.
    pub async fn subscribe_all(&mut self, filters: &[&str], qos: QoS) -> Vec<u8> {
        let filters = filters
            .iter()
            .map(|f| ((*f).to_owned(), options(qos)))
            .collect();
        self.subscribe_filters(filters, None).await
    }

    async fn subscribe_filters(
        &mut self,
        filters: Vec<(String, SubscriptionOptions)>,
        identifier: Option<u32>,
    ) -> Vec<u8> {
        self.send(Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters,
            properties: SubscribeProperties {
                subscription_identifier: identifier,
                user_properties: Vec::new(),
            },
        }))
        .await;
        match self.recv().await {
            Some(Packet::SubAck(ack)) => ack.reasons,
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    /// Sends PUBACK for `packet_id`.
    pub async fn puback(&mut self, packet_id: u16) {
        self.send(Packet::PubAck(PubAck {
            packet_id,
            reason: 0,
            properties: Default::default(),
        }))
        .await;
    }

    /// Sends a normal DISCONNECT.
    pub async fn disconnect(mut self) {
        self.send(Packet::Disconnect(mqhost_codec::Disconnect {
            reason: 0,
            properties: Default::default(),
        }))
        .await;
        let _ = self.stream.shutdown().await;
    }

    /// The connection and the bytes read but not yet decoded, for tests
    /// that drive the socket themselves (load loops).
    pub fn into_parts(self) -> (TcpStream, BytesMut) {
        (self.stream, self.buf)
    }

    /// Drops the TCP connection without DISCONNECT.
    pub fn drop_connection(self) {
        drop(self.stream);
    }
}

//! Sample packets of every type, with every field populated and with none, per version.

use bytes::{Bytes, BytesMut};
use mqhost_codec::*;

pub const ALL_VERSIONS: [ProtocolVersion; 3] = [
    ProtocolVersion::V3_1,
    ProtocolVersion::V3_1_1,
    ProtocolVersion::V5,
];

fn s(v: &str) -> String {
    v.to_owned()
}

fn user() -> UserProperties {
    vec![
        (s("k"), s("v")),
        (s("k"), s("repeated names are allowed")),
        (s(""), s("")),
    ]
}

fn ack_props() -> AckProperties {
    AckProperties {
        reason_string: Some(s("why")),
        user_properties: user(),
    }
}

pub fn full_connect(protocol: ProtocolVersion) -> Connect {
    let v5 = protocol.is_v5();
    Connect {
        protocol,
        clean_start: true,
        keep_alive: 65535,
        client_id: s("client-é-1"),
        will: Some(LastWill {
            topic: s("will/topic"),
            payload: Bytes::from_static(b"gone\0away"),
            qos: QoS::ExactlyOnce,
            retain: true,
            properties: if v5 {
                WillProperties {
                    will_delay_interval: Some(30),
                    payload_format_indicator: Some(1),
                    message_expiry_interval: Some(u32::MAX),
                    content_type: Some(s("text/plain")),
                    response_topic: Some(s("reply/here")),
                    correlation_data: Some(Bytes::from_static(&[0, 1, 2])),
                    user_properties: user(),
                }
            } else {
                WillProperties::default()
            },
        }),
        username: Some(s("user")),
        password: Some(Bytes::from_static(&[0xFF, 0x00, 0x80])),
        properties: if v5 {
            ConnectProperties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(20),
                maximum_packet_size: Some(1 << 20),
                topic_alias_maximum: Some(10),
                request_response_information: Some(1),
                request_problem_information: Some(0),
                user_properties: user(),
                authentication_method: Some(s("SCRAM-SHA-1")),
                authentication_data: Some(Bytes::from_static(b"client-first")),
            }
        } else {
            ConnectProperties::default()
        },
    }
}

pub fn empty_connect(protocol: ProtocolVersion) -> Connect {
    Connect {
        protocol,
        clean_start: false,
        keep_alive: 0,
        client_id: String::new(),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }
}

pub fn full_publish(v5: bool) -> Publish {
    Publish {
        dup: true,
        qos: QoS::ExactlyOnce,
        retain: true,
        topic: s("a/b/c"),
        packet_id: 65535,
        payload: Bytes::from_static(b"payload \x00\xff"),
        properties: if v5 {
            PublishProperties {
                payload_format_indicator: Some(0),
                message_expiry_interval: Some(60),
                topic_alias: Some(7),
                response_topic: Some(s("resp")),
                correlation_data: Some(Bytes::from_static(b"corr")),
                user_properties: user(),
                subscription_identifiers: vec![1, 268_435_455, 128],
                content_type: Some(s("application/json")),
            }
        } else {
            PublishProperties::default()
        },
    }
}

/// Every packet type the version has, each with all fields populated and with none.
pub fn samples(v: ProtocolVersion) -> Vec<Packet> {
    let v5 = v.is_v5();
    let props = |p: AckProperties| if v5 { p } else { AckProperties::default() };
    let mut out = vec![
        Packet::Connect(Box::new(full_connect(v))),
        Packet::Connect(Box::new(empty_connect(v))),
        Packet::ConnAck(ConnAck {
            session_present: v != ProtocolVersion::V3_1,
            reason: reason::SUCCESS,
            properties: if v5 {
                ConnAckProperties {
                    session_expiry_interval: Some(10),
                    receive_maximum: Some(100),
                    maximum_qos: Some(1),
                    retain_available: Some(0),
                    maximum_packet_size: Some(65536),
                    assigned_client_identifier: Some(s("auto-1")),
                    topic_alias_maximum: Some(0),
                    reason_string: Some(s("welcome")),
                    user_properties: user(),
                    wildcard_subscription_available: Some(1),
                    subscription_identifiers_available: Some(0),
                    shared_subscription_available: Some(1),
                    server_keep_alive: Some(30),
                    response_information: Some(s("resp/")),
                    server_reference: Some(s("other:1883")),
                    authentication_method: Some(s("SCRAM-SHA-1")),
                    authentication_data: Some(Bytes::from_static(b"server-final")),
                }
            } else {
                ConnAckProperties::default()
            },
        }),
        Packet::ConnAck(ConnAck {
            session_present: false,
            reason: reason::NOT_AUTHORIZED,
            properties: ConnAckProperties::default(),
        }),
        Packet::Publish(full_publish(v5)),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtMostOnce,
            retain: false,
            topic: s("t"),
            packet_id: 0,
            payload: Bytes::new(),
            properties: PublishProperties::default(),
        }),
        Packet::Publish(Publish {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: s("t"),
            packet_id: 1,
            payload: Bytes::from_static(b"x"),
            properties: PublishProperties::default(),
        }),
    ];
    let full_reason = |code: u8| if v5 { code } else { reason::SUCCESS };
    for (make, code) in [
        (
            Packet::PubAck as fn(PubAck) -> Packet,
            reason::NO_MATCHING_SUBSCRIBERS,
        ),
        (Packet::PubRec, reason::QUOTA_EXCEEDED),
        (Packet::PubRel, reason::PACKET_IDENTIFIER_NOT_FOUND),
        (Packet::PubComp, reason::PACKET_IDENTIFIER_NOT_FOUND),
    ] {
        out.push(make(PubAck {
            packet_id: 1234,
            reason: full_reason(code),
            properties: props(ack_props()),
        }));
        out.push(make(PubAck {
            packet_id: 1,
            reason: reason::SUCCESS,
            properties: AckProperties::default(),
        }));
        // Reason code without properties: the three-byte 5.0 form.
        out.push(make(PubAck {
            packet_id: 2,
            reason: full_reason(code),
            properties: AckProperties::default(),
        }));
    }
    let opts = |qos, no_local, rap, rh| SubscriptionOptions {
        qos,
        no_local: v5 && no_local,
        retain_as_published: v5 && rap,
        retain_handling: if v5 { rh } else { 0 },
    };
    out.extend([
        Packet::Subscribe(Subscribe {
            packet_id: 10,
            filters: vec![
                (s("a/+/c"), opts(QoS::AtMostOnce, true, false, 2)),
                (s("#"), opts(QoS::AtLeastOnce, false, true, 1)),
                (s("$share/g/x"), opts(QoS::ExactlyOnce, false, false, 0)),
            ],
            properties: if v5 {
                SubscribeProperties {
                    subscription_identifier: Some(268_435_455),
                    user_properties: user(),
                }
            } else {
                SubscribeProperties::default()
            },
        }),
        Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(s("t"), SubscriptionOptions::default())],
            properties: SubscribeProperties::default(),
        }),
        Packet::SubAck(SubAck {
            packet_id: 10,
            reasons: if v5 {
                vec![
                    0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
                ]
            } else {
                vec![0, 1, 2, 0x80]
            },
            properties: props(ack_props()),
        }),
        Packet::SubAck(SubAck {
            packet_id: 1,
            reasons: vec![0],
            properties: AckProperties::default(),
        }),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: 11,
            filters: vec![s("a/+/c"), s("#"), s("é")],
            user_properties: if v5 { user() } else { Vec::new() },
        }),
        Packet::Unsubscribe(Unsubscribe {
            packet_id: 1,
            filters: vec![s("t")],
            user_properties: Vec::new(),
        }),
        Packet::UnsubAck(UnsubAck {
            packet_id: 11,
            reasons: if v5 {
                vec![0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
            } else {
                Vec::new()
            },
            properties: props(ack_props()),
        }),
        Packet::UnsubAck(UnsubAck {
            packet_id: 1,
            reasons: if v5 { vec![0] } else { Vec::new() },
            properties: AckProperties::default(),
        }),
        Packet::PingReq,
        Packet::PingResp,
        Packet::Disconnect(Disconnect::default()),
    ]);
    if v5 {
        out.extend([
            Packet::Disconnect(Disconnect {
                reason: reason::SESSION_TAKEN_OVER,
                properties: DisconnectProperties {
                    session_expiry_interval: Some(0),
                    reason_string: Some(s("bye")),
                    user_properties: user(),
                    server_reference: Some(s("elsewhere")),
                },
            }),
            Packet::Disconnect(Disconnect {
                reason: reason::DISCONNECT_WITH_WILL,
                properties: DisconnectProperties::default(),
            }),
            Packet::Auth(Auth {
                reason: reason::CONTINUE_AUTHENTICATION,
                properties: AuthProperties {
                    authentication_method: Some(s("SCRAM-SHA-1")),
                    authentication_data: Some(Bytes::from_static(b"step")),
                    reason_string: Some(s("more")),
                    user_properties: user(),
                },
            }),
            Packet::Auth(Auth::default()),
            Packet::Auth(Auth {
                reason: reason::RE_AUTHENTICATE,
                properties: AuthProperties::default(),
            }),
        ]);
    }
    out
}

pub fn encode_to_vec(packet: &Packet, v: ProtocolVersion) -> Vec<u8> {
    let mut buf = BytesMut::new();
    encode(packet, v, &mut buf).expect("sample packets encode");
    buf.to_vec()
}

/// Decodes exactly one packet from `bytes`, which must be consumed entirely.
pub fn decode_one(bytes: &[u8], v: Option<ProtocolVersion>) -> Result<Packet, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    let packet = decode(&mut buf, v, u32::MAX)?.expect("a complete packet");
    assert!(buf.is_empty(), "decode left {} bytes", buf.len());
    Ok(packet)
}

//! Raw commands: the seed's table, every placeholder of every hook point,
//! `${message}`, `pipeline`, and payloads that stay one argument.

use mqhost_codec::{Packet, QoS, Unsubscribe};
use mqhost_tests::raw::{connect_packet, RawClient};
use redis::Commands;

use super::*;

fn commands(hook: &str, n: u32, list: &[&str]) -> String {
    let list: Vec<String> = list.iter().map(|c| format!("\"{c}\"")).collect();
    rule(
        hook,
        n,
        &format!(
            "{{\"action\": {{\"commands\": [{}]}}, \"pool\": \"pool1\"}}",
            list.join(", ")
        ),
    )
}

#[tokio::test]
async fn every_placeholder_of_every_hook_point_expands() {
    let config = [
        commands(
            "client.connected",
            1,
            &[
                "SET conn:${clientid} ${clientid}",
                "HMSET connected:${clientid} username ${username} peerhost ${peerhost} node ${node} ts ${ts}",
            ],
        ),
        commands("client.connected", 2, &["pipeline", "SET p1:${clientid} a", "SET p2:${clientid} b"]),
        commands("client.disconnected", 1, &["SET disconn:${clientid} ${clientid}", "SET disconn_ts:${clientid} ${ts}"]),
        commands("session.created", 1, &["HMSET session:${clientid} username ${username} node ${node}"]),
        commands("session.subscribed", 1, &["HSET sub:${clientid} ${topic} ${qos}"]),
        commands("session.unsubscribed", 1, &["SET unsub:${clientid} ${topic}"]),
        commands(
            "message.publish",
            1,
            &[
                "RPUSH pub:${topic} ${msgid}",
                "HMSET message:${msgid} ${message}",
                "HMSET fields:${msgid} clientid ${clientid} topic ${topic} qos ${qos} payload ${payload} retain ${retain} ts ${ts}",
            ],
        ),
        commands("message.deliver", 1, &["HSET deliver:${clientid} ${topic} ${msgid}", "SET deliver_qos:${clientid} ${qos}"]),
        commands("message.acked", 1, &["HSET ack:${clientid} ${topic} ${msgid}", "SET ack_qos:${clientid} ${qos}"]),
    ]
    .concat();
    let setup = start(&config);
    let mut redis = setup.redis.client();

    let before = now_secs();
    let mut login = connect_packet(mqhost_codec::ProtocolVersion::V3_1_1, "alice-1");
    login.username = Some("alice".to_owned());
    let (alice, _) = RawClient::connect_with(setup.broker.addr(), login).await;
    wait_key(&mut redis, "connected:alice-1");
    assert_eq!(redis.get::<_, String>("conn:alice-1").unwrap(), "alice-1");
    let connected = hash(&mut redis, "connected:alice-1");
    assert_eq!(connected["username"], "alice");
    assert_eq!(connected["peerhost"], "127.0.0.1");
    assert_eq!(connected["node"], NODE);
    let ts: u64 = connected["ts"].parse().unwrap();
    assert!((before..=now_secs()).contains(&ts), "{connected:?}");
    assert_eq!(redis.get::<_, String>("p1:alice-1").unwrap(), "a");
    assert_eq!(redis.get::<_, String>("p2:alice-1").unwrap(), "b");
    wait_key(&mut redis, "session:alice-1");
    let session = hash(&mut redis, "session:alice-1");
    assert_eq!(session["username"], "alice");
    assert_eq!(session["node"], NODE);
    alice.disconnect().await;
    wait_key(&mut redis, "disconn_ts:alice-1");
    assert_eq!(
        redis.get::<_, String>("disconn:alice-1").unwrap(),
        "alice-1"
    );

    // Without a user name: "undefined", as EMQX writes it.
    let anonymous = client(&setup.broker, "anon").await;
    // Two hooks, either may be written first.
    wait_key(&mut redis, "session:anon");
    wait_key(&mut redis, "connected:anon");
    assert_eq!(hash(&mut redis, "session:anon")["username"], "undefined");
    assert_eq!(hash(&mut redis, "connected:anon")["username"], "undefined");
    drop(anonymous);

    let mut sub = client(&setup.broker, "sub").await;
    sub.subscribe("t/#", QoS::AtLeastOnce).await;
    wait_field(&mut redis, "sub:sub", "t/#", "1");

    let mut test = client(&setup.broker, "test").await;
    let before_ms = now_millis();
    send(&mut test, "t/x", b"two words here", QoS::AtLeastOnce, true).await;
    let message = receive(&mut sub).await;
    assert_eq!(message.payload.as_ref(), b"two words here");
    wait_key(&mut redis, "ack:sub");
    let published: Vec<String> = redis.lrange("pub:t/x", 0, -1).unwrap();
    assert_eq!(published.len(), 1);
    let id = &published[0];
    assert_eq!(id.len(), 22);
    assert_eq!(hash(&mut redis, "deliver:sub")["t/x"], *id);
    assert_eq!(hash(&mut redis, "ack:sub")["t/x"], *id);
    assert_eq!(redis.get::<_, String>("deliver_qos:sub").unwrap(), "1");
    assert_eq!(redis.get::<_, String>("ack_qos:sub").unwrap(), "1");

    let fields = hash(&mut redis, &format!("fields:{id}"));
    assert_eq!(fields["clientid"], "test");
    assert_eq!(fields["topic"], "t/x");
    assert_eq!(fields["qos"], "1");
    assert_eq!(fields["payload"], "two words here");
    assert_eq!(fields["retain"], "true");
    let ts: u64 = fields["ts"].parse().unwrap();
    assert!((before_ms..=now_millis()).contains(&ts), "{fields:?}");
    let message_hash = hash(&mut redis, &format!("message:{id}"));
    let expected: HashMap<String, String> = [
        ("id", id.as_str()),
        ("from", "test"),
        ("qos", "1"),
        ("topic", "t/x"),
        ("retain", "true"),
        ("payload", "two words here"),
        ("ts", fields["ts"].as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(message_hash, expected);

    sub.send(Packet::Unsubscribe(Unsubscribe {
        packet_id: 3,
        filters: vec!["t/#".to_owned()],
        user_properties: Vec::new(),
    }))
    .await;
    wait_key(&mut redis, "unsub:sub");
    assert_eq!(redis.get::<_, String>("unsub:sub").unwrap(), "t/#");
}

#[tokio::test]
async fn a_failing_raw_command_is_counted_and_does_not_stop_the_others() {
    let setup = start(&commands(
        "client.connected",
        1,
        &[
            "SET kind:${clientid} string",
            "HSET kind:${clientid} f v",
            "SET after:${clientid} ok",
        ],
    ));
    let mut redis = setup.redis.client();
    let _c = client(&setup.broker, "c").await;
    wait_key(&mut redis, "after:c");
    // HSET on a string is refused (WRONGTYPE); the command after it ran.
    assert_eq!(redis.get::<_, String>("kind:c").unwrap(), "string");
    assert!(setup
        .broker
        .wait_for_log("Redis refused HSET: WRONGTYPE", WAIT)
        .is_some());
    let stats = settled_stats(&setup.broker, |s| s["pools"]["pool1"]["errors"] == 1).await;
    assert_eq!(stats["pools"]["pool1"]["errors"], 1, "{stats}");
}

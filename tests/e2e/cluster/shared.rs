//! Shared subscriptions across nodes: one member of a group in the whole
//! cluster gets each message, whatever node it is on; members share the
//! messages by their number; a plain subscriber beside the group gets
//! them all; a group whose members are all on the publisher's node costs
//! no Redis command; a member node killed leaves the group to the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{RedisCluster, RedisServer};

use super::*;

const V5: ProtocolVersion = ProtocolVersion::V5;

/// The group the tests share.
const GROUP: &str = "$share/workers/jobs/+";

/// `node`'s bus figures.
async fn bus(node: &Broker) -> Value {
    status(node).await["bus"].clone()
}

/// Waits until `node` knows `groups` memberships and `routes` routes of
/// other nodes.
async fn wait_remote(node: &Broker, groups: u64, routes: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let figures = bus(node).await;
        if figures["remote_groups"] == groups && figures["remote_routes"] == routes {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {groups} remote groups and {routes} routes: {figures}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client on `node` subscribed to `filter` at QoS 1.
async fn subscriber(node: &Node, id: &str, filter: &str) -> RawClient {
    let mut client = RawClient::connect(node.broker.addr(), V5, id).await;
    assert_eq!(client.subscribe(filter, QoS::AtLeastOnce).await, [1]);
    client
}

/// Publishes QoS 1 messages with payloads `numbers` on `topic`, each
/// acknowledged before the next, with a user property to check.
async fn publish_numbers(client: &mut RawClient, topic: &str, numbers: std::ops::Range<u32>) {
    for n in numbers {
        let id = (n % 60_000 + 1) as u16;
        let mut message = publish(topic, n.to_string().as_bytes(), QoS::AtLeastOnce, id);
        message.properties.user_properties = vec![("n".into(), n.to_string())];
        client.send(Packet::Publish(message)).await;
        match client.recv().await {
            Some(Packet::PubAck(ack)) => assert_eq!(ack.packet_id, id),
            other => panic!("expected PUBACK {id}, got {other:?}"),
        }
    }
}

/// Reads what each client gets, acknowledging it, until `count` messages
/// arrived between them and then nothing for half a second (so that a
/// message twice would be seen), or a connection closed; each client's
/// payloads as numbers, in the order they came, and the clients back.
/// Checks each message's QoS and property.
async fn collect(clients: Vec<RawClient>, count: usize) -> (Vec<Vec<u32>>, Vec<RawClient>) {
    let total = Arc::new(AtomicUsize::new(0));
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut client| {
            let total = Arc::clone(&total);
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let deadline = tokio::time::Instant::now() + WAIT * 2;
                let mut quiet = Duration::ZERO;
                const TICK: Duration = Duration::from_millis(100);
                while tokio::time::Instant::now() < deadline {
                    if total.load(Ordering::SeqCst) >= count && quiet >= Duration::from_millis(500)
                    {
                        break;
                    }
                    match client.recv_within(TICK).await {
                        Ok(Some(Packet::Publish(message))) => {
                            quiet = Duration::ZERO;
                            let text = std::str::from_utf8(&message.payload).unwrap();
                            assert_eq!(message.qos, QoS::AtLeastOnce);
                            assert_eq!(
                                message.properties.user_properties,
                                [("n".to_owned(), text.to_owned())]
                            );
                            seen.push(text.parse::<u32>().unwrap());
                            client.puback(message.packet_id).await;
                            total.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(Some(other)) => panic!("expected PUBLISH, got {other:?}"),
                        Ok(None) => break,
                        Err(()) => quiet += TICK,
                    }
                }
                (seen, client)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut clients = Vec::new();
    for reader in readers {
        let (seen, client) = reader.await.unwrap();
        all.push(seen);
        clients.push(client);
    }
    (all, clients)
}

/// Each list in increasing order (one publisher's order), and together
/// exactly `0..count`, each once.
fn each_once_in_order(lists: &[Vec<u32>], count: u32) {
    for list in lists {
        assert!(
            list.windows(2).all(|w| w[0] < w[1]),
            "out of order: {list:?}"
        );
    }
    let mut all: Vec<u32> = lists.concat();
    all.sort_unstable();
    assert_eq!(all, (0..count).collect::<Vec<_>>(), "lost or doubled");
}

async fn members_on_other_nodes_share_each_message_once(text: &str) {
    const COUNT: u32 = 200;
    let [n1, n2, n3] = three_nodes(text).await;
    let m2 = subscriber(&n2, "m2", GROUP).await;
    let m3 = subscriber(&n3, "m3", GROUP).await;
    let watcher = subscriber(&n2, "watcher", "jobs/#").await;
    wait_remote(&n1.broker, 2, 1).await;

    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;
    publish_numbers(&mut publisher, "jobs/a", 0..COUNT).await;
    let (got, _members) = collect(vec![m2, m3], COUNT as usize).await;
    each_once_in_order(&got, COUNT);
    // One member each, so turn and turn about.
    assert_eq!(got[0].len(), got[1].len(), "{got:?}");
    // The plain subscriber beside the group gets every one, in order.
    let (watched, _) = collect(vec![watcher], COUNT as usize).await;
    assert_eq!(watched[0], (0..COUNT).collect::<Vec<_>>());
    // n2 had the message for its route and half for the group: once each.
    let n1_bus = bus(&n1.broker).await;
    assert_eq!(n1_bus["forwarded"], COUNT + COUNT / 2, "{n1_bus}");
    assert_eq!(n1_bus["shared_elsewhere"], COUNT, "{n1_bus}");
}

#[tokio::test]
async fn a_group_with_members_on_other_nodes_gets_each_message_once() {
    let redis = RedisServer::start();
    members_on_other_nodes_share_each_message_once(&config(&redis.addr(), "c1", "")).await;
}

/// The same on a 3-master Redis Cluster.
#[tokio::test]
async fn a_group_across_nodes_on_a_redis_cluster_gets_each_message_once() {
    let cluster = RedisCluster::start();
    let text = config(&cluster.servers(), "c1", "cluster.redis.type = cluster\n");
    members_on_other_nodes_share_each_message_once(&text).await;
}

#[tokio::test]
async fn members_share_by_their_number_whatever_node_they_are_on() {
    const COUNT: u32 = 300;
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let [n1, n2, n3] = three_nodes(&text).await;
    // One member on the publisher's node, two on n2, one on n3.
    let m1 = subscriber(&n1, "m1", GROUP).await;
    let m2a = subscriber(&n2, "m2a", GROUP).await;
    let m2b = subscriber(&n2, "m2b", GROUP).await;
    let m3 = subscriber(&n3, "m3", GROUP).await;
    // A group whose members are all on n1 (two of them).
    let solo_a = subscriber(&n1, "solo-a", "$share/solo/local/#").await;
    let solo_b = subscriber(&n1, "solo-b", "$share/solo/local/#").await;
    wait_remote(&n1.broker, 2, 0).await;

    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;
    publish_numbers(&mut publisher, "jobs/b", 0..COUNT).await;
    let (got, _members) = collect(vec![m1, m2a, m2b, m3], COUNT as usize).await;
    each_once_in_order(&got, COUNT);
    let shares: Vec<usize> = got.iter().map(Vec::len).collect();
    // Each member gets a quarter: turns go by members, not by nodes.
    assert_eq!(shares, [75, 75, 75, 75], "{got:?}");

    // The group on n1 alone: served here, not a Redis command more.
    let before = bus(&n1.broker).await;
    publish_numbers(&mut publisher, "local/x", 0..50).await;
    let (got, _solo) = collect(vec![solo_a, solo_b], 50).await;
    each_once_in_order(&got, 50);
    assert_eq!(got[0].len(), 25, "{got:?}");
    let after = bus(&n1.broker).await;
    assert_eq!(after["redis_commands"], before["redis_commands"], "{after}");
    assert_eq!(after["forwarded"], before["forwarded"], "{after}");
}

#[tokio::test]
async fn a_member_node_killed_leaves_the_group_to_the_others() {
    let redis = RedisServer::start();
    member_node_killed(&config(&redis.addr(), "c1", "")).await;
}

/// The same on a 3-master Redis Cluster.
#[tokio::test]
async fn a_member_node_killed_on_a_redis_cluster_leaves_the_group_to_the_others() {
    let cluster = RedisCluster::start();
    let text = config(&cluster.servers(), "c1", "cluster.redis.type = cluster\n");
    member_node_killed(&text).await;
}

async fn member_node_killed(text: &str) {
    const COUNT: u32 = 100;
    let [n1, n2, mut n3] = three_nodes(text).await;
    let m2 = subscriber(&n2, "m2", GROUP).await;
    let m3 = subscriber(&n3, "m3", GROUP).await;
    wait_remote(&n1.broker, 2, 0).await;
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;

    // Both members up: each message once.
    publish_numbers(&mut publisher, "jobs/c", 0..COUNT).await;
    let (got, mut members) = collect(vec![m2, m3], COUNT as usize).await;
    each_once_in_order(&got, COUNT);
    assert_eq!(got[0].len(), got[1].len(), "{got:?}");

    // n3 killed: until n1 sees it down, what n1 hands to it is lost (at
    // most once); then every message goes to m2.
    n3.broker.kill();
    drop(members.pop());
    let mut next = COUNT;
    let deadline = tokio::time::Instant::now() + WAIT;
    while bus(&n1.broker).await["remote_groups"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "n3 never forgotten");
        publish_numbers(&mut publisher, "jobs/c", next..next + 1).await;
        next += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let window = next;
    publish_numbers(&mut publisher, "jobs/c", window..window + COUNT).await;
    let (got, _) = collect(members, COUNT as usize).await;
    let got = &got[0];
    assert!(got.windows(2).all(|w| w[0] < w[1]), "{got:?}");
    // Everything after n3 was seen down reached m2.
    let after: Vec<u32> = got.iter().copied().filter(|&n| n >= window).collect();
    assert_eq!(after, (window..window + COUNT).collect::<Vec<_>>());
    // In the window, n2's turns at least.
    let during = got.iter().filter(|&&n| n >= COUNT && n < window).count() as u32;
    assert!(
        during >= (window - COUNT) / 2,
        "{during} of {} in the window",
        window - COUNT
    );
}

#[tokio::test]
async fn a_member_that_leaves_is_no_longer_chosen() {
    const COUNT: u32 = 50;
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let [n1, n2, n3] = three_nodes(&text).await;
    let m2 = subscriber(&n2, "m2", GROUP).await;
    let m3 = subscriber(&n3, "m3", GROUP).await;
    wait_remote(&n1.broker, 2, 0).await;
    // Its session ends with its connection (expiry 0): n3 has no member.
    let left = tokio::time::Instant::now();
    m3.disconnect().await;
    wait_remote(&n1.broker, 1, 0).await;
    eprintln!("n1 knew within {:?}", left.elapsed());
    let mut publisher = RawClient::connect(n1.broker.addr(), V5, "pub").await;
    publish_numbers(&mut publisher, "jobs/d", 0..COUNT).await;
    let (got, _) = collect(vec![m2], COUNT as usize).await;
    each_once_in_order(&got, COUNT);
}

//! A Redis Cluster: the login and superuser lookups, sent together,
//! reach the masters owning their keys; ACL lookups too. The connection
//! code is the Redis backend's, tested there at length: this is a smoke
//! test of the plugin's use of it.

use mqhost_codec::{ProtocolVersion, QoS};
use mqhost_tests::redis::RedisCluster;
use redis::Commands;

use super::*;

#[tokio::test]
async fn a_cluster_answers_logins_superusers_and_rules() {
    let cluster = RedisCluster::start();
    let mut conn = cluster.client();
    // Users whose keys live on different masters, and a superuser set on
    // another key again: both lookups of one login go out together.
    let users: Vec<String> = (0..6).map(|i| format!("user{i}")).collect();
    for name in &users {
        add_user(&mut conn, name, PASSWORD, None);
        add_rules(&mut conn, name, &[("own/%u", "3")]);
    }
    let owners: std::collections::BTreeSet<usize> = users
        .iter()
        .map(|name| cluster.master_of(&format!("mqtt_user:{name}")))
        .collect();
    assert!(owners.len() > 1, "the users' keys are on one master");
    let _: () = conn.sadd("mqtt_superusers", "user0").unwrap();
    let keys = "auth.redis.type = cluster\n\
                auth.redis.auth_cmd = HMGET mqtt_user:%u password\n\
                auth.redis.super_cmd = SISMEMBER mqtt_superusers %u\n\
                auth.redis.acl_cmd = HGETALL mqtt_acl:%u\n";
    let (_dirs, broker) = start_broker(
        &config_for(&cluster.servers(), keys),
        &[("acl.nomatch", "deny"), ("mqtt.allow_anonymous", "off")],
    );
    let v5 = ProtocolVersion::V5;
    for name in &users {
        assert_eq!(code(&broker, v5, Some(name), Some("wrong")).await, 0x86);
        let mut client = user(&broker, v5, name, name).await;
        let expected = if name == "user0" {
            // A superuser: no rule needed.
            [1, 1]
        } else {
            [1, 0x87]
        };
        assert_eq!(
            client
                .subscribe_all(&[&format!("own/{name}"), "other"], QoS::AtLeastOnce)
                .await,
            expected,
            "{name}"
        );
    }
    let stats = plugin_stats(&broker).await;
    assert_eq!(stats["superusers"], 1, "{stats}");
    assert_eq!(stats["failures"], 0, "{stats}");
}

//! Hot reload: a changed rule list applies within a second without
//! losing queued writes; changed pool settings reconnect that pool only.

use std::time::Duration;

use mqhost_codec::QoS;
use mqhost_tests::logged_at;
use mqhost_tests::redis::RedisServer;
use redis::Commands;

use super::*;

fn push_to(list: &str) -> String {
    rule(
        "message.publish",
        1,
        &format!(
            "{{\"topic\": \"#\", \"action\": {{\"commands\": [\"RPUSH {list}:${{topic}} ${{msgid}}\"]}}, \"pool\": \"pool1\"}}"
        ),
    )
}

#[tokio::test]
async fn a_new_rule_list_applies_within_a_second_and_queued_writes_survive() {
    let setup = start(&push_to("a"));
    let mut redis = setup.redis.client();
    let mut publisher = client(&setup.broker, "pub").await;
    send(&mut publisher, "t", b"0", QoS::AtLeastOnce, false).await;
    wait_key(&mut redis, "a:t");

    // Writes queue up while Redis does not answer...
    setup.redis.pause();
    for i in 1..=20u8 {
        send(&mut publisher, "t", &[i], QoS::AtLeastOnce, false).await;
    }
    // ... the rules change meanwhile ...
    setup
        .dirs
        .write_config("redis", &config_for(&setup.redis.addr(), &push_to("b")));
    let edited = setup.dirs.config_written_at("redis");
    let reloaded = setup
        .broker
        .wait_for_log("plugin configuration reloaded", WAIT)
        .expect("the configuration reloaded");
    // From the edit to the broker's line, by the system clock: the test's
    // own scheduling does not count.
    let applied = logged_at(&reloaded)
        .duration_since(edited)
        .unwrap_or_else(|_| panic!("reloaded before the edit: {reloaded}"));
    for i in 21..=40u8 {
        send(&mut publisher, "t", &[i], QoS::AtLeastOnce, false).await;
    }
    setup.redis.resume();
    // ... and nothing queued is lost: the old rules' writes, then the new.
    assert!(wait_until(WAIT, || redis.llen::<_, u32>("b:t").unwrap() == 20));
    assert_eq!(redis.llen::<_, u32>("a:t").unwrap(), 21);
    eprintln!("configuration applied {applied:?} after the edit");
    assert!(
        applied < Duration::from_secs(1),
        "applied after {applied:?}"
    );
    let stats = plugin_stats(&setup.broker).await;
    assert_eq!(stats["pools"]["pool1"]["reconnects"], 0, "{stats}");
}

/// `CLIENT ID`s of the connections a server has, but the asker's own.
fn connections(server: &RedisServer) -> Vec<String> {
    let mut conn = server.client();
    let own: i64 = redis::cmd("CLIENT").arg("ID").query(&mut conn).unwrap();
    let list: String = redis::cmd("CLIENT").arg("LIST").query(&mut conn).unwrap();
    let mut ids: Vec<String> = list
        .lines()
        .filter_map(|l| l.split(' ').next()?.strip_prefix("id=").map(str::to_owned))
        .filter(|id| *id != own.to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn changed_pool_settings_reconnect_that_pool_only() {
    let one = RedisServer::start();
    let two = RedisServer::start();
    let config = |database: u32| {
        format!(
            "backend.redis.pool1.server = {}\n\
             backend.redis.pool2.server = {}\n\
             backend.redis.pool2.database = {database}\n\
             backend.redis.hook.client.connected.1 = {{\"action\": {{\"commands\": [\"SET p1:${{clientid}} 1\"]}}, \"pool\": \"pool1\"}}\n\
             backend.redis.hook.client.connected.2 = {{\"action\": {{\"commands\": [\"SET p2:${{clientid}} 1\"]}}, \"pool\": \"pool2\"}}\n",
            one.addr(),
            two.addr()
        )
    };
    let (dirs, broker) = start_broker(&config(0));
    let _c1 = client(&broker, "c1").await;
    wait_key(&mut one.client(), "p1:c1");
    wait_key(&mut two.client(), "p2:c1");
    // Writer and channel of each pool.
    assert!(wait_until(WAIT, || connections(&one).len() == 2
        && connections(&two).len() == 2));
    let one_before = connections(&one);
    let two_before = connections(&two);

    dirs.write_config("redis", &config(1));
    assert!(broker
        .wait_for_log(
            "pool pool2: connection settings changed, reconnecting",
            WAIT
        )
        .is_some());
    let _c2 = client(&broker, "c2").await;
    wait_key(&mut two.client_db(1), "p2:c2");
    wait_key(&mut one.client(), "p1:c2");
    assert!(!two.client().exists::<_, bool>("p2:c2").unwrap());

    assert_eq!(connections(&one), one_before, "pool1 kept its connections");
    assert!(
        wait_until(WAIT, || {
            let now = connections(&two);
            now.len() == 2 && now.iter().all(|id| !two_before.contains(id))
        }),
        "pool2 reconnected: {two_before:?} then {:?}",
        connections(&two)
    );
    assert_eq!(
        broker.count_logs("pool pool1: connection settings changed"),
        0
    );
}

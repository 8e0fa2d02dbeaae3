//! The configuration file: the repository's copy (the seed's lines) runs
//! as shipped, and bad files are refused with file, line and key, at
//! start and on reload.

use mqhost_codec::QoS;
use mqhost_tests::plugins::repo_root;
use mqhost_tests::redis::RedisServer;
use redis::Commands;

use super::*;

fn shipped_config(server: &str) -> String {
    let text = std::fs::read_to_string(repo_root().join("etc/plugins/redis.conf")).unwrap();
    text.replace("127.0.0.1:6379", server)
}

#[tokio::test]
async fn the_shipped_configuration_runs_the_seed_rules() {
    let redis_server = RedisServer::start();
    let (_dirs, broker) = start_broker(&shipped_config(&redis_server.addr()));
    assert!(broker
        .wait_for_log(
            &format!(
                "pools: pool1 (single {}); 11 rules (10 functions, 1 command lists)",
                redis_server.addr()
            ),
            WAIT
        )
        .is_some());
    let started = broker.wait_for_log("plugin started", WAIT).unwrap();
    assert!(
        started.contains("hooks=client.disconnected,session.created,session.subscribed,session.unsubscribed,message.publish,message.acked"),
        "{started}"
    );
    let mut redis = redis_server.client();
    let mut test = client(&broker, "test").await;
    send(&mut test, "topic", b"Hello world!", QoS::AtLeastOnce, true).await;
    wait_field(&mut redis, "mqtt:retain:topic", "payload", "Hello world!");
    send(&mut test, "queue/q", b"stored", QoS::AtLeastOnce, false).await;
    test.disconnect().await;
    wait_field(&mut redis, "mqtt:client:test", "state", "0");
    let mut sub = client(&broker, "sub").await;
    sub.subscribe("queue/q", QoS::AtLeastOnce).await;
    assert_eq!(receive(&mut sub).await.payload.as_ref(), b"stored");
    assert!(wait_until(WAIT, || zrange(&mut redis, "mqtt:msg:queue/q").is_empty()));
}

#[tokio::test]
async fn the_keep_latest_variants_run_once_uncommented() {
    let redis_server = RedisServer::start();
    let text = shipped_config(&redis_server.addr());
    let mut uncommented = String::new();
    for line in text.lines() {
        let keep_latest =
            line.starts_with("## backend.redis.hook.") && line.contains("keep_latest");
        uncommented.push_str(if keep_latest { &line[3..] } else { line });
        uncommented.push('\n');
    }
    let (_dirs, broker) = start_broker(&uncommented);
    let mut redis = redis_server.client();
    let mut test = client(&broker, "test").await;
    send(&mut test, "a/b", b"latest", QoS::AtLeastOnce, false).await;
    wait_field(&mut redis, "mqtt:latest_msg:a/b", "payload", "latest");
    // message.publish.1 was replaced: nothing under mqtt:msg:*.
    assert!(zrange(&mut redis, "mqtt:msg:a/b").is_empty());
    let mut sub = client(&broker, "sub").await;
    sub.subscribe("a/b", QoS::AtLeastOnce).await;
    assert_eq!(receive(&mut sub).await.payload.as_ref(), b"latest");
    wait_no_key(&mut redis, "mqtt:latest_msg:a/b");
}

#[tokio::test]
async fn a_bad_file_keeps_the_plugin_from_starting_and_says_where() {
    let redis_server = RedisServer::start();
    let dirs = mqhost_tests::plugins::PluginDirs::new();
    dirs.install(&mqhost_tests::plugins::workspace_library("mqhost-redis"));
    dirs.write_config(
        "redis",
        &format!(
            "backend.redis.pool1.server = {}\nbackend.redis.hook.message.publish.1 = {{\"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool9\"}}\n",
            redis_server.addr()
        ),
    );
    let broker = mqhost_tests::Broker::start_with_plugins(&dirs, &[]);
    let file = dirs.etc.join("redis.conf");
    let line = broker
        .wait_for_log("plugin not started", WAIT)
        .expect("the plugin is refused");
    assert!(
        line.contains(&format!(
            "{}:2: backend.redis.hook.message.publish.1: pool \"pool9\" is not defined; defined pools: pool1",
            file.display()
        )),
        "{line}"
    );
    assert_eq!(broker.count_logs("plugin started"), 0);
}

#[tokio::test]
async fn a_bad_edit_is_refused_and_the_rules_in_force_stay() {
    let setup = start(&rule(
        "client.connected",
        1,
        r#"{"action": {"commands": ["SET conn:${clientid} 1"]}, "pool": "pool1"}"#,
    ));
    let mut redis = setup.redis.client();
    let bad = config_for(
        &setup.redis.addr(),
        &format!(
            "\n{}",
            rule(
                "client.connected",
                1,
                r#"{"action": {"commands": ["SET conn:${clientid} 2"]}"#
            )
        ),
    );
    setup.dirs.write_config("redis", &bad);
    let refused = setup
        .broker
        .wait_for_log("configuration refused", WAIT)
        .expect("the edit is refused");
    assert!(
        refused.contains(&format!(
            "{}:3: backend.redis.hook.client.connected.1: invalid JSON",
            setup.dirs.etc.join("redis.conf").display()
        )),
        "{refused}"
    );
    let _c = client(&setup.broker, "c").await;
    wait_key(&mut redis, "conn:c");
    assert_eq!(redis.get::<_, String>("conn:c").unwrap(), "1");
}

#[tokio::test]
async fn a_pool_logs_in_as_an_acl_user_and_uses_its_database() {
    let redis_server = RedisServer::start_with(&[
        "--user",
        "default",
        "off",
        "--user",
        "alice",
        "on",
        ">wonderland",
        "~*",
        "&*",
        "+@all",
    ]);
    let config = format!(
        "backend.redis.pool1.server = {}\n\
         backend.redis.pool1.username = alice\n\
         backend.redis.pool1.password = wonderland\n\
         backend.redis.pool1.database = 2\n{}",
        redis_server.addr(),
        every_role(),
    );
    let (_dirs, broker) = start_broker(&config);
    let mut redis = redis::Client::open(format!(
        "redis://alice:wonderland@127.0.0.1:{}/2",
        redis_server.port()
    ))
    .unwrap()
    .get_connection()
    .unwrap();
    // The lookup reads, the writer writes and the channel listens with
    // that login, in database 2.
    let _c1 = check_every_role(&broker, &mut redis).await;
    assert!(
        !broker.logs().iter().any(|l| l.contains("wonderland")),
        "the password appeared in the log"
    );
}

#[tokio::test]
async fn a_tls_pool_writes_reads_and_listens_over_tls() {
    let certs = TestCerts::generate();
    let redis_server = RedisServer::start_tls(&certs);
    let tls_port = redis_server.tls_port().unwrap();
    let config = format!(
        "backend.redis.pool1.server = 127.0.0.1:{tls_port}\n{}{}",
        tls_settings(&certs),
        every_role(),
    );
    let (_dirs, broker) = start_broker(&config);
    // The test looks through the plain port; the plugin has only the TLS one.
    let mut redis = redis_server.client();
    let _c1 = check_every_role(&broker, &mut redis).await;
    // Writer, lookups and channel: three connections, all on the TLS port.
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut redis).unwrap();
    let on_tls = clients
        .lines()
        .filter(|l| l.contains(&format!("laddr=127.0.0.1:{tls_port} ")))
        .count();
    assert_eq!(on_tls, 3, "{clients}");
}

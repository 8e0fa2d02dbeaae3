//! The plugin's lookups against a real `redis-server`, called as the
//! broker calls it (through the testing kit's guard): replies of each
//! shape, error replies, kept rules, outages and their log lines.

use std::time::Duration;

use mqhost_auth_redis::AuthRedis;
use mqhost_plugin_api::testing::{
    authenticate_event, authorize_event, client_event, plugin_config, GuardedPlugin, ReplyProbe,
    TestHost,
};
use mqhost_plugin_api::{Action, Decision, LogLevel};
use mqhost_tests::redis::{wait_until, RedisServer};
use redis::Commands;

const WAIT: Duration = Duration::from_secs(10);

struct Setup {
    redis: RedisServer,
    host: TestHost,
    plugin: GuardedPlugin,
}

fn start(keys: &str) -> Setup {
    let redis = RedisServer::start();
    let host = TestHost::new();
    let plugin = start_plugin(&host, &config(&redis, keys));
    Setup {
        redis,
        host,
        plugin,
    }
}

fn config(redis: &RedisServer, keys: &str) -> String {
    format!("auth.redis.server = {}\n{keys}", redis.addr())
}

fn start_plugin(host: &TestHost, text: &str) -> GuardedPlugin {
    GuardedPlugin::start::<AuthRedis>(host, &plugin_config(text).build())
        .unwrap_or_else(|e| panic!("the plugin did not start: {e:?}"))
}

/// Asks `client.authenticate` and waits for the answer, pending or not.
fn login(plugin: &GuardedPlugin, client_id: &str, user: &str, password: &str) -> Decision {
    let (reply, probe) = ReplyProbe::new();
    let event = authenticate_event(client_id)
        .username(user)
        .password(password.as_bytes())
        .build();
    let now = plugin.on_client_authenticate(&event, reply).unwrap();
    if now != Decision::PENDING {
        return now;
    }
    probe.wait(WAIT).expect("an answer")
}

/// Asks `client.authorize`: the answer, and whether it came at once.
fn may(
    plugin: &GuardedPlugin,
    client_id: &str,
    user: &str,
    action: Action,
    topic: &str,
) -> (Decision, bool) {
    let (reply, probe) = ReplyProbe::new();
    let event = authorize_event(client_id, action, topic)
        .username(user)
        .qos(1)
        .build();
    let now = plugin.on_client_authorize(&event, reply).unwrap();
    if now != Decision::PENDING {
        return (now, true);
    }
    (probe.wait(WAIT).expect("an answer"), false)
}

fn stats(plugin: &GuardedPlugin) -> serde_json::Value {
    serde_json::from_str(&plugin.stats().unwrap()).unwrap()
}

#[test]
fn users_are_found_checked_and_made_superusers_in_one_round_trip() {
    let setup = start(
        "auth.redis.auth_cmd = HMGET mqtt_user:%u password salt\n\
         auth.redis.password_hash = sha256,salt\n\
         auth.redis.super_cmd = SISMEMBER mqtt_superusers %u\n",
    );
    let mut conn = setup.redis.client();
    // sha256("public" + "salt_foo123"), from Python's hashlib.
    let hash = "b2d69bc0144d1099e95468c736ccf92198ccabe1ad1dcb0370f5a30c20f63d2f";
    for user in ["alice", "root", "with space"] {
        let _: () = conn
            .hset_multiple(
                format!("mqtt_user:{user}"),
                &[("password", hash), ("salt", "salt_foo123")],
            )
            .unwrap();
    }
    let _: () = conn.sadd("mqtt_superusers", "root").unwrap();
    let plugin = &setup.plugin;
    assert_eq!(login(plugin, "c1", "alice", "public"), Decision::ALLOW);
    assert_eq!(
        login(plugin, "c2", "root", "public"),
        Decision::ALLOW_SUPERUSER
    );
    assert_eq!(login(plugin, "c3", "alice", "wrong"), Decision::DENY);
    assert_eq!(login(plugin, "c4", "nobody", "public"), Decision::IGNORE);
    // A user name with a space is one key, not two arguments.
    assert_eq!(login(plugin, "c5", "with space", "public"), Decision::ALLOW);
    assert_eq!(login(plugin, "c6", "with", "public"), Decision::IGNORE);
    // No user name: nothing to look up.
    let (reply, _probe) = ReplyProbe::new();
    let anonymous = authenticate_event("c7").build();
    assert_eq!(
        plugin.on_client_authenticate(&anonymous, reply).unwrap(),
        Decision::IGNORE
    );
    let stats = stats(plugin);
    assert_eq!(stats["lookups"], 6, "{stats}");
    assert_eq!(
        (
            &stats["allowed"],
            &stats["superusers"],
            &stats["denied"],
            &stats["ignored"]
        ),
        (&3.into(), &1.into(), &1.into(), &3.into()),
        "{stats}"
    );
    assert_eq!(
        (&stats["not_found"], &stats["skipped"]),
        (&2.into(), &1.into())
    );
    assert_eq!(stats["redis"]["up"], true);
}

#[test]
fn an_error_reply_is_a_failure_logged_once_a_period() {
    let setup = start(
        "auth.redis.auth_cmd = HGET mqtt_user:%u password\n\
         auth.redis.acl_cmd = HGETALL mqtt_acl:%u\n\
         auth.redis.failed_action = deny\n",
    );
    let mut conn = setup.redis.client();
    // Keys of the wrong type: WRONGTYPE.
    let _: () = conn.set("mqtt_user:alice", "x").unwrap();
    let _: () = conn.set("mqtt_acl:alice", "x").unwrap();
    let plugin = &setup.plugin;
    for id in ["c1", "c2", "c3"] {
        assert_eq!(login(plugin, id, "alice", "pw"), Decision::DENY);
    }
    assert_eq!(
        may(plugin, "c1", "alice", Action::PUBLISH, "t"),
        (Decision::DENY, false)
    );
    let stats = stats(plugin);
    assert_eq!(stats["failures"], 4, "{stats}");
    // Not an outage: Redis answers.
    assert_eq!(stats["redis"]["up"], true, "{stats}");
    let warnings = setup.host.logs_at(LogLevel::WARN);
    let wrongtype: Vec<&String> = warnings
        .iter()
        .filter(|w| w.contains("WRONGTYPE"))
        .collect();
    assert_eq!(wrongtype.len(), 1, "{warnings:#?}");
    assert!(wrongtype[0].contains("client c1: authentication lookup: error reply"));
}

#[test]
fn rules_are_kept_per_client_until_it_disconnects_or_the_file_changes() {
    let keys = "auth.redis.acl_cmd = HGETALL mqtt_acl:%u\n";
    let setup = start(keys);
    let mut conn = setup.redis.client();
    let _: () = conn
        .hset_multiple("mqtt_acl:alice", &[("a/#", "2"), ("s/%c", "1")])
        .unwrap();
    let plugin = &setup.plugin;
    // The first question looks the rules up...
    assert_eq!(
        may(plugin, "c1", "alice", Action::PUBLISH, "a/1"),
        (Decision::ALLOW, false)
    );
    // ... later ones, about any topic, are answered from them at once.
    assert_eq!(
        may(plugin, "c1", "alice", Action::PUBLISH, "b"),
        (Decision::IGNORE, true)
    );
    assert_eq!(
        may(plugin, "c1", "alice", Action::SUBSCRIBE, "s/c1"),
        (Decision::ALLOW, true)
    );
    // Another client, or the same id with another user, looks up its own.
    assert_eq!(
        may(plugin, "c2", "alice", Action::SUBSCRIBE, "s/c1"),
        (Decision::IGNORE, false)
    );
    assert_eq!(
        may(plugin, "c1", "bob", Action::PUBLISH, "a/1"),
        (Decision::IGNORE, false)
    );
    assert_eq!(stats(plugin)["lookups"], 3);
    assert_eq!(stats(plugin)["redis"]["clients_with_rules"], 2);

    // A disconnect forgets them.
    let _: () = conn.hset("mqtt_acl:alice", "b", "2").unwrap();
    plugin
        .on_client_disconnected(&client_event("c1").build())
        .unwrap();
    assert_eq!(
        may(plugin, "c1", "alice", Action::PUBLISH, "b"),
        (Decision::ALLOW, false)
    );
    // So does a new configuration.
    let _: () = conn.hdel("mqtt_acl:alice", "b").unwrap();
    let text = config(&setup.redis, &format!("{keys}auth.redis.pool = 8\n"));
    plugin
        .reconfigure(&plugin_config(&text).build())
        .unwrap()
        .unwrap();
    assert_eq!(
        may(plugin, "c1", "alice", Action::PUBLISH, "b"),
        (Decision::IGNORE, false)
    );
    assert_eq!(stats(plugin)["cached"], 2);
}

#[test]
fn without_a_cache_every_question_asks_redis() {
    let setup = start("auth.redis.acl_cmd = HGETALL mqtt_acl:%u\nauth.redis.acl_cache_ttl = 0\n");
    let _: () = setup
        .redis
        .client()
        .hset("mqtt_acl:alice", "a", "all")
        .unwrap();
    for _ in 0..3 {
        assert_eq!(
            may(&setup.plugin, "c1", "alice", Action::PUBLISH, "a"),
            (Decision::ALLOW, false)
        );
    }
    assert_eq!(stats(&setup.plugin)["lookups"], 3);
}

#[test]
fn an_outage_is_logged_when_it_begins_and_when_it_ends() {
    let mut setup = start(
        "auth.redis.auth_cmd = HGET mqtt_user:%u password\n\
         auth.redis.query_timeout = 1s\n",
    );
    let _: () = setup
        .redis
        .client()
        .hset("mqtt_user:alice", "password", "pw")
        .unwrap();
    assert_eq!(login(&setup.plugin, "c0", "alice", "pw"), Decision::ALLOW);
    setup.redis.kill();
    for i in 0..5 {
        let id = format!("c{i}");
        assert_eq!(login(&setup.plugin, &id, "alice", "pw"), Decision::IGNORE);
    }
    let outage = |host: &TestHost| {
        host.logs_at(LogLevel::WARN)
            .iter()
            .filter(|w| w.contains("lookups get auth.redis.failed_action's answer"))
            .count()
    };
    assert_eq!(outage(&setup.host), 1, "{:#?}", setup.host.logs());
    assert_eq!(stats(&setup.plugin)["redis"]["up"], false);
    setup.redis.restart();
    let _: () = setup
        .redis
        .client()
        .hset("mqtt_user:alice", "password", "pw")
        .unwrap();
    assert!(
        wait_until(WAIT, || login(&setup.plugin, "c9", "alice", "pw")
            == Decision::ALLOW),
        "the plugin did not reconnect"
    );
    let back: Vec<String> = setup
        .host
        .infos()
        .into_iter()
        .filter(|l| l.contains("answers again"))
        .collect();
    assert_eq!(back.len(), 1, "{back:?}");
    assert!(back[0].contains("lookups failed meanwhile"), "{back:?}");
    assert_eq!(outage(&setup.host), 1);
    let stats = stats(&setup.plugin);
    assert!(stats["failures"].as_u64().unwrap() >= 5, "{stats}");
}

#[test]
fn a_lookup_slower_than_the_query_timeout_gets_the_failed_action() {
    let setup = start(
        "auth.redis.auth_cmd = HGET mqtt_user:%u password\n\
         auth.redis.query_timeout = 200ms\n\
         auth.redis.failed_action = deny\n",
    );
    let _: () = setup
        .redis
        .client()
        .hset("mqtt_user:alice", "password", "pw")
        .unwrap();
    assert_eq!(login(&setup.plugin, "c0", "alice", "pw"), Decision::ALLOW);
    setup.redis.pause();
    assert_eq!(login(&setup.plugin, "c1", "alice", "pw"), Decision::DENY);
    setup.redis.resume();
    assert!(wait_until(WAIT, || login(
        &setup.plugin,
        "c2",
        "alice",
        "pw"
    ) == Decision::ALLOW));
    let stats = stats(&setup.plugin);
    assert!(stats["timeouts"].as_u64().unwrap() >= 1, "{stats}");
    setup.plugin.stop().unwrap();
}

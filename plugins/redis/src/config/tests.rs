use super::*;
use crate::hook::HookPoint as H;
use mqhost_redis_link::{PoolKind, Secret};

fn parse(text: &str) -> Result<Config, ConfigError> {
    super::parse(text, "etc/plugins/redis.conf")
}

/// The seed's configuration lines 1 to 11, as the user's document shows
/// them (without its line numbers).
pub(crate) const SEED: &str = r##"backend.redis.hook.session.created.1 = {"action": {"function": "on_subscribe_lookup"}, "pool": "pool1"}
backend.redis.hook.client.disconnected.1 = {"action": {"function": "on_client_disconnected"}, "pool": "pool1"}
backend.redis.hook.session.subscribed.1 = {"topic": "queue/#", "action": {"function": "on_message_fetch_for_queue"}, "pool": "pool1"}
backend.redis.hook.session.subscribed.2 = {"topic": "pubsub/#", "action": {"function": "on_message_fetch_for_pubsub"}, "pool": "pool1"}
backend.redis.hook.session.subscribed.3 = {"action": {"function": "on_retain_lookup"}, "pool": "pool1"}
backend.redis.hook.session.unsubscribed.1= {"topic": "#", "action": {"commands": ["DEL mqtt:acked:${clientid}:${topic}"]}, "pool": "pool1"}
backend.redis.hook.message.publish.1 = {"topic": "#", "action": {"function": "on_message_publish"}, "expired_time" : 3600, "pool": "pool1"}
backend.redis.hook.message.publish.2 = {"topic": "#", "action": {"function": "on_message_retain"}, "expired_time" : 3600, "pool": "pool1"}
backend.redis.hook.message.publish.3 = {"topic": "#", "action": {"function": "on_retain_delete"}, "pool": "pool1"}
backend.redis.hook.message.acked.1 = {"topic": "queue/#", "action": {"function": "on_message_acked_for_queue"}, "pool": "pool1"}
backend.redis.hook.message.acked.2 = {"topic": "pubsub/#", "action": {"function": "on_message_acked_for_pubsub"}, "pool": "pool1"}
"##;

/// The seed's commented keep_latest variants (lines 12 to 14), uncommented.
pub(crate) const KEEP_LATEST: &str = r##"backend.redis.hook.session.subscribed.1 = {"topic": "#", "action": {"function": "on_message_fetch_for_keep_latest"}, "pool": "pool1"}
backend.redis.hook.message.publish.1 = {"topic": "#", "action": {"function": "on_message_store_keep_latest"}, "expired_time" : 3600, "pool": "pool1"}
backend.redis.hook.message.acked.1 = {"topic": "#", "action": {"function": "on_message_acked_for_keep_latest"}, "pool": "pool1"}
"##;

const POOL1: &str = "backend.redis.pool1.server = 127.0.0.1:6379\n";

fn functions(config: &Config, hook: H) -> Vec<(&'static str, Option<&str>, u64)> {
    config
        .rules
        .for_hook(hook)
        .iter()
        .map(|r| match &r.action {
            Action::Function(f) => (f.name(), r.filter.as_deref(), r.ttl),
            Action::Commands(_) => ("commands", r.filter.as_deref(), r.ttl),
        })
        .collect()
}

#[test]
fn the_seed_configuration_loads_unchanged() {
    let config = parse(&format!("{SEED}{POOL1}")).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    assert_eq!(config.rules.len(), 11);
    assert_eq!(config.pools.len(), 1);
    assert_eq!(
        functions(&config, H::SessionSubscribed),
        [
            ("on_message_fetch_for_queue", Some("queue/#"), 7200),
            ("on_message_fetch_for_pubsub", Some("pubsub/#"), 7200),
            ("on_retain_lookup", None, 7200),
        ]
    );
    assert_eq!(
        functions(&config, H::MessagePublish),
        [
            ("on_message_publish", Some("#"), 3600),
            ("on_message_retain", Some("#"), 3600),
            ("on_retain_delete", Some("#"), 7200),
        ]
    );
    assert_eq!(
        functions(&config, H::SessionUnsubscribed),
        [("commands", Some("#"), 7200)]
    );
    assert_eq!(
        functions(&config, H::SessionCreated),
        [("on_subscribe_lookup", None, 7200)]
    );
    assert_eq!(
        config.rules.hooks(),
        HookSet::CLIENT_DISCONNECTED
            | HookSet::SESSION_CREATED
            | HookSet::SESSION_SUBSCRIBED
            | HookSet::SESSION_UNSUBSCRIBED
            | HookSet::MESSAGE_PUBLISH
            | HookSet::MESSAGE_ACKED
    );
}

use mqhost_plugin_api::HookSet;

#[test]
fn the_keep_latest_variants_replace_their_rules() {
    let config = parse(&format!("{SEED}{KEEP_LATEST}{POOL1}")).unwrap();
    assert_eq!(config.rules.len(), 11);
    assert_eq!(config.warnings.len(), 3, "{:?}", config.warnings);
    assert!(config.warnings[0].contains("replaces the rule of line 3"));
    assert_eq!(
        functions(&config, H::SessionSubscribed)[0],
        ("on_message_fetch_for_keep_latest", Some("#"), 7200)
    );
    assert_eq!(
        functions(&config, H::MessagePublish)[0],
        ("on_message_store_keep_latest", Some("#"), 3600)
    );
    assert_eq!(
        functions(&config, H::MessageAcked)[0],
        ("on_message_acked_for_keep_latest", Some("#"), 7200)
    );
    // On their own, with the seed's "## " comment marks, they are comments.
    let commented: String = KEEP_LATEST.lines().map(|l| format!("## {l}\n")).collect();
    assert_eq!(
        parse(&format!("{commented}{POOL1}")).unwrap().rules.len(),
        0
    );
}

#[test]
fn the_repository_file_is_the_seed_configuration() {
    let text = include_str!("../../../../etc/plugins/redis.conf");
    let config = parse(text).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    let seed = parse(&format!("{SEED}{POOL1}")).unwrap();
    let summary = |c: &Config| -> Vec<(String, String)> {
        c.rules
            .iter()
            .map(|r| {
                (
                    format!("{}.{}", r.hook.name(), r.order),
                    format!("{:?} {:?} {}", r.action, r.filter, r.ttl),
                )
            })
            .collect()
    };
    assert_eq!(summary(&config), summary(&seed));
    let pool = &config.pools[0];
    assert_eq!(
        (
            pool.name.as_str(),
            pool.link.kind,
            pool.link.describe_servers()
        ),
        ("pool1", PoolKind::Single, "127.0.0.1:6379".to_owned())
    );
    assert_eq!(
        (
            pool.link.pool_size,
            pool.link.database,
            pool.channel.as_str()
        ),
        (8, 0, "mqtt_channel")
    );
}

#[test]
fn a_rule_may_name_a_pool_defined_further_down() {
    let text = format!("{SEED}\n# pools\n{POOL1}");
    assert!(parse(&text).is_ok());
}

#[test]
fn every_pool_setting_is_read() {
    let text = "\
backend.redis.pool2.type = sentinel
backend.redis.pool2.server = 10.0.0.1:26380, 10.0.0.2
backend.redis.pool2.sentinel = mymaster
backend.redis.pool2.pool_size = 4
backend.redis.pool2.database = 3
backend.redis.pool2.username = mq
backend.redis.pool2.password = s3cret
backend.redis.pool2.channel = orders
backend.redis.pool2.max_queued_commands = 500000
backend.redis.pool2.max_queued_bytes = 64MB
backend.redis.pool3.type = cluster
backend.redis.pool3.server = 127.0.0.1:7000,127.0.0.1:7001
";
    let config = parse(text).unwrap();
    let pool2 = config.pool("pool2").unwrap();
    assert_eq!(pool2.link.kind, PoolKind::Sentinel);
    assert_eq!(
        pool2.link.describe_servers(),
        "10.0.0.1:26380,10.0.0.2:26379"
    );
    assert_eq!(pool2.link.sentinel.as_deref(), Some("mymaster"));
    assert_eq!((pool2.link.pool_size, pool2.link.database), (4, 3));
    assert_eq!(pool2.link.username.as_deref(), Some("mq"));
    assert_eq!(pool2.link.password, Some(Secret("s3cret".into())));
    assert_eq!(pool2.channel, "orders");
    assert_eq!(pool2.max_queued_commands, 500_000);
    assert_eq!(pool2.max_queued_bytes, 64 << 20);
    let pool3 = config.pool("pool3").unwrap();
    assert_eq!(
        pool3.link.describe_servers(),
        "127.0.0.1:7000,127.0.0.1:7001"
    );
    assert!(!config.describe().contains("s3cret"));
    assert!(!format!("{config:?}").contains("s3cret"));
}

fn error(text: &str) -> ConfigError {
    parse(text).unwrap_err()
}

fn assert_error(text: &str, line: u32, key: &str, fragment: &str) {
    let error = error(text);
    assert_eq!((error.line, error.key.as_str()), (line, key), "{error}");
    assert!(error.message.contains(fragment), "{error}");
    // The host shows it with the file in front.
    assert!(error
        .with_file("etc/plugins/redis.conf")
        .starts_with(&format!("etc/plugins/redis.conf:{line}: {key}: ")));
}

#[test]
fn rule_errors_name_line_and_key() {
    let key = "backend.redis.hook.message.publish.1";
    assert_error(
        &format!("{POOL1}{key} = {{\"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool9\"}}\n"),
        2,
        key,
        "pool \"pool9\" is not defined; defined pools: pool1",
    );
    assert_error(
        &format!("{POOL1}\n{key} = {{\"action\": {{\"function\": \"on_message_fetch\"}}}}\n"),
        3,
        key,
        "unknown function \"on_message_fetch\"",
    );
    assert_error(
        &format!(
            "{POOL1}{key} = {{\"action\": {{\"function\": \"on_message_acked_for_queue\"}}}}\n"
        ),
        2,
        key,
        "on_message_acked_for_queue runs at message.acked, not at message.publish",
    );
    assert_error(
        &format!("{POOL1}{key} = {{\"action\": \n"),
        2,
        key,
        "invalid JSON",
    );
    assert_error(
        &format!("{POOL1}{key} = {{\"topic\": \"a/#/b\", \"action\": {{\"function\": \"on_message_publish\"}}}}\n"),
        2,
        key,
        "'#' is only allowed as the whole last level",
    );
    assert_error(
        &format!("{POOL1}{key} = {{\"action\": {{\"commands\": [\"SET a ${{clinetid}}\"]}}}}\n"),
        2,
        key,
        "unknown placeholder ${clinetid}",
    );
    assert_error(
        &format!("{POOL1}{key} = {{\"action\": {{\"function\": \"on_message_publish\"}}, \"expired_time\": \"soon\"}}\n"),
        2,
        key,
        "expired_time",
    );
    assert_error(
        &format!("{POOL1}{key} = {{\"action\": {{\"function\": \"on_message_publish\"}}, \"pol\": \"pool1\"}}\n"),
        2,
        key,
        "unknown field \"pol\"",
    );
    assert_error(
        "backend.redis.hook.message.published.1 = {}\n",
        1,
        "backend.redis.hook.message.published.1",
        "unknown hook point \"message.published\"",
    );
    assert_error(
        "backend.redis.hook.message.publish.first = {}\n",
        1,
        "backend.redis.hook.message.publish.first",
        "<n> a number",
    );
}

#[test]
fn a_rule_without_pool_needs_a_single_pool() {
    let rule =
        r#"backend.redis.hook.message.publish.1 = {"action": {"function": "on_message_publish"}}"#;
    let config = parse(&format!("{POOL1}{rule}\n")).unwrap();
    assert_eq!(
        config.rules.iter().next().unwrap().pool.as_deref(),
        Some("pool1")
    );
    assert_error(
        &format!("{POOL1}backend.redis.pool2.server = 127.0.0.1\n{rule}\n"),
        3,
        "backend.redis.hook.message.publish.1",
        "missing \"pool\"",
    );
}

#[test]
fn pool_errors_name_line_and_key() {
    assert_error(
        "backend.redis.pool1.type = master\n",
        1,
        "backend.redis.pool1.type",
        "single, sentinel or cluster",
    );
    assert_error(
        "\nbackend.redis.pool1.servr = 127.0.0.1\n",
        2,
        "backend.redis.pool1.servr",
        "unknown pool setting \"servr\"",
    );
    assert_error(
        "backend.redis.pool1.pool_size = 0\n",
        1,
        "backend.redis.pool1.pool_size",
        "from 1 to 1024",
    );
    assert_error(
        "backend.redis.pool1.server = 127.0.0.1:99999\n",
        1,
        "backend.redis.pool1.server",
        "host[:port]",
    );
    assert_error(
        "backend.redis.pool1.type = sentinel\n",
        1,
        "backend.redis.pool1.sentinel",
        "master's name",
    );
    assert_error(
        "backend.redis.pool1.type = cluster\nbackend.redis.pool1.database = 2\n",
        1,
        "backend.redis.pool1.database",
        "only database 0",
    );
    assert_error(
        "backend.redis.pool1.server = a:1, b:2\n",
        1,
        "backend.redis.pool1.server",
        "one server",
    );
    assert_error(
        "backend.redis.msg.expired_after = soon\n",
        1,
        EXPIRED_AFTER,
        "duration",
    );
    assert_error(
        "backend.redis.hook = x\n",
        1,
        "backend.redis.hook",
        "unknown key",
    );
    assert_error(
        "backend.redis.p$1.server = x\n",
        1,
        "backend.redis.p$1.server",
        "invalid pool name",
    );
}

#[test]
fn expired_after_is_the_default_ttl() {
    let text = format!(
        "{POOL1}backend.redis.msg.expired_after = 60\n\
         backend.redis.hook.message.publish.1 = {{\"action\": {{\"function\": \"on_message_publish\"}}}}\n\
         backend.redis.hook.message.publish.2 = {{\"action\": {{\"function\": \"on_message_retain\"}}, \"expired_time\": 0}}\n\
         backend.redis.hook.message.publish.3 = {{\"action\": {{\"function\": \"on_message_store_keep_latest\"}}, \"expired_time\": \"30\"}}\n"
    );
    let config = parse(&text).unwrap();
    let ttls: Vec<u64> = functions(&config, H::MessagePublish)
        .iter()
        .map(|f| f.2)
        .collect();
    assert_eq!(ttls, [60, 60, 30]);
}

#[test]
fn unknown_keys_elsewhere_are_warnings() {
    let config = parse(&format!(
        "plugin.enable = on\nplugin.priority = 5\naudit.file = x\n{POOL1}"
    ))
    .unwrap();
    assert_eq!(config.warnings.len(), 1);
    assert!(config.warnings[0].starts_with("line 3: audit.file: unknown key"));
}

#[test]
fn a_topic_where_the_hook_has_none_is_a_warning() {
    let text = format!(
        "{POOL1}backend.redis.hook.client.connected.1 = {{\"topic\": \"a\", \"action\": {{\"function\": \"on_client_connected\"}}}}\n"
    );
    let config = parse(&text).unwrap();
    assert!(config.warnings[0].contains("\"topic\" is ignored at client.connected"));
    assert!(config.rules.iter().next().unwrap().filter.is_none());
}

#[test]
fn mosquitto_lines_define_the_default_pool_and_the_fork_behaviour() {
    let text = "redis_host 127.0.0.1\nredis_port 6380\nredis_auth doordu\n";
    let config = parse(text).unwrap();
    let pool = config.pool("default").unwrap();
    assert_eq!(pool.link.describe_servers(), "127.0.0.1:6380");
    assert_eq!(pool.link.password, Some(Secret("doordu".into())));
    assert_eq!(
        functions(&config, H::ClientConnected),
        [("on_client_online_hash", None, 7200)]
    );
    assert_eq!(
        functions(&config, H::ClientDisconnected),
        [("on_client_online_hash", None, 7200)]
    );
    assert_eq!(
        functions(&config, H::MessagePublish),
        [("on_message_expiry_check", None, 7200)]
    );
    // With "=" too, and next to rules that name the default pool.
    let text = "redis_host = localhost\nbackend.redis.hook.client.connected.1 = {\"action\": {\"function\": \"on_client_online_hash\"}, \"pool\": \"default\"}\n";
    let config = parse(text).unwrap();
    assert_eq!(
        config.pool("default").unwrap().link.describe_servers(),
        "localhost:6379"
    );
    assert_eq!(config.rules.for_hook(H::ClientConnected).len(), 1);
    assert_eq!(config.rules.for_hook(H::ClientDisconnected).len(), 0);
    assert_eq!(config.rules.for_hook(H::MessagePublish).len(), 1);
}

#[test]
fn mosquitto_errors_name_line_and_key() {
    assert_error(
        "redis_host 127.0.0.1\nredis_port abc\n",
        2,
        "redis_port",
        "whole number",
    );
    assert_error(
        "redis_host 127.0.0.1\nbackend.redis.default.server = x\n",
        2,
        "backend.redis.default",
        "cannot also be defined",
    );
}

#[test]
fn syntax_errors_keep_their_line() {
    let error = error(&format!("{POOL1}not a setting\n"));
    assert_eq!(error.line, 2);
    assert!(error.message.contains("key = value"), "{error}");
}

#[test]
fn tls_files_are_checked_when_ssl_is_on() {
    let error =
        parse("backend.redis.pool1.ssl = on\nbackend.redis.pool1.certfile = /etc/hostname\n")
            .unwrap_err();
    assert_eq!(error.key.as_str(), "backend.redis.pool1.keyfile");
    assert!(
        error.message.contains("both certfile and keyfile"),
        "{error}"
    );
    let error =
        parse("backend.redis.pool1.ssl = on\nbackend.redis.pool1.cafile = /nonexistent/ca.pem\n")
            .unwrap_err();
    assert_eq!(error.key.as_str(), "backend.redis.pool1.cafile");
    assert!(
        error.message.contains("cannot read /nonexistent/ca.pem"),
        "{error}"
    );
    // Off, the files are not looked at; the EMQX spellings are accepted.
    let config = parse(
        "backend.redis.pool1.ssl = off\nbackend.redis.pool1.ssl.cacertfile = /nonexistent/ca.pem\n",
    )
    .unwrap();
    assert!(!config.pools[0].link.ssl);
    assert_eq!(
        config.pools[0].link.tls.cafile.as_deref(),
        Some("/nonexistent/ca.pem")
    );
}

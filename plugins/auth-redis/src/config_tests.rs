use std::time::Duration;

use mqhost_redis_link::PoolKind;

use super::*;
use crate::hash::{Digest, Salt};

fn read(text: &str) -> Result<Config, ConfigError> {
    parse(text, "auth_redis.conf")
}

fn error(text: &str) -> ConfigError {
    read(text).expect_err("refused")
}

#[test]
fn the_shipped_file_reads_as_emqx_4_defaults() {
    let text = include_str!("../../../etc/plugins/auth_redis.conf");
    let config = read(text).unwrap();
    assert_eq!(config.link, LinkConfig::default());
    assert_eq!(config.query_timeout, DEFAULT_QUERY_TIMEOUT);
    assert_eq!(
        config.auth_cmd.unwrap().to_string(),
        "HMGET mqtt_user:%u password"
    );
    assert_eq!(config.password_hash, PasswordHash::Plain(Salt::None));
    assert_eq!(
        config.super_cmd.unwrap().to_string(),
        "HGET mqtt_user:%u is_superuser"
    );
    assert_eq!(config.acl_cmd.unwrap().to_string(), "HGETALL mqtt_acl:%u");
    assert_eq!(config.failed_action, FailedAction::Ignore);
    assert_eq!(config.acl_cache_ttl, DEFAULT_ACL_CACHE_TTL);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
    // Shipped off: the broker's own rules stay in charge until it is
    // turned on.
    assert!(text
        .lines()
        .any(|line| line.trim() == "plugin.enable = off"));
}

#[test]
fn every_key_is_read() {
    let config = read(
        "plugin.enable = on\n\
         plugin.priority = 10\n\
         auth.redis.type = cluster\n\
         auth.redis.server = 10.0.0.1:7000,10.0.0.2:7000\n\
         auth.redis.pool = 4\n\
         auth.redis.username = mq\n\
         auth.redis.password = secret\n\
         auth.redis.query_timeout = 500ms\n\
         auth.redis.auth_cmd = HMGET mqtt_user:%u password salt\n\
         auth.redis.password_hash = salt,sha256\n\
         auth.redis.super_cmd = SISMEMBER mqtt_superusers %u\n\
         auth.redis.acl_cmd = HGETALL mqtt_acl:${clientid}\n\
         auth.redis.failed_action = DENY\n\
         auth.redis.acl_cache_ttl = 0\n",
    )
    .unwrap();
    assert_eq!(config.link.kind, PoolKind::Cluster);
    assert_eq!(config.link.pool_size, 4);
    assert_eq!(config.link.username.as_deref(), Some("mq"));
    assert_eq!(config.query_timeout, Duration::from_millis(500));
    assert_eq!(
        config.password_hash,
        PasswordHash::Digest(Digest::Sha256, Salt::Prefix)
    );
    assert_eq!(config.super_cmd.unwrap().command(), "SISMEMBER");
    assert!(config.acl_cmd.unwrap().uses(Var::ClientId));
    assert_eq!(config.failed_action, FailedAction::Deny);
    assert_eq!(config.acl_cache_ttl, Duration::ZERO);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn a_command_left_out_or_empty_turns_its_part_off() {
    let config =
        read("auth.redis.acl_cmd = HGETALL mqtt_acl:%u\nauth.redis.super_cmd =\n").unwrap();
    assert!(config.auth_cmd.is_none());
    assert!(config.super_cmd.is_none());
    assert!(config.acl_cmd.is_some());
    let config = read("").unwrap();
    assert!(config.auth_cmd.is_none() && config.acl_cmd.is_none());
    assert!(
        config.warnings[0].contains("answers nothing"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn bad_values_name_their_line_and_key() {
    let cases = [
        ("auth.redis.password_hash = sha3", "unknown hash algorithm"),
        (
            "auth.redis.password_hash = pbkdf2,sha256,0,20",
            "iterations",
        ),
        ("auth.redis.auth_cmd = %u mqtt_user", "command name"),
        (
            "auth.redis.acl_cmd = HGETALL ${user}",
            "unknown placeholder",
        ),
        ("auth.redis.acl_cmd = HGETALL acl:%C", "no certificate"),
        ("auth.redis.query_timeout = 3 s", "duration"),
        ("auth.redis.query_timeout = 0s", "from 1ms to 1h"),
        ("auth.redis.query_timeout = 2h", "from 1ms to 1h"),
        ("auth.redis.acl_cache_ttl = 2d", "to 1d"),
        ("auth.redis.failed_action = allow", "ignore or deny"),
        ("auth.redis.pool = 0", "from 1 to 1024"),
        ("auth.redis.ssl.verify = maybe", "on or off"),
        ("auth.redis.pool_size = 8", "unknown key"),
    ];
    for (line, expected) in cases {
        let refused = error(&format!("# a comment\n{line}\n"));
        let key = line.split(" = ").next().unwrap();
        assert_eq!((refused.line, refused.key.as_str()), (2, key), "{line}");
        assert!(refused.message.contains(expected), "{line}: {refused:?}");
    }
    // The message about an unknown key lists the known ones.
    let message = error("auth.redis.acl = x").message;
    assert!(message.contains("auth.redis.acl_cmd"), "{message}");
}

#[test]
fn connection_settings_are_checked_together() {
    let refused = error("auth.redis.database = 1\nauth.redis.type = sentinel\n");
    assert_eq!(refused.key.as_str(), "auth.redis.sentinel");
    let refused = error("auth.redis.type = cluster\nauth.redis.database = 2\n");
    assert_eq!(refused.key.as_str(), "auth.redis.database");
}

#[test]
fn emqx_keys_without_a_use_here_are_warned_about() {
    let config = read(
        "auth.redis.acl_cmd = HGETALL mqtt_acl:%u\n\
         auth.redis.ssl.verify = false\n\
         auth.redis.ssl.server_name_indication = disable\n\
         backend.redis.pool1.server = 127.0.0.1\n",
    )
    .unwrap();
    let warnings = config.warnings.join("\n");
    assert!(
        warnings.contains("line 2: auth.redis.ssl.verify"),
        "{warnings}"
    );
    assert!(warnings.contains("line 3: auth.redis.ssl.server_name_indication"));
    assert!(warnings.contains("line 4: backend.redis.pool1.server: unknown key"));
    let quiet = read("auth.redis.acl_cmd = x\nauth.redis.ssl.verify = true\n").unwrap();
    assert!(quiet.warnings.is_empty(), "{:?}", quiet.warnings);
}

#[test]
fn a_salted_hash_with_a_lookup_of_one_value_is_warned_about() {
    for auth_cmd in ["HMGET mqtt_user:%u password", "HGET mqtt_user:%u password"] {
        let config = read(&format!(
            "auth.redis.auth_cmd = {auth_cmd}\nauth.redis.password_hash = sha256,salt\n"
        ))
        .unwrap();
        assert!(
            config
                .warnings
                .iter()
                .any(|w| w.contains("the salt is empty")),
            "{auth_cmd}: {:?}",
            config.warnings
        );
    }
    let config = read(
        "auth.redis.auth_cmd = HMGET mqtt_user:%u password salt\n\
         auth.redis.password_hash = pbkdf2,sha256,1000,20\n",
    )
    .unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn durations_read_as_emqx_writes_them() {
    for (text, millis) in [
        ("3s", 3000),
        ("500ms", 500),
        ("1m30s", 90_000),
        ("1.5s", 1500),
        ("2", 2000),
        ("1h", 3_600_000),
        ("1w", 604_800_000),
        ("0", 0),
    ] {
        assert_eq!(
            parse_duration(text).unwrap(),
            Duration::from_millis(millis),
            "{text}"
        );
    }
    for bad in ["", "s", "3x", "1.2.3s", "-1s", "3 s", ".s", "1e3s", "ms"] {
        assert!(parse_duration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn an_empty_query_timeout_is_the_default() {
    let config = read("auth.redis.query_timeout =\nauth.redis.acl_cmd = x\n").unwrap();
    assert_eq!(config.query_timeout, DEFAULT_QUERY_TIMEOUT);
}

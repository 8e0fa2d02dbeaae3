//! Loading a [`HostConfig`]: built-in defaults, then a properties file, then
//! `--set` overrides, with every error naming where the value came from
//! (file and line, or `--set`) and the key.

use std::fs;
use std::path::Path;

use super::host::HostConfig;
use super::properties::{self, Properties, PropertiesError};

/// The source name used in errors about `--set` overrides.
pub const OVERRIDE_SOURCE: &str = "--set";

impl HostConfig {
    /// Loads the configuration: built-in defaults, then the file at `path`
    /// (if any), then each `--set` override in order.
    ///
    /// Every key is validated; an unknown key or a bad value is an error
    /// naming the file and line (or `--set`) and the key.
    pub fn load(
        path: Option<&Path>,
        overrides: &[(String, String)],
    ) -> Result<Self, PropertiesError> {
        let mut config = HostConfig::default();
        if let Some(path) = path {
            let name = path.display().to_string();
            let text = fs::read_to_string(path)
                .map_err(|e| PropertiesError::new(&*name, format!("cannot read the file: {e}")))?;
            let props = properties::parse(&text, &name)?;
            config.config_file = Some(path.to_path_buf());
            config.apply_properties(&props)?;
        }
        config.apply_overrides(overrides)?;
        config.listener.check().map_err(|message| {
            PropertiesError::new(
                path.map_or(OVERRIDE_SOURCE.into(), |p| p.display().to_string()),
                message,
            )
        })?;
        Ok(config)
    }

    /// Applies every entry of `props` in order (a repeated key: the last wins).
    ///
    /// Relative paths in values resolve against the config file's directory.
    pub fn apply_properties(&mut self, props: &Properties) -> Result<(), PropertiesError> {
        let base = self.config_dir().to_path_buf();
        for entry in props {
            self.set(&entry.key, &entry.value, &base)
                .map_err(|message| props.error(entry, message))?;
        }
        Ok(())
    }

    /// Applies command-line `--set KEY=VALUE` overrides in order.
    ///
    /// Relative paths in values resolve against the current directory.
    pub fn apply_overrides(
        &mut self,
        overrides: &[(String, String)],
    ) -> Result<(), PropertiesError> {
        for (key, value) in overrides {
            self.set(key, value.trim(), Path::new(""))
                .map_err(|message| PropertiesError::for_key(OVERRIDE_SOURCE, None, key, message))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU16;
    use std::path::PathBuf;

    use super::*;
    use crate::config::host::{LogLevel, MQTT_MAX_PACKET_SIZE};
    use crate::config::keys::{KEYS, SHIPPED_CONFIG_DIR};

    const SHIPPED_CONF: &str = include_str!("../../../etc/mqhost.conf");

    /// A scratch file under the system temp dir, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> TempFile {
            let dir = std::env::temp_dir().join(format!("mqhost-config-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            let path = dir.join(name);
            fs::write(&path, text).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = fs::remove_file(&self.0);
        }
    }

    fn from_text(text: &str) -> Result<HostConfig, PropertiesError> {
        let props = properties::parse(text, "test.conf")?;
        let mut config = HostConfig::default();
        config.apply_properties(&props)?;
        Ok(config)
    }

    fn set(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }
    #[test]
    fn shipped_config_has_every_key_with_a_comment() {
        let props = properties::parse(SHIPPED_CONF, "etc/mqhost.conf").unwrap();
        let lines: Vec<&str> = SHIPPED_CONF.lines().collect();
        let mut commented_out = 0;
        for key in KEYS {
            let Some(entry) = props.get(key.name) else {
                // A key whose absence means something (mqtt.allow_anonymous)
                // is shown commented out, with its explanation above.
                let at = lines
                    .iter()
                    .position(|l| l.starts_with(&format!("#{} = ", key.name)))
                    .unwrap_or_else(|| panic!("{} missing from etc/mqhost.conf", key.name));
                assert!(key.default.is_empty(), "{} has a default", key.name);
                assert!(
                    lines[at - 1].starts_with("##"),
                    "no ## comment above {}",
                    key.name
                );
                commented_out += 1;
                continue;
            };
            if key.kind == "path" && key.default.is_empty() {
                assert_eq!(entry.value, "", "{} in etc/mqhost.conf", key.name);
            } else if key.kind == "path" {
                // Written relative to etc/, the default is relative to the
                // current directory: both must name the same place.
                assert_eq!(
                    normalize(&Path::new(SHIPPED_CONFIG_DIR).join(&entry.value)),
                    normalize(Path::new(key.default)),
                    "{} in etc/mqhost.conf",
                    key.name
                );
            } else {
                assert_eq!(entry.value, key.default, "{} in etc/mqhost.conf", key.name);
            }
            let above = lines[entry.line - 2];
            assert!(above.starts_with("##"), "no ## comment above {}", key.name);
        }
        assert_eq!(
            props.len() + commented_out,
            KEYS.len(),
            "etc/mqhost.conf repeats a key"
        );
    }

    /// Removes `.` and `name/..` pairs, without touching the file system.
    fn normalize(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for part in path.components() {
            match part {
                std::path::Component::CurDir => {}
                std::path::Component::ParentDir if out.file_name().is_some() => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }

    /// The defaults with the path keys as the shipped file resolves them
    /// from `base` (its directory).
    fn defaults_seen_from(base: &Path) -> HostConfig {
        let mut expected = HostConfig::default();
        expected.plugins.dir = normalize(&base.join("../plugins"));
        expected.plugins.etc_dir = normalize(&base.join("plugins"));
        expected
    }

    #[test]
    fn shipped_config_loads_and_equals_the_defaults() {
        let mut parsed = from_text(SHIPPED_CONF).unwrap();
        parsed.plugins.dir = normalize(&parsed.plugins.dir);
        parsed.plugins.etc_dir = normalize(&parsed.plugins.etc_dir);
        assert_eq!(parsed, defaults_seen_from(Path::new("")));

        let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/mqhost.conf"));
        let mut loaded = HostConfig::load(Some(path), &[]).unwrap();
        assert_eq!(loaded.config_file(), Some(path));
        let etc = path.parent().unwrap();
        loaded.plugins.dir = normalize(&loaded.plugins.dir);
        loaded.plugins.etc_dir = normalize(&loaded.plugins.etc_dir);
        assert_eq!(loaded.plugins.etc_dir, normalize(&etc.join("plugins")));
        assert_eq!(
            HostConfig {
                config_file: None,
                ..loaded
            },
            defaults_seen_from(etc)
        );
    }
    #[test]
    fn no_file_means_defaults() {
        let config = HostConfig::load(None, &[]).unwrap();
        assert_eq!(config, HostConfig::default());
        assert_eq!(config.config_file(), None);
    }

    #[test]
    fn values_are_typed() {
        let config = from_text(
            "node.name = n1@10.0.0.1\n\
             listener.tcp.default = 1884\n\
             mqtt.max_packet_size = 64KB\n\
             mqtt.max_keepalive = 5m\n\
             mqtt.max_queued_messages = 0\n\
             mqtt.queue_qos0 = off\n\
             mqtt.max_session_expiry = 4294967295\n\
             acl.deny_subscribe = $SYS/#, secret/+/x\n\
             sys.interval = 0\n\
             log.level = DEBUG\n",
        )
        .unwrap();
        assert_eq!(config.node.name, "n1@10.0.0.1");
        assert_eq!(
            config.listener.listeners[0].address,
            Some("0.0.0.0:1884".parse().unwrap())
        );
        assert_eq!(config.mqtt.max_packet_size, 65536);
        assert_eq!(config.mqtt.max_keepalive, NonZeroU16::new(300));
        assert_eq!(config.mqtt.max_queued_messages, None);
        assert!(!config.mqtt.queue_qos0);
        assert_eq!(config.mqtt.max_session_expiry, u32::MAX);
        assert_eq!(config.acl.deny_subscribe, ["$SYS/#", "secret/+/x"]);
        assert_eq!(config.sys.interval, None);
        assert_eq!(config.log.level, LogLevel::Debug);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let file = TempFile::new("unknown.conf", "node.name = a\n\nfoo.bar = 1\n");
        let err = HostConfig::load(Some(&file.0), &[]).unwrap_err();
        assert_eq!(err.source, file.0.display().to_string());
        assert_eq!(err.line, Some(3));
        assert_eq!(err.key.as_deref(), Some("foo.bar"));
        assert_eq!(
            err.to_string(),
            format!("{}:3: foo.bar: unknown key", file.0.display())
        );
    }

    #[test]
    fn unknown_key_suggests_a_close_known_key() {
        let err = from_text("mqtt.max_inflght = 1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.conf:1: mqtt.max_inflght: unknown key; did you mean mqtt.max_inflight?"
        );
    }

    #[test]
    fn bad_value_names_file_line_and_key() {
        let err = from_text("# c\nmqtt.max_inflight = abc\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"test.conf:2: mqtt.max_inflight: expected a whole number, got "abc""#
        );
    }

    #[test]
    fn bad_deny_filter_names_file_line_key_and_filter() {
        let err = from_text("node.name = a\nacl.deny_subscribe = ok/#, a/#/b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "test.conf:2: acl.deny_subscribe: invalid topic filter \"a/#/b\": \
             the wildcard '#' is only allowed as the whole last level of a topic filter"
        );
    }

    #[test]
    fn limits_are_enforced() {
        for (key, bad) in [
            ("mqtt.max_packet_size", "1"),
            ("mqtt.max_packet_size", "257MB"),
            ("mqtt.max_clientid_len", "22"),
            ("mqtt.max_keepalive", "65536"),
            ("mqtt.max_keepalive", "1d"),
            ("mqtt.max_inflight", "0"),
            ("mqtt.receive_maximum", "0"),
            ("mqtt.max_session_expiry", "4294967296"),
            ("node.name", ""),
            ("log.level", "verbose"),
            ("acl.deny_subscribe", "a/#/b"),
            ("acl.deny_subscribe", "a/b+"),
        ] {
            assert!(
                from_text(&format!("{key} = {bad}")).is_err(),
                "{key} = {bad:?}"
            );
        }
        let largest = from_text("mqtt.max_packet_size = 268435460").unwrap();
        assert_eq!(largest.mqtt.max_packet_size, MQTT_MAX_PACKET_SIZE);
    }

    #[test]
    fn later_line_wins() {
        let config = from_text("mqtt.max_inflight = 1\nmqtt.max_inflight = 2\n").unwrap();
        assert_eq!(config.mqtt.max_inflight, 2);
    }

    #[test]
    fn set_override_wins_over_file() {
        let file = TempFile::new(
            "override.conf",
            "mqtt.max_inflight = 10\nlog.level = warn\n",
        );
        let config = HostConfig::load(
            Some(&file.0),
            &[
                set("mqtt.max_inflight", "20"),
                set("mqtt.max_inflight", " 30 "),
            ],
        )
        .unwrap();
        assert_eq!(config.mqtt.max_inflight, 30);
        assert_eq!(config.log.level, LogLevel::Warn);
    }

    #[test]
    fn set_override_error_names_set_and_key() {
        let err = HostConfig::load(None, &[set("mqtt.retainer", "maybe")]).unwrap_err();
        assert_eq!(err.source, "--set");
        assert_eq!(err.line, None);
        assert_eq!(
            err.to_string(),
            r#"--set: mqtt.retainer: expected on or off (or true/false, yes/no), got "maybe""#
        );
        let err = HostConfig::load(None, &[set("nope", "1")]).unwrap_err();
        assert_eq!(err.to_string(), "--set: nope: unknown key");
    }

    #[test]
    fn unreadable_file_is_an_error_naming_the_file() {
        let path = Path::new("/nonexistent/mqhost.conf");
        let err = HostConfig::load(Some(path), &[]).unwrap_err();
        assert_eq!(err.source, "/nonexistent/mqhost.conf");
        assert!(
            err.to_string()
                .starts_with("/nonexistent/mqhost.conf: cannot read the file: "),
            "{err}"
        );
    }

    #[test]
    fn syntax_error_in_file_names_file_and_line() {
        let file = TempFile::new("syntax.conf", "node.name = a\noops\n");
        let err = HostConfig::load(Some(&file.0), &[]).unwrap_err();
        assert_eq!(err.line, Some(2));
        assert_eq!(err.source, file.0.display().to_string());
    }
}

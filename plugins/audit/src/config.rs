//! The audit plugin's settings, read from its configuration file
//! (`etc/plugins/audit.conf`), which the host hands over whole.
//!
//! ```text
//! audit.file = log/audit.jsonl
//! audit.hooks = client.connected, message.publish
//! audit.payload = on
//! audit.drop_topics = secret/#, +/private
//! ```

use std::path::PathBuf;

use mqhost_plugin_api::properties::{self, Entry};
use mqhost_plugin_api::{ConfigError, HookSet};

/// `audit.file`: the log file (required).
pub const FILE: &str = "audit.file";
/// `audit.hooks`: the hook points recorded.
pub const HOOKS: &str = "audit.hooks";
/// `audit.payload`: whether publish lines carry the payload.
pub const PAYLOAD: &str = "audit.payload";
/// `audit.drop_topics`: topic filters whose messages are dropped.
pub const DROP_TOPICS: &str = "audit.drop_topics";

/// Every `audit.*` key; any other is a mistake worth reporting.
const KEYS: [&str; 4] = [FILE, HOOKS, PAYLOAD, DROP_TOPICS];

/// The hook points the audit log can record. Named here rather than taken
/// as `HookSet::ALL`, so that a later interface version adding hook points
/// does not make this plugin ask for hooks it cannot format.
const RECORDABLE: HookSet = HookSet(
    HookSet::CLIENT_CONNECTED.0
        | HookSet::CLIENT_DISCONNECTED.0
        | HookSet::SESSION_CREATED.0
        | HookSet::SESSION_SUBSCRIBED.0
        | HookSet::SESSION_UNSUBSCRIBED.0
        | HookSet::MESSAGE_PUBLISH.0
        | HookSet::MESSAGE_DELIVERED.0
        | HookSet::MESSAGE_ACKED.0,
);

/// The default of `audit.hooks`: all eight hook points.
pub fn all_hooks() -> HookSet {
    RECORDABLE
}

/// The names of the hook points in `hooks`, comma-separated, for logs.
pub fn hook_names(hooks: HookSet) -> String {
    hooks.names().join(", ")
}

/// What the configuration file says, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The log file. A relative path is relative to the broker's current
    /// directory, as for any file the broker process opens.
    pub file: PathBuf,
    /// The line `audit.file` is on, for errors about opening the file.
    pub file_line: u32,
    /// The hook points recorded, and the set `hooks()` returns.
    pub hooks: HookSet,
    /// Whether `message.publish` lines include the payload.
    pub payload: bool,
    /// Messages published to a topic matching one of these are dropped.
    pub drop_topics: Vec<String>,
}

/// Reads and checks the configuration text; `source` names the file in
/// parse errors.
///
/// `plugin.enable` (read by the host) and keys outside `audit.` are
/// ignored; an unknown `audit.` key is an error, since it is almost always
/// a typo that would otherwise silently change nothing.
pub fn parse(text: &str, source: &str) -> Result<Settings, ConfigError> {
    let props = properties::parse(text, source).map_err(|error| ConfigError::from(&error))?;

    if let Some(entry) = props
        .iter()
        .find(|e| e.key.starts_with("audit.") && !KEYS.contains(&e.key.as_str()))
    {
        return Err(ConfigError::at_entry(
            entry,
            format!("unknown key; the audit plugin knows {}", KEYS.join(", ")),
        ));
    }

    let file = props.get(FILE).ok_or_else(|| {
        ConfigError::at(0, FILE, "missing: name the file to append the audit log to")
    })?;
    if file.value.is_empty() {
        return Err(ConfigError::at_entry(
            file,
            "expected the path of the log file",
        ));
    }

    let hooks = match props.get(HOOKS) {
        Some(entry) => parse_hooks(entry)?,
        None => all_hooks(),
    };

    let payload = match props.get(PAYLOAD) {
        Some(entry) => {
            properties::parse_bool(&entry.value).map_err(|m| ConfigError::at_entry(entry, m))?
        }
        None => false,
    };

    let mut drop_topics = Vec::new();
    if let Some(entry) = props.get(DROP_TOPICS) {
        for filter in properties::parse_list(&entry.value) {
            mqhost_plugin_api::topic::validate_filter(&filter).map_err(|e| {
                ConfigError::at_entry(entry, format!("invalid topic filter {filter:?}: {e}"))
            })?;
            drop_topics.push(filter);
        }
        // Without the publish hook the filters would never be consulted:
        // refuse rather than let the setting look as if it worked.
        if !drop_topics.is_empty() && !hooks.contains(HookSet::MESSAGE_PUBLISH) {
            return Err(ConfigError::at_entry(
                entry,
                format!("dropping messages needs message.publish in {HOOKS}"),
            ));
        }
    }

    Ok(Settings {
        file: PathBuf::from(&file.value),
        file_line: file.line_number(),
        hooks,
        payload,
        drop_topics,
    })
}

/// Reads `audit.hooks`: a comma-separated list of hook point names.
fn parse_hooks(entry: &Entry) -> Result<HookSet, ConfigError> {
    let names = properties::parse_list(&entry.value);
    if names.is_empty() {
        return Err(ConfigError::at_entry(
            entry,
            "expected at least one hook point (leave the key out to record all eight)",
        ));
    }
    let mut hooks = HookSet::NONE;
    for name in &names {
        let Some(hook) = HookSet::from_name(name).filter(|hook| RECORDABLE.contains(*hook)) else {
            return Err(ConfigError::at_entry(
                entry,
                format!(
                    "unknown hook point {name:?}; expected some of {}",
                    hook_names(all_hooks())
                ),
            ));
        };
        hooks = hooks | hook;
    }
    Ok(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        super::parse(text, "etc/plugins/audit.conf")
    }

    #[test]
    fn minimal_file_uses_the_defaults() {
        let settings = parse("audit.file = audit.jsonl\n").unwrap();
        assert_eq!(
            settings,
            Settings {
                file: PathBuf::from("audit.jsonl"),
                file_line: 1,
                hooks: all_hooks(),
                payload: false,
                drop_topics: vec![],
            }
        );
        assert_eq!(hook_names(all_hooks()).split(", ").count(), 8);
    }

    #[test]
    fn every_key_is_read() {
        let text = "\
# the audit plugin
plugin.enable = on
audit.file = /var/log/mqhost/audit.jsonl
audit.hooks = message.publish , client.connected,message.acked
audit.payload = on
audit.drop_topics = secret/#, +/private
other.key = ignored
";
        let settings = parse(text).unwrap();
        assert_eq!(settings.file, PathBuf::from("/var/log/mqhost/audit.jsonl"));
        assert_eq!(settings.file_line, 3);
        assert_eq!(
            settings.hooks,
            HookSet::MESSAGE_PUBLISH | HookSet::CLIENT_CONNECTED | HookSet::MESSAGE_ACKED
        );
        assert_eq!(
            hook_names(settings.hooks),
            "client.connected, message.publish, message.acked"
        );
        assert!(settings.payload);
        assert_eq!(settings.drop_topics, ["secret/#", "+/private"]);
    }

    #[test]
    fn plugin_enable_off_is_accepted_too() {
        assert!(parse("plugin.enable = off\naudit.file = a\n").is_ok());
    }

    #[test]
    fn the_last_occurrence_of_a_key_wins() {
        let settings = parse("audit.file = a\naudit.payload = on\naudit.file = b\n").unwrap();
        assert_eq!((settings.file, settings.file_line), (PathBuf::from("b"), 3));
    }

    #[test]
    fn unknown_audit_key_names_line_and_key() {
        let error = parse("audit.file = a\n\naudit.paylod = on\n").unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (3, "audit.paylod"));
        assert!(error.message.starts_with("unknown key"), "{error}");
        assert!(error.message.contains("audit.payload"), "{error}");
        assert!(error
            .with_file("etc/plugins/audit.conf")
            .starts_with("etc/plugins/audit.conf:3: audit.paylod: unknown key"));
    }

    #[test]
    fn missing_or_empty_file_is_an_error() {
        let error = parse("audit.payload = on\n").unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (0, FILE));
        assert!(error.message.contains("missing"), "{error}");
        let error = parse("audit.file =\n").unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (1, FILE));
    }

    #[test]
    fn unknown_hook_name_is_an_error_naming_it() {
        let error = parse("audit.file = a\naudit.hooks = client.connected, message.published\n")
            .unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (2, HOOKS));
        assert!(error.message.contains("\"message.published\""), "{error}");
        assert!(error.message.contains("message.acked"), "{error}");
    }

    #[test]
    fn empty_hook_list_is_an_error() {
        let error = parse("audit.file = a\naudit.hooks = , \n").unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (2, HOOKS));
    }

    #[test]
    fn bad_payload_switch_is_an_error() {
        let error = parse("audit.file = a\naudit.payload = maybe\n").unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (2, PAYLOAD));
        assert!(error.message.contains("on or off"), "{error}");
    }

    #[test]
    fn invalid_drop_filter_is_an_error() {
        let error = parse("audit.file = a\naudit.drop_topics = ok/#, bad/#/x\n").unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (2, DROP_TOPICS));
        assert!(error.message.contains("bad/#/x"), "{error}");
    }

    #[test]
    fn dropping_needs_the_publish_hook() {
        let text = "audit.file = a\naudit.hooks = client.connected\naudit.drop_topics = x\n";
        let error = parse(text).unwrap_err();
        assert_eq!((error.line, error.key.as_str()), (3, DROP_TOPICS));
        // An empty list drops nothing, so it needs no hook.
        assert!(
            parse("audit.file = a\naudit.hooks = client.connected\naudit.drop_topics =\n").is_ok()
        );
    }

    #[test]
    fn syntax_errors_keep_their_line() {
        let error = parse("audit.file = a\nnot a setting\n").unwrap_err();
        assert_eq!(error.line, 2);
        assert!(error.message.contains("key = value"), "{error}");
    }
}

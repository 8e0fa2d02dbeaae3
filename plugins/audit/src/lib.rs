//! `audit`: an mqhost plugin that appends one JSON line per event to a file.
//!
//! It is also the worked example of `docs/plugin-guide.md`: it depends on
//! `mqhost-plugin-api` alone, keeps its hooks to formatting a line, does
//! its I/O on a thread of its own, and switches configuration atomically.
//!
//! # Configuration (`etc/plugins/audit.conf`)
//!
//! | Key | Meaning | Default |
//! |---|---|---|
//! | `audit.file` | Log file, appended to and created if missing. A relative path is relative to the broker's current directory; the directory must exist. | (required) |
//! | `audit.hooks` | Comma-separated hook points to record. | all eight |
//! | `audit.payload` | `on`: `message.publish` lines carry the payload. | `off` |
//! | `audit.drop_topics` | Comma-separated topic filters; a message published to a matching topic is dropped (and its line says `"dropped":true`). Needs `message.publish` in `audit.hooks`. | (none) |
//!
//! `plugin.enable` (read by the host) and keys outside `audit.` are
//! ignored; any other `audit.` key is an error.
//!
//! # Lines
//!
//! Every line is a JSON object with `hook`, `ts` (Unix milliseconds when
//! the hook ran) and `node`, then:
//!
//! - `client.connected`, `client.disconnected`: `clientid`, `username`
//!   (`null` if none), `peer`, `protocol` (3, 4 or 5), `clean_start`,
//!   `keepalive`, and for `client.disconnected` `reason`.
//! - `session.created`: `clientid`, `username`, `resumed`.
//! - `session.subscribed`, `session.unsubscribed`: `clientid`, `topic`
//!   (the filter), `qos`, `is_new`.
//! - `message.publish`: `id` (22 base62 characters), `topic`, `qos`,
//!   `retain`, `from`, `payload_size`, with `audit.payload = on` either
//!   `payload` (UTF-8 text) or `payload_base64`, and `dropped`.
//! - `message.delivered`, `message.acked`: `clientid` (the receiver), `id`,
//!   `topic`, `qos` (of this delivery), `from`.
//!
//! ```text
//! {"hook":"message.publish","ts":1767225600123,"node":"mqhost@127.0.0.1","id":"0Gm7bUq0Xk2Q0000000001","topic":"a/b","qos":1,"retain":false,"from":"sensor-1","payload_size":5,"dropped":false}
//! ```

#![forbid(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::sync::atomic::Ordering;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

use mqhost_plugin_api::{
    export_plugin, ClientEvent, ConfigError, DeliveryEvent, HookSet, Host, MessageEvent,
    MqhostPlugin, PluginConfig, SessionEvent, SubscriptionEvent, Verdict,
};

pub mod config;
pub mod json;
pub mod lines;
pub mod topic;
pub mod writer;

use config::Settings;
use writer::Writer;

/// Lines queued for the writer thread at most. Enough for a burst of tens
/// of thousands of events while the disk catches up; beyond it, lines are
/// dropped and counted rather than slowing the broker down.
pub const QUEUE_CAPACITY: usize = 65536;

/// The plugin: current settings and the writer thread.
pub struct Audit {
    host: Host,
    /// Hooks hold the read lock while they format and queue a line, and a
    /// reconfiguration holds the write lock while it queues a reopen and
    /// swaps: so each line is formatted with the settings in force and
    /// lands in the file those settings name.
    settings: RwLock<Settings>,
    writer: Writer,
}

/// Opens the log file for appending, creating it if missing.
fn open_log(settings: &Settings) -> Result<File, ConfigError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&settings.file)
        .map_err(|error| {
            ConfigError::at(
                settings.file_line,
                config::FILE,
                format!("cannot open {}: {error}", settings.file.display()),
            )
        })
}

/// How the settings read in the broker log.
fn describe(settings: &Settings) -> String {
    let hooks = if settings.hooks == config::all_hooks() {
        "all".to_owned()
    } else {
        config::hook_names(settings.hooks)
    };
    let mut text = format!(
        "appending to {} (hooks: {hooks}; payload {}",
        settings.file.display(),
        if settings.payload { "on" } else { "off" }
    );
    if !settings.drop_topics.is_empty() {
        text.push_str(&format!(
            "; dropping messages to {}",
            settings.drop_topics.join(", ")
        ));
    }
    text.push(')');
    text
}

impl Audit {
    fn settings(&self) -> RwLockReadGuard<'_, Settings> {
        // A panic while the lock was held (caught by the plugin guard) left
        // consistent data behind: the settings are swapped in one move.
        self.settings.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Formats and queues a line if `hook` is recorded. `hooks()` already
    /// limits what the host calls, but between a reconfiguration and the
    /// host asking `hooks()` again, hooks no longer wanted may still come.
    fn record(&self, hook: HookSet, format: impl FnOnce() -> String) {
        let settings = self.settings();
        if settings.hooks.contains(hook) {
            self.writer.line(format());
        }
    }
}

impl MqhostPlugin for Audit {
    fn start(host: Host, config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
        let settings = config::parse(config.text.as_str(), config.source.as_str())?;
        let file = open_log(&settings)?;
        let warn = host.clone();
        let writer = Writer::start(file, settings.file.clone(), QUEUE_CAPACITY, move |m| {
            warn.warn(&m)
        })
        .map_err(|error| ConfigError::new(format!("cannot start the writer thread: {error}")))?;
        host.info(&describe(&settings));
        Ok(Audit {
            host,
            settings: RwLock::new(settings),
            writer,
        })
    }

    fn hooks(&self) -> HookSet {
        self.settings().hooks
    }

    fn on_client_connected(&self, client: &ClientEvent<'_>) {
        self.record(HookSet::CLIENT_CONNECTED, || {
            lines::client("client.connected", lines::now_ms(), client)
        });
    }

    fn on_client_disconnected(&self, client: &ClientEvent<'_>) {
        self.record(HookSet::CLIENT_DISCONNECTED, || {
            lines::client("client.disconnected", lines::now_ms(), client)
        });
    }

    fn on_session_created(&self, session: &SessionEvent<'_>) {
        self.record(HookSet::SESSION_CREATED, || {
            lines::session(lines::now_ms(), session)
        });
    }

    fn on_session_subscribed(&self, subscription: &SubscriptionEvent<'_>) {
        self.record(HookSet::SESSION_SUBSCRIBED, || {
            lines::subscription("session.subscribed", lines::now_ms(), subscription)
        });
    }

    fn on_session_unsubscribed(&self, subscription: &SubscriptionEvent<'_>) {
        self.record(HookSet::SESSION_UNSUBSCRIBED, || {
            lines::subscription("session.unsubscribed", lines::now_ms(), subscription)
        });
    }

    fn on_message_publish(&self, message: &MessageEvent<'_>) -> Verdict {
        let settings = self.settings();
        if !settings.hooks.contains(HookSet::MESSAGE_PUBLISH) {
            return Verdict::CONTINUE;
        }
        let dropped = topic::matches_any(&settings.drop_topics, message.topic.as_str());
        self.writer.line(lines::publish(
            lines::now_ms(),
            message,
            settings.payload,
            dropped,
        ));
        if dropped {
            Verdict::DROP
        } else {
            Verdict::CONTINUE
        }
    }

    fn on_message_delivered(&self, delivery: &DeliveryEvent<'_>) {
        self.record(HookSet::MESSAGE_DELIVERED, || {
            lines::delivery("message.delivered", lines::now_ms(), delivery)
        });
    }

    fn on_message_acked(&self, delivery: &DeliveryEvent<'_>) {
        self.record(HookSet::MESSAGE_ACKED, || {
            lines::delivery("message.acked", lines::now_ms(), delivery)
        });
    }

    fn reconfigure(&self, config: &PluginConfig<'_>) -> Result<(), ConfigError> {
        // Everything that can fail happens before the swap, so an error
        // leaves the running configuration untouched.
        let settings = config::parse(config.text.as_str(), config.source.as_str())?;
        let changed_file = self.settings().file != settings.file;
        let new_file = if changed_file {
            Some(open_log(&settings)?)
        } else {
            None
        };
        let message = describe(&settings);
        {
            let mut current = self
                .settings
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(file) = new_file {
                self.writer.reopen(file, settings.file.clone());
            }
            *current = settings;
        }
        self.host.info(&format!("reconfigured: {message}"));
        Ok(())
    }

    fn stats(&self) -> String {
        let stats = self.writer.stats();
        let mut line = json::Line::new();
        line.uint("lines_written", stats.lines_written.load(Ordering::Relaxed))
            .uint("lines_dropped", stats.lines_dropped.load(Ordering::Relaxed))
            .uint("write_errors", stats.write_errors.load(Ordering::Relaxed))
            .str("file", &self.settings().file.display().to_string());
        line.finish().trim_end().to_owned()
    }

    fn stop(&self) {
        self.writer.stop();
        let stats = self.writer.stats();
        self.host.info(&format!(
            "stopped; {} lines written, {} dropped",
            stats.lines_written.load(Ordering::Relaxed),
            stats.lines_dropped.load(Ordering::Relaxed)
        ));
    }
}

export_plugin!(name: "audit", plugin: Audit);

#[cfg(test)]
pub(crate) mod tests;

//! `probe`: the end-to-end tests' plugin. It writes one line per hook
//! event to `probe.file`, and, on demand, drops messages, panics, refuses a
//! configuration, or calls the host from a thread of its own.
//!
//! Keys (`etc/plugins/probe.conf`):
//! - `probe.file`: where event lines go (required).
//! - `probe.tag`: a word written in every line, to tell configurations apart.
//! - `probe.drop_topic`: messages published to this exact topic are dropped.
//! - `probe.panic_topic`: a message published to this topic makes the hook panic.
//! - `probe.reject`: any value makes the configuration invalid (line and key named).
//! - `probe.hooks`: `all` (default) or a comma-separated list of hook names.
//! - `probe.panic_on_drop`: `on` makes dropping the plugin panic, after
//!   writing a `panicking in drop` line (default `off`). Read when the
//!   plugin is dropped, so a reconfiguration can switch it.
//! - `probe.disconnect_on_connect = CLIENT REASON`: when CLIENT connects,
//!   the `client.connected` hook itself (on the broker's thread) asks the
//!   host to disconnect it with REASON (`0x87` or `135`).
//!
//! A message published to `probe/cmd` is a command for the host, run on
//! another thread: `deliver CLIENT TOPIC PAYLOAD`, `subscribe CLIENT FILTER
//! QOS`, `unsubscribe CLIENT FILTER`, `publish TOPIC PAYLOAD`,
//! `disconnect CLIENT REASON`, `connected CLIENT` (answered by publishing
//! `yes`/`no` to `probe/answer`), or `room CLIENT` (answered by publishing
//! the room of the client's session, `unbounded` for `u64::MAX`, to
//! `probe/answer`). A command the host refuses is logged as a warning:
//! `command "..." failed: ...`.
//!
//! What interfaces 1.2 to 1.4 added is marked `@since`, so the tests can
//! build this plugin against an older interface. From 1.3 on, client lines
//! end with ` listener=NAME transport=PROTOCOL`.
#![forbid(unsafe_code)]

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::{Mutex, PoisonError, RwLock};

use mqhost_plugin_api::properties;
use mqhost_plugin_api::{
    export_plugin, ClientEvent, ConfigError, DeliveryEvent, HookSet, Host, MessageEvent,
    MqhostPlugin, OutMessage, PluginConfig, SessionEvent, SubscriptionEvent, Verdict,
};
// @since 1.3 begin
use mqhost_plugin_api::ListenerEvent;
// @since 1.3 end

#[derive(Clone, Default)]
struct Settings {
    file: String,
    tag: String,
    drop_topic: Option<String>,
    panic_topic: Option<String>,
    panic_on_drop: bool,
    hooks: HookSet,
    // @since 1.2 begin
    disconnect_on_connect: Option<(String, u8)>,
    // @since 1.2 end
}

fn parse(config: &PluginConfig<'_>) -> Result<Settings, ConfigError> {
    let props = properties::parse(config.text.as_str(), config.source.as_str())
        .map_err(|e| ConfigError::from(&e))?;
    let mut settings = Settings {
        hooks: HookSet::ALL,
        ..Settings::default()
    };
    for entry in props.iter() {
        let value = entry.value.clone();
        match entry.key.as_str() {
            "probe.file" => settings.file = value,
            "probe.tag" => settings.tag = value,
            "probe.drop_topic" => settings.drop_topic = Some(value),
            "probe.panic_topic" => settings.panic_topic = Some(value),
            "probe.panic_on_drop" => {
                settings.panic_on_drop = properties::parse_bool(&value)
                    .map_err(|message| ConfigError::at_entry(entry, message))?
            }
            "probe.reject" => return Err(ConfigError::at_entry(entry, "rejected on request")),
            // @since 1.2 begin
            "probe.disconnect_on_connect" => {
                let parsed = value
                    .split_once(' ')
                    .and_then(|(client, code)| Some((client.to_owned(), reason_code(code)?)));
                let Some(parsed) = parsed else {
                    return Err(ConfigError::at_entry(entry, "expected CLIENT REASON"));
                };
                settings.disconnect_on_connect = Some(parsed);
            }
            // @since 1.2 end
            "probe.hooks" if value == "all" => settings.hooks = HookSet::ALL,
            "probe.hooks" => {
                settings.hooks = HookSet::NONE;
                for name in value.split(',').map(str::trim) {
                    let Some(set) = hook_named(name) else {
                        return Err(ConfigError::at_entry(entry, format!("unknown hook {name}")));
                    };
                    settings.hooks = settings.hooks | set;
                }
            }
            _ => {}
        }
    }
    if settings.file.is_empty() {
        return Err(ConfigError::new("probe.file is required"));
    }
    Ok(settings)
}

// @since 1.2 begin
/// A reason code written `0x87` or `135`.
fn reason_code(text: &str) -> Option<u8> {
    match text.strip_prefix("0x") {
        Some(hex) => u8::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}
// @since 1.2 end

fn hook_named(name: &str) -> Option<HookSet> {
    (0..8)
        .map(|bit| HookSet(1 << bit))
        .find(|set| set.names() == [name])
}

pub struct Probe {
    host: Host,
    settings: RwLock<Settings>,
    out: Mutex<()>,
}

impl Probe {
    fn line(&self, text: &str) {
        let settings = self.settings.read().unwrap().clone();
        let _guard = self.out.lock().unwrap();
        if let Ok(mut file) = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&settings.file)
        {
            let _ = writeln!(file, "{} {text}", settings.tag);
        }
    }

    fn command(&self, payload: &[u8]) {
        let text = String::from_utf8_lossy(payload).into_owned();
        let host = self.host.clone();
        std::thread::spawn(move || {
            let words: Vec<&str> = text.split(' ').collect();
            let result = match words.as_slice() {
                ["deliver", client, topic, payload] => {
                    host.deliver(client, &OutMessage::new(topic, payload.as_bytes(), 1))
                }
                ["subscribe", client, filter, qos] => {
                    host.subscribe(client, filter, qos.parse().unwrap_or(0))
                }
                ["unsubscribe", client, filter] => host.unsubscribe(client, filter),
                // @since 1.2 begin
                ["disconnect", client, reason] => match reason_code(reason) {
                    Some(reason) => host.disconnect(client, reason),
                    None => Ok(()),
                },
                // @since 1.2 end
                ["publish", topic, payload] => {
                    host.publish(&OutMessage::new(topic, payload.as_bytes(), 0))
                }
                ["connected", client] => {
                    let answer: &[u8] = if host.is_connected(client) {
                        b"yes"
                    } else {
                        b"no"
                    };
                    host.publish(&OutMessage::new("probe/answer", answer, 0))
                }
                // @since 1.4 begin
                ["room", client] => host.session_room(client).and_then(|room| {
                    let answer = match room {
                        u64::MAX => "unbounded".to_owned(),
                        room => room.to_string(),
                    };
                    host.publish(&OutMessage::new("probe/answer", answer.as_bytes(), 0))
                }),
                // @since 1.4 end
                _ => Ok(()),
            };
            if let Err(error) = result {
                host.warn(&format!("command {text:?} failed: {error}"));
            }
        });
    }
}

impl Probe {
    /// `client.connected`, with `listener` words when the host gave them.
    fn connected(&self, e: &ClientEvent<'_>, listener: &str) {
        self.line(&format!("{}{listener}", client_line("client.connected", e)));
        // @since 1.2 begin
        let order = self.settings.read().unwrap().disconnect_on_connect.clone();
        if let Some((client, reason)) = order.filter(|(client, _)| client == e.client_id.as_str()) {
            if let Err(error) = self.host.disconnect(&client, reason) {
                self.host.warn(&format!(
                    "disconnect on connect of {client} failed: {error}"
                ));
            }
        }
        // @since 1.2 end
    }
}

// @since 1.3 begin
fn listener_words(listener: &ListenerEvent<'_>) -> String {
    format!(
        " listener={} transport={}",
        listener.name, listener.protocol
    )
}
// @since 1.3 end

fn client_line(hook: &str, e: &ClientEvent<'_>) -> String {
    format!(
        "{hook} {} peer={} protocol={} keepalive={} node={} reason={}",
        e.client_id, e.peer, e.protocol, e.keep_alive, e.node, e.reason
    )
}

fn subscription_line(hook: &str, e: &SubscriptionEvent<'_>) -> String {
    format!(
        "{hook} {} {} qos={} new={}",
        e.client_id, e.filter, e.qos, e.is_new
    )
}

impl MqhostPlugin for Probe {
    fn start(host: Host, config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
        let settings = parse(config)?;
        host.info(&format!("probe writing to {}", settings.file));
        Ok(Probe {
            host,
            settings: RwLock::new(settings),
            out: Mutex::new(()),
        })
    }

    fn hooks(&self) -> HookSet {
        self.settings.read().unwrap().hooks
    }

    fn on_client_connected(&self, e: &ClientEvent<'_>) {
        self.connected(e, "");
    }

    fn on_client_disconnected(&self, e: &ClientEvent<'_>) {
        self.line(&client_line("client.disconnected", e));
    }

    // @since 1.3 begin
    fn on_client_connected_via(&self, e: &ClientEvent<'_>, listener: &ListenerEvent<'_>) {
        self.connected(e, &listener_words(listener));
    }

    fn on_client_disconnected_via(&self, e: &ClientEvent<'_>, listener: &ListenerEvent<'_>) {
        self.line(&format!(
            "{}{}",
            client_line("client.disconnected", e),
            listener_words(listener)
        ));
    }
    // @since 1.3 end

    fn on_session_created(&self, e: &SessionEvent<'_>) {
        self.line(&format!(
            "session.created {} resumed={}",
            e.client_id, e.resumed
        ));
    }

    fn on_session_subscribed(&self, e: &SubscriptionEvent<'_>) {
        self.line(&subscription_line("session.subscribed", e));
    }

    fn on_session_unsubscribed(&self, e: &SubscriptionEvent<'_>) {
        self.line(&subscription_line("session.unsubscribed", e));
    }

    fn on_message_publish(&self, e: &MessageEvent<'_>) -> Verdict {
        let settings = self.settings.read().unwrap().clone();
        let topic = e.topic.as_str();
        if settings.panic_topic.as_deref() == Some(topic) {
            panic!("asked to panic on {topic}");
        }
        let dropped = settings.drop_topic.as_deref() == Some(topic);
        self.line(&format!(
            "message.publish {topic} id={} from={} qos={} payload={} dropped={dropped}",
            e.id.to_base62(),
            e.from,
            e.qos,
            String::from_utf8_lossy(e.payload.as_slice())
        ));
        if topic == "probe/cmd" {
            self.command(e.payload.as_slice());
        }
        if dropped {
            Verdict::DROP
        } else {
            Verdict::CONTINUE
        }
    }

    fn on_message_delivered(&self, e: &DeliveryEvent<'_>) {
        self.line(&format!(
            "message.delivered {} {} id={}",
            e.client_id,
            e.message.topic,
            e.message.id.to_base62()
        ));
    }

    fn on_message_acked(&self, e: &DeliveryEvent<'_>) {
        self.line(&format!(
            "message.acked {} {} id={} qos={}",
            e.client_id,
            e.message.topic,
            e.message.id.to_base62(),
            e.qos
        ));
    }

    fn reconfigure(&self, config: &PluginConfig<'_>) -> Result<(), ConfigError> {
        let settings = parse(config)?;
        *self.settings.write().unwrap() = settings;
        Ok(())
    }

    fn stats(&self) -> String {
        format!("{{\"tag\":\"{}\"}}", self.settings.read().unwrap().tag)
    }

    fn stop(&self) {
        self.line("stopped");
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        let panic_on_drop = self
            .settings
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .panic_on_drop;
        if panic_on_drop {
            self.line("panicking in drop");
            panic!("asked to panic on drop");
        }
    }
}

export_plugin!(name: "probe", plugin: Probe, description: "Test plugin");

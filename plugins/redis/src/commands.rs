//! Raw commands (`{"action": {"commands": [CMD, ...]}}`): templates split
//! on spaces, with `${name}` placeholders replaced inside any argument.
//!
//! Which placeholders a hook point offers is checked when the rule is
//! read, so a typo is a configuration error rather than a literal
//! `${clinetid}` key in Redis. A placeholder's value is one argument
//! whatever it contains (a payload with spaces does not split), except
//! `${message}`, which must stand alone and becomes the message hash's
//! field/value pairs (`HMSET key ${message}`).

use crate::event::{bool_text, Event, UNDEFINED};
use crate::hook::HookPoint;
use crate::resp::CommandSink;
use std::borrow::Cow;

/// A placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Var {
    /// `${clientid}`.
    ClientId,
    /// `${username}`.
    Username,
    /// `${peerhost}`.
    PeerHost,
    /// `${node}`.
    Node,
    /// `${ts}`: Unix seconds on client hooks, the message time in Unix
    /// milliseconds on `message.publish`.
    Ts,
    /// `${topic}`: message topic or subscription filter.
    Topic,
    /// `${qos}`.
    Qos,
    /// `${msgid}`.
    MsgId,
    /// `${payload}`.
    Payload,
    /// `${retain}`: `true` or `false`.
    Retain,
    /// `${message}`: the message hash's field/value pairs.
    Message,
}

impl Var {
    fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "clientid" => Var::ClientId,
            "username" => Var::Username,
            "peerhost" => Var::PeerHost,
            "node" => Var::Node,
            "ts" => Var::Ts,
            "topic" => Var::Topic,
            "qos" => Var::Qos,
            "msgid" => Var::MsgId,
            "payload" => Var::Payload,
            "retain" => Var::Retain,
            "message" => Var::Message,
            _ => return None,
        })
    }

    /// The placeholders offered at `hook` (spec, section 4).
    pub(crate) fn available(hook: HookPoint) -> &'static [&'static str] {
        match hook {
            HookPoint::ClientConnected | HookPoint::ClientDisconnected => {
                &["clientid", "username", "peerhost", "node", "ts"]
            }
            HookPoint::SessionCreated => &["clientid", "username", "node"],
            HookPoint::SessionSubscribed | HookPoint::SessionUnsubscribed => {
                &["clientid", "topic", "qos"]
            }
            HookPoint::MessagePublish => &[
                "clientid", "topic", "msgid", "qos", "payload", "retain", "ts", "message",
            ],
            HookPoint::MessageDelivered | HookPoint::MessageAcked => {
                &["clientid", "topic", "msgid", "qos"]
            }
        }
    }
}

/// One piece of an argument.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// One argument of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ArgTemplate {
    /// Text and placeholders, joined into one argument.
    Parts(Vec<Part>),
    /// `${message}`: several arguments.
    Message,
}

/// One command with placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    args: Vec<ArgTemplate>,
}

/// The `commands` of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Commands {
    /// The list began with `"pipeline"`. Every rule's commands already go
    /// out together, in order, in the pool's pipelined batches, so this
    /// changes nothing but is accepted.
    pub(crate) pipeline: bool,
    /// The commands, in order.
    pub(crate) templates: Vec<Template>,
}

impl Commands {
    /// Reads the `commands` list of a rule at `hook`.
    pub(crate) fn parse(list: &[String], hook: HookPoint) -> Result<Commands, String> {
        let (pipeline, list) = match list.first() {
            Some(first) if first.eq_ignore_ascii_case("pipeline") => (true, &list[1..]),
            _ => (false, list),
        };
        if list.is_empty() {
            return Err("\"commands\" needs at least one command".to_owned());
        }
        let templates = list
            .iter()
            .map(|text| Template::parse(text, hook))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Commands {
            pipeline,
            templates,
        })
    }

    /// How many commands one event sends.
    pub(crate) fn len(&self) -> usize {
        self.templates.len()
    }

    /// Writes the commands for `event`.
    pub(crate) fn emit(&self, event: &Event, out: &mut impl CommandSink) {
        for template in &self.templates {
            template.expand(event, out);
        }
    }
}

impl Template {
    /// Reads one command: words split on spaces (runs of spaces count as
    /// one), placeholders checked against those of `hook`.
    pub(crate) fn parse(text: &str, hook: HookPoint) -> Result<Template, String> {
        let mut args = Vec::new();
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            args.push(parse_word(word, hook).map_err(|m| format!("in {text:?}: {m}"))?);
        }
        match args.first() {
            None => return Err("a command cannot be empty".to_owned()),
            Some(ArgTemplate::Parts(parts)) if parts.iter().all(|p| matches!(p, Part::Text(_))) => {
            }
            Some(_) => {
                return Err(format!(
                    "in {text:?}: the command name cannot be a placeholder"
                ))
            }
        }
        Ok(Template { args })
    }

    /// Writes the command for `event`.
    pub(crate) fn expand(&self, event: &Event, out: &mut impl CommandSink) {
        let message = match event {
            Event::Message(message) => Some(message),
            _ => None,
        };
        let argc = self
            .args
            .iter()
            .map(|arg| match arg {
                ArgTemplate::Message => message.map_or(0, |m| m.fields().len() * 2),
                ArgTemplate::Parts(_) => 1,
            })
            .sum();
        out.begin(argc);
        for arg in &self.args {
            match arg {
                ArgTemplate::Message => {
                    if let Some(message) = message {
                        for (field, value) in message.fields() {
                            out.word(field);
                            out.arg(&value);
                        }
                    }
                }
                ArgTemplate::Parts(parts) => match parts.as_slice() {
                    [Part::Text(text)] => out.arg(text.as_bytes()),
                    [Part::Var(var)] => out.arg(&value(*var, event)),
                    parts => {
                        let mut joined = Vec::with_capacity(64);
                        for part in parts {
                            match part {
                                Part::Text(text) => joined.extend_from_slice(text.as_bytes()),
                                Part::Var(var) => joined.extend_from_slice(&value(*var, event)),
                            }
                        }
                        out.arg(&joined);
                    }
                },
            }
        }
    }
}

/// Splits one word into text and placeholders.
fn parse_word(word: &str, hook: HookPoint) -> Result<ArgTemplate, String> {
    let mut parts = Vec::new();
    let mut rest = word;
    while let Some(start) = rest.find("${") {
        if start > 0 {
            parts.push(Part::Text(rest[..start].to_owned()));
        }
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed placeholder in {word:?}"))?;
        let name = &after[..end];
        let available = Var::available(hook);
        let var = Var::from_name(name)
            .filter(|_| available.contains(&name))
            .ok_or_else(|| {
                format!(
                    "unknown placeholder ${{{name}}} at {}; it offers {}",
                    hook.name(),
                    available
                        .iter()
                        .map(|n| format!("${{{n}}}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
        parts.push(Part::Var(var));
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    if parts.contains(&Part::Var(Var::Message)) {
        if parts.len() != 1 {
            return Err(format!(
                "${{message}} stands for several arguments and must be a word of its own, not {word:?}"
            ));
        }
        return Ok(ArgTemplate::Message);
    }
    Ok(ArgTemplate::Parts(parts))
}

/// The value of a placeholder for `event`. The configuration guarantees
/// the placeholder exists at the event's hook point; an impossible pair
/// gives an empty value rather than a panic.
fn value<'a>(var: Var, event: &'a Event<'_>) -> Cow<'a, [u8]> {
    fn text(s: &str) -> Cow<'_, [u8]> {
        Cow::Borrowed(s.as_bytes())
    }
    fn number(n: u64) -> Cow<'static, [u8]> {
        Cow::Owned(n.to_string().into_bytes())
    }
    match (var, event) {
        (Var::ClientId, _) => text(event.client_id()),
        (Var::Username, Event::Client(c)) => text(c.username.as_deref().unwrap_or(UNDEFINED)),
        (Var::Username, Event::Session(s)) => text(s.username.as_deref().unwrap_or(UNDEFINED)),
        (Var::PeerHost, Event::Client(c)) => text(&c.peerhost),
        (Var::Node, Event::Client(c)) => text(&c.node),
        (Var::Node, Event::Session(s)) => text(&s.node),
        (Var::Ts, Event::Client(c)) => number(c.ts_secs()),
        (Var::Ts, Event::Message(m)) => number(m.ts_ms),
        (Var::Topic, Event::Subscription(s)) => text(&s.filter),
        (Var::Topic, Event::Message(m)) => text(m.topic),
        (Var::Topic, Event::Delivery(d)) => text(d.topic),
        (Var::Qos, Event::Subscription(s)) => number(u64::from(s.qos)),
        (Var::Qos, Event::Message(m)) => number(u64::from(m.qos)),
        (Var::Qos, Event::Delivery(d)) => number(u64::from(d.qos)),
        (Var::MsgId, Event::Message(m)) => text(&m.id),
        (Var::MsgId, Event::Delivery(d)) => text(&d.id),
        (Var::Payload, Event::Message(m)) => Cow::Borrowed(m.payload),
        (Var::Retain, Event::Message(m)) => text(bool_text(m.retain)),
        _ => Cow::Borrowed(b""),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::event::{ClientData, DeliveryData, MessageData, SessionData, SubscriptionData};
    use crate::resp::{words, CmdList};

    fn commands(list: &[&str], hook: HookPoint) -> Result<Commands, String> {
        let list: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        Commands::parse(&list, hook)
    }

    fn expand(list: &[&str], hook: HookPoint, event: &Event) -> Vec<Vec<String>> {
        let mut out = CmdList::default();
        commands(list, hook).unwrap().emit(event, &mut out);
        out.cmds.iter().map(words).collect()
    }

    fn client() -> Event<'static> {
        Event::Client(Arc::new(ClientData {
            client_id: "c1".into(),
            username: Some("alice".into()),
            peerhost: "10.0.2.217".into(),
            node: "n1".into(),
            ts_ms: 1_471_869_172_500,
            connected: true,
        }))
    }

    fn message() -> Event<'static> {
        Event::Message(MessageData {
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            from: "pub",
            qos: 2,
            topic: "a/b",
            retain: false,
            payload: b"two words",
            ts_ms: 1_471_869_172_500,
        })
    }

    #[test]
    fn the_seed_table_expands() {
        assert_eq!(
            expand(
                &["SET conn:${clientid} ${clientid}"],
                HookPoint::ClientConnected,
                &client()
            ),
            [["SET", "conn:c1", "c1"]]
        );
        let sub = Event::Subscription(Arc::new(SubscriptionData {
            client_id: "c1".into(),
            filter: "t/#".into(),
            shared: false,
            qos: 1,
            is_new: true,
            retain_handling: 0,
        }));
        assert_eq!(
            expand(
                &["HSET sub:${clientid} ${topic} ${qos}"],
                HookPoint::SessionSubscribed,
                &sub
            ),
            [["HSET", "sub:c1", "t/#", "1"]]
        );
        assert_eq!(
            expand(
                &["RPUSH pub:${topic} ${msgid}"],
                HookPoint::MessagePublish,
                &message()
            ),
            [["RPUSH", "pub:a/b", "0Gm7bUq0Xk2Q0000000001"]]
        );
        let ack = Event::Delivery(DeliveryData {
            client_id: "c2",
            qos: 1,
            id: "0Gm7bUq0Xk2Q0000000001".into(),
            topic: "a/b",
        });
        assert_eq!(
            expand(
                &["HSET ack:${clientid} ${topic} ${msgid}"],
                HookPoint::MessageAcked,
                &ack
            ),
            [["HSET", "ack:c2", "a/b", "0Gm7bUq0Xk2Q0000000001"]]
        );
    }

    #[test]
    fn every_client_placeholder() {
        assert_eq!(
            expand(
                &["HMSET k:${clientid} u ${username} h ${peerhost} n ${node} t ${ts}"],
                HookPoint::ClientDisconnected,
                &client()
            ),
            [[
                "HMSET",
                "k:c1",
                "u",
                "alice",
                "h",
                "10.0.2.217",
                "n",
                "n1",
                "t",
                "1471869172"
            ]]
        );
        let session = Event::Session(Arc::new(SessionData {
            client_id: "c1".into(),
            username: None,
            node: "n1".into(),
        }));
        assert_eq!(
            expand(
                &["SET s:${clientid}@${node} ${username}"],
                HookPoint::SessionCreated,
                &session
            ),
            [["SET", "s:c1@n1", "undefined"]]
        );
    }

    #[test]
    fn payload_is_one_argument_and_message_is_many() {
        let out = expand(
            &[
                "pipeline",
                "SET p:${msgid} ${payload}",
                "HMSET m:${msgid} ${message}",
                "SET x ${qos}/${retain}/${ts}/${clientid}",
            ],
            HookPoint::MessagePublish,
            &message(),
        );
        assert_eq!(out[0], ["SET", "p:0Gm7bUq0Xk2Q0000000001", "two words"]);
        assert_eq!(out[1].len(), 2 + 14);
        assert_eq!(
            out[1][2..6],
            ["id", "0Gm7bUq0Xk2Q0000000001", "from", "pub"]
        );
        assert_eq!(out[1][12..14], ["payload", "two words"]);
        assert_eq!(out[2], ["SET", "x", "2/false/1471869172500/pub"]);
        assert!(
            commands(&["pipeline", "SET a b"], HookPoint::MessagePublish)
                .unwrap()
                .pipeline
        );
    }

    #[test]
    fn placeholders_are_checked_per_hook_point() {
        let error = commands(&["SET a ${payload}"], HookPoint::MessageAcked).unwrap_err();
        assert!(error.contains("${payload}"), "{error}");
        assert!(error.contains("${msgid}"), "{error}");
        assert!(commands(&["SET a ${clinetid}"], HookPoint::ClientConnected).is_err());
        assert!(commands(&["SET a ${clientid"], HookPoint::ClientConnected).is_err());
        assert!(commands(&["HMSET k x${message}"], HookPoint::MessagePublish).is_err());
        assert!(commands(&["${clientid} a"], HookPoint::ClientConnected).is_err());
        assert!(commands(&[], HookPoint::ClientConnected).is_err());
        assert!(commands(&["pipeline"], HookPoint::ClientConnected).is_err());
        assert!(commands(&["  "], HookPoint::ClientConnected).is_err());
    }

    #[test]
    fn dollar_without_brace_is_text() {
        assert_eq!(
            expand(
                &["SET $a ${clientid}$"],
                HookPoint::ClientConnected,
                &client()
            ),
            [["SET", "$a", "c1$"]]
        );
    }
}

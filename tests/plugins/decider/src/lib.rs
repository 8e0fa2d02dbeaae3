//! A test plugin that decides access, for the broker's end-to-end tests:
//! it answers `client.authenticate` and `client.authorize` from its
//! configuration, at once or later, and records every question.
//!
//! Keys (`etc/plugins/decider.conf`):
//! - `decider.file`: where one line per question goes (required):
//!   `authenticate CLIENT USER listener=NAME cn=CN subject=SUBJECT` (`-`
//!   for none) or `authorize CLIENT ACTION TOPIC`.
//! - `decider.users`: `USER:ANSWER` pairs for authentication, ANSWER one
//!   of `allow`, `deny`, `superuser`, `later` (answered when released),
//!   `never` (never answered), `drop` (reply dropped), `panic`. Other
//!   users are ignored.
//! - `decider.topics`: `ACTION:PREFIX:ANSWER` triples for authorization
//!   (ACTION `publish`, `subscribe` or `read`; a topic starting with PREFIX
//!   matches); the first match answers, others are ignored.
//! - `decider.read`: `on` asks for read questions too.
//!
//! A message published to `decider/release` answers every question held
//! by `later` with `allow` (`decider/release/deny`: with `deny`).
#![forbid(unsafe_code)]

use std::io::Write;
use std::sync::Mutex;

use mqhost_plugin_api::properties;
use mqhost_plugin_api::{
    export_plugin, Action, AuthenticateEvent, AuthorizeEvent, ConfigError, Decision, HookSet, Host,
    MessageEvent, MqhostPlugin, PluginConfig, Reply, Verdict,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Answer {
    Now(Decision),
    Later,
    Never,
    Drop,
    Panic,
}

fn answer(word: &str) -> Option<Answer> {
    Some(match word {
        "allow" => Answer::Now(Decision::ALLOW),
        "deny" => Answer::Now(Decision::DENY),
        "superuser" => Answer::Now(Decision::ALLOW_SUPERUSER),
        "ignore" => Answer::Now(Decision::IGNORE),
        "later" => Answer::Later,
        "never" => Answer::Never,
        "drop" => Answer::Drop,
        "panic" => Answer::Panic,
        _ => return None,
    })
}

struct Settings {
    file: String,
    users: Vec<(String, Answer)>,
    topics: Vec<(String, String, Answer)>,
    read: bool,
}

fn parse(config: &PluginConfig<'_>) -> Result<Settings, ConfigError> {
    let props = properties::parse(config.text.as_str(), config.source.as_str())
        .map_err(|e| ConfigError::from(&e))?;
    let mut settings = Settings {
        file: String::new(),
        users: Vec::new(),
        topics: Vec::new(),
        read: false,
    };
    for entry in &props {
        let value = entry.value.as_str();
        let items = || value.split(',').map(str::trim).filter(|i| !i.is_empty());
        match entry.key.as_str() {
            "decider.file" => settings.file = value.to_owned(),
            "decider.read" => settings.read = value == "on",
            "decider.users" => {
                for item in items() {
                    let parsed = item
                        .split_once(':')
                        .and_then(|(user, word)| Some((user.to_owned(), answer(word)?)));
                    let pair = parsed.ok_or_else(|| ConfigError::at_entry(entry, "USER:ANSWER"))?;
                    settings.users.push(pair);
                }
            }
            "decider.topics" => {
                for item in items() {
                    let mut parts = item.splitn(3, ':');
                    let triple = match (parts.next(), parts.next(), parts.next().and_then(answer)) {
                        (Some(action), Some(prefix), Some(answer)) => {
                            (action.to_owned(), prefix.to_owned(), answer)
                        }
                        _ => return Err(ConfigError::at_entry(entry, "ACTION:PREFIX:ANSWER")),
                    };
                    settings.topics.push(triple);
                }
            }
            _ => {}
        }
    }
    if settings.file.is_empty() {
        return Err(ConfigError::new("decider.file is required"));
    }
    Ok(settings)
}

pub struct Decider {
    settings: Settings,
    /// Replies held by `never` (forever) and `later` (until released).
    held: Mutex<Vec<Reply>>,
    never: Mutex<Vec<Reply>>,
}

impl Decider {
    fn line(&self, text: &str) {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.settings.file)
        {
            let _ = writeln!(file, "{text}");
        }
    }

    fn respond(&self, answer: Option<Answer>, reply: Reply) -> Decision {
        match answer {
            None => Decision::IGNORE,
            Some(Answer::Now(decision)) => decision,
            Some(Answer::Later) => {
                self.held.lock().unwrap().push(reply);
                Decision::PENDING
            }
            Some(Answer::Never) => {
                self.never.lock().unwrap().push(reply);
                Decision::PENDING
            }
            Some(Answer::Drop) => {
                drop(reply);
                Decision::PENDING
            }
            Some(Answer::Panic) => panic!("asked to panic"),
        }
    }
}

impl MqhostPlugin for Decider {
    fn start(_host: Host, config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
        Ok(Decider {
            settings: parse(config)?,
            held: Mutex::new(Vec::new()),
            never: Mutex::new(Vec::new()),
        })
    }

    fn check_config(config: &PluginConfig<'_>) -> Option<Result<Vec<String>, ConfigError>> {
        Some(parse(config).map(|settings| {
            let mut warnings = Vec::new();
            if settings.users.is_empty() && settings.topics.is_empty() {
                warnings.push(
                    "decider.users and decider.topics are empty: every question is ignored"
                        .to_owned(),
                );
            }
            warnings
        }))
    }

    fn hooks(&self) -> HookSet {
        let mut hooks =
            HookSet::CLIENT_AUTHENTICATE | HookSet::CLIENT_AUTHORIZE | HookSet::MESSAGE_PUBLISH;
        if self.settings.read {
            hooks = hooks | HookSet::CLIENT_AUTHORIZE_READ;
        }
        hooks
    }

    fn on_client_authenticate(&self, request: &AuthenticateEvent<'_>, reply: Reply) -> Decision {
        let user = request
            .username
            .into_option()
            .map(|u| u.as_str())
            .unwrap_or("-");
        let cn = request.cert_common_name.into_option();
        let subject = request.cert_subject.into_option();
        self.line(&format!(
            "authenticate {} {user} listener={} cn={} subject={}",
            request.client_id,
            request.listener,
            cn.map_or("-", |c| c.as_str()),
            subject.map_or("-", |s| s.as_str()),
        ));
        let answer = self
            .settings
            .users
            .iter()
            .find(|(known, _)| known == user)
            .map(|(_, answer)| *answer);
        self.respond(answer, reply)
    }

    fn on_client_authorize(&self, request: &AuthorizeEvent<'_>, reply: Reply) -> Decision {
        let action = request.action.to_string();
        let topic = request.topic.as_str();
        self.line(&format!("authorize {} {action} {topic}", request.client_id));
        let answer = self
            .settings
            .topics
            .iter()
            .find(|(a, prefix, _)| *a == action && topic.starts_with(prefix.as_str()))
            .map(|(_, _, answer)| *answer);
        debug_assert!(request.action != Action::READ || self.settings.read);
        self.respond(answer, reply)
    }

    fn on_message_publish(&self, message: &MessageEvent<'_>) -> Verdict {
        let decision = match message.topic.as_str() {
            "decider/release" => Decision::ALLOW,
            "decider/release/deny" => Decision::DENY,
            _ => return Verdict::CONTINUE,
        };
        let held: Vec<Reply> = std::mem::take(&mut *self.held.lock().unwrap());
        for reply in held {
            reply.send(decision);
        }
        Verdict::CONTINUE
    }
}

export_plugin!(name: "decider", plugin: Decider, description: "Test plugin: decides access on demand");

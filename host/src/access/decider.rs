//! The broker's one place to ask "may this client connect?" and "may this
//! client use this topic?": [`Decider`].
//!
//! Each question goes down a chain of sources; the first that answers
//! [`Decision::Allow`] or [`Decision::Deny`] decides, and
//! [`Decision::Ignore`] passes to the next. The chains are:
//!
//! - connecting: plugins (`client.authenticate`, in rank order), then the
//!   password file (`auth.password_file`); a client no source answered
//!   for is anonymous, let in by `mqtt.allow_anonymous` (unset: only on a
//!   loopback listener);
//! - topics: the broker-wide `$` rule ([`super::dollar_topic_denied`],
//!   before any source, superusers included), then nothing more for a
//!   superuser; `acl.deny_subscribe` (for SUBSCRIBE and for reading: its
//!   filters are never delivered either); plugins (`client.authorize`;
//!   reads only to those that opted in); the ACL file (`acl.file`); no
//!   answer: `acl.nomatch`.
//!
//! The deny list is the operator's and no source overrides it; it comes
//! before the file because the file grants every SUBSCRIBE, as
//! Mosquitto's does. Plugins may answer later: the plugins' part of a
//! chain is then a future ([`crate::hooks::decide`]) the caller awaits,
//! and the built-in part concludes once it resolves. Sources are swapped
//! in place when their file changes ([`Decider::reload`]) or a plugin
//! comes, goes or is reconfigured; either moves a generation on, which
//! empties every client's [`AccessCache`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use mqhost_codec::QoS;
use mqhost_plugin_api::topic::matches;

use super::acl_file::AclFile;
use super::password_file::PasswordFile;
use super::{dollar_topic_denied, read_file, Access, FileError};
use crate::config::host::{DenyAction, NoMatch, TimeoutAction};
use crate::config::HostConfig;
use crate::hooks::decide::{point_for, AuthorizeRequest, Decision, Patience, Pending, Step};
use crate::hooks::Hooks;

/// The outcome of a CONNECT's authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// The client may connect; a superuser is asked no topic question.
    Accepted { superuser: bool },
    /// A source refused the user name or password (CONNACK 0x86).
    BadCredentials,
    /// No source let the client in and anonymous clients may not connect
    /// here (CONNACK 0x87).
    NotAuthorized,
}

/// Who is asking: what a topic decision depends on.
#[derive(Debug, Clone, Copy)]
pub struct Client<'a> {
    pub client_id: &'a Arc<str>,
    pub username: Option<&'a str>,
    pub peer: SocketAddr,
    /// Authenticated as a superuser: only the `$` rule applies.
    pub superuser: bool,
}

/// A topic question: one use of one topic.
#[derive(Debug, Clone, Copy)]
pub struct Question<'a> {
    pub topic: &'a str,
    pub access: Access,
    pub qos: QoS,
    pub retain: bool,
}

/// The answer to a topic question: known now, or waiting for a plugin.
pub enum Check {
    Ready(bool),
    Waiting(Waiting),
}

/// A topic question whose plugins' answer is still to come: await
/// [`Waiting::answer`], then hand the result to [`Decider::settle`].
pub struct Waiting {
    pub answer: Pending,
    topic: Box<str>,
    access: Access,
    qos: QoS,
    retain: bool,
    /// The cache generation the question was asked under.
    generation: u64,
}

/// A file-backed source: its rules and the text they came from (a reload
/// that reads the same text changes nothing).
struct Loaded<T> {
    path: PathBuf,
    text: String,
    rules: Arc<T>,
}

impl<T> Loaded<T> {
    fn load(
        path: &Path,
        parse: fn(&str, &str) -> Result<T, FileError>,
    ) -> Result<Loaded<T>, FileError> {
        let text = read_file(path)?;
        let rules = parse(&text, &path.display().to_string())?;
        Ok(Loaded {
            path: path.to_path_buf(),
            text,
            rules: Arc::new(rules),
        })
    }
}

#[derive(Default)]
struct Files {
    password: Option<Loaded<PasswordFile>>,
    acl: Option<Loaded<AclFile>>,
}

/// Decides connections and topic uses for the whole broker.
pub struct Decider {
    allow_anonymous: Option<bool>,
    nomatch: NoMatch,
    deny_action: DenyAction,
    deny_subscribe: Vec<String>,
    /// False when no file and no setting can refuse anything but the `$`
    /// rule: without plugins, checks then end at once.
    has_rules: bool,
    patience: Patience,
    cache: Option<(usize, Duration)>,
    files: RwLock<Files>,
    generation: AtomicU64,
}

impl Decider {
    /// The decider `config` describes, its files read now. A file that
    /// cannot be read or parsed is an error naming it (and its line).
    pub fn load(config: &HostConfig) -> Result<Decider, FileError> {
        let decider = Decider::without_files(config);
        {
            let mut files = decider.files.write().unwrap_or_else(|e| e.into_inner());
            if let Some(path) = &config.auth.password_file {
                files.password = Some(Loaded::load(path, PasswordFile::parse)?);
            }
            if let Some(path) = &config.acl.file {
                files.acl = Some(Loaded::load(path, AclFile::parse)?);
            }
        }
        Ok(decider)
    }

    /// The decider `config` describes, with no file read yet (tests, and
    /// brokers built without files).
    pub fn without_files(config: &HostConfig) -> Decider {
        let acl = &config.acl;
        Decider {
            allow_anonymous: config.mqtt.allow_anonymous,
            nomatch: acl.nomatch,
            deny_action: acl.deny_action,
            deny_subscribe: acl.deny_subscribe.clone(),
            has_rules: acl.file.is_some()
                || !acl.deny_subscribe.is_empty()
                || acl.nomatch == NoMatch::Deny,
            patience: Patience {
                timeout: config.auth.timeout,
                late: match config.auth.timeout_action {
                    TimeoutAction::Deny => Decision::Deny,
                    TimeoutAction::Ignore => Decision::Ignore,
                },
            },
            cache: acl
                .cache
                .then_some((acl.cache_max_size as usize, acl.cache_ttl)),
            files: RwLock::new(Files::default()),
            generation: AtomicU64::new(0),
        }
    }

    /// The files this decider reads, for the watcher.
    pub fn paths(&self) -> Vec<PathBuf> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        let password = files.password.as_ref().map(|f| f.path.clone());
        let acl = files.acl.as_ref().map(|f| f.path.clone());
        password.into_iter().chain(acl).collect()
    }

    /// Reads every file again. A file whose text changed and parses
    /// replaces its rules (and every client's cached decisions go); one
    /// that cannot be used is logged with its line and reason, and its old
    /// rules stay.
    pub fn reload(&self) {
        let mut files = self.files.write().unwrap_or_else(|e| e.into_inner());
        let Files { password, acl } = &mut *files;
        let generation = &self.generation;
        reload_one(password, PasswordFile::parse, "password file", generation);
        reload_one(acl, AclFile::parse, "ACL file", generation);
    }

    /// Says at start what anonymous clients get on each listener (its id
    /// and the address it bound).
    pub fn log_anonymous_policy(&self, listeners: &[(&str, std::net::SocketAddr)]) {
        match self.allow_anonymous {
            Some(true) => {
                tracing::info!("anonymous clients are allowed (mqtt.allow_anonymous = on)")
            }
            Some(false) => {
                tracing::info!("anonymous clients are refused (mqtt.allow_anonymous = off)")
            }
            None => {
                for (id, bound) in listeners {
                    if bound.ip().is_loopback() {
                        tracing::info!(
                            "anonymous clients are allowed on listener {id}: {bound} is loopback and mqtt.allow_anonymous is not set"
                        );
                    } else {
                        tracing::warn!(
                            "anonymous clients are refused on listener {id}: {bound} is not loopback and mqtt.allow_anonymous is not set"
                        );
                    }
                }
            }
        }
    }

    /// How long plugins' pending answers are waited for, and what a late
    /// one counts as.
    pub fn patience(&self) -> Patience {
        self.patience
    }

    /// Concludes a CONNECT from `username` with `password` on a listener
    /// bound to a loopback address or not, given the plugins' answer.
    pub fn conclude_login(
        &self,
        plugins: Decision,
        username: Option<&str>,
        password: Option<&[u8]>,
        loopback_listener: bool,
    ) -> Login {
        let answer = if plugins.is_final() {
            plugins
        } else {
            password_decision(self.password_file().as_deref(), username, password)
        };
        match answer {
            Decision::Allow => Login::Accepted { superuser: false },
            Decision::AllowSuperuser => Login::Accepted { superuser: true },
            Decision::Deny => Login::BadCredentials,
            Decision::Ignore if self.allow_anonymous.unwrap_or(loopback_listener) => {
                Login::Accepted { superuser: false }
            }
            Decision::Ignore => Login::NotAuthorized,
        }
    }

    /// Whether a password file is in force (checking against it costs a
    /// hash computation).
    pub fn has_password_file(&self) -> bool {
        self.password_file().is_some()
    }

    fn password_file(&self) -> Option<Arc<PasswordFile>> {
        let files = self.files.read().unwrap_or_else(|e| e.into_inner());
        files.password.as_ref().map(|f| Arc::clone(&f.rules))
    }

    /// Whether `client` may have `access` to `topic` (a filter for
    /// [`Access::Subscribe`]), asked of every source but plugins, without
    /// a cache.
    pub fn authorize(&self, client: Client<'_>, topic: &str, access: Access) -> bool {
        if let Some(allowed) = fixed_answer(client, topic, access) {
            return allowed;
        }
        self.deny_list_decision(topic, access) != Decision::Deny
            && self.conclude_topic(Decision::Ignore, client, topic, access)
    }

    /// [`Decider::authorize`] with the plugins asked in their place (after
    /// the deny list, before the ACL file), waiting for them as long as
    /// they take (within `auth.timeout`): for a CONNECT's will, decided
    /// before the client has a session.
    pub async fn authorize_with_plugins(
        &self,
        hooks: &Hooks,
        client: Client<'_>,
        question: Question<'_>,
    ) -> bool {
        let Question { topic, access, .. } = question;
        if let Some(allowed) = fixed_answer(client, topic, access) {
            return allowed;
        }
        if self.deny_list_decision(topic, access) == Decision::Deny {
            return false;
        }
        let plugins = if hooks.wants(point_for(access)) {
            match hooks.authorize(request(client, question), self.patience) {
                Step::Ready(decision) => decision,
                Step::Pending(answer) => answer.await,
            }
        } else {
            Decision::Ignore
        };
        self.conclude_topic(plugins, client, topic, access)
    }

    /// The end of a topic chain, after the `$` rule, the deny list and the
    /// plugins (whose answer is `plugins`): the ACL file, then
    /// `acl.nomatch`.
    fn conclude_topic(
        &self,
        plugins: Decision,
        client: Client<'_>,
        topic: &str,
        access: Access,
    ) -> bool {
        let answer = if plugins.is_final() {
            plugins
        } else {
            let acl = {
                let files = self.files.read().unwrap_or_else(|e| e.into_inner());
                files.acl.as_ref().map(|f| Arc::clone(&f.rules))
            };
            acl_decision(acl.as_deref(), client, topic, access)
        };
        match answer {
            Decision::Allow | Decision::AllowSuperuser => true,
            Decision::Deny => false,
            Decision::Ignore => self.nomatch == NoMatch::Allow,
        }
    }

    /// `acl.deny_subscribe`: a filter refused at SUBSCRIBE when, read as
    /// a topic, it matches a listed one (or is one); a message never
    /// delivered when its topic matches one.
    fn deny_list_decision(&self, topic: &str, access: Access) -> Decision {
        let denied = match access {
            Access::Write => false,
            Access::Subscribe => {
                let inner = topic_filter_of(topic);
                self.deny_subscribe
                    .iter()
                    .any(|denied| matches(denied, inner) || denied == topic)
            }
            Access::Read => self.deny_subscribe.iter().any(|d| matches(d, topic)),
        };
        if denied {
            Decision::Deny
        } else {
            Decision::Ignore
        }
    }

    /// Decides `question` for `client` through its `cache`: at once when
    /// every source answers at once, else [`Check::Waiting`].
    pub fn check(
        &self,
        hooks: &Hooks,
        cache: &mut AccessCache,
        client: Client<'_>,
        question: Question<'_>,
    ) -> Check {
        let Question {
            topic,
            access,
            qos,
            retain,
        } = question;
        if let Some(allowed) = fixed_answer(client, topic, access) {
            return Check::Ready(allowed);
        }
        let plugins = hooks.wants(point_for(access));
        if !self.has_rules && !plugins {
            // No rules, no deny list, nomatch allow, no plugin: nothing
            // can refuse, and nothing needs a cache (nor a clock read).
            return Check::Ready(true);
        }
        let generation = self.generation.load(Ordering::Acquire) + hooks.generation();
        if let Some(allowed) = self.cached(cache, generation, question) {
            return Check::Ready(allowed);
        }
        let allowed = if self.deny_list_decision(topic, access) == Decision::Deny {
            false
        } else if !plugins {
            self.conclude_topic(Decision::Ignore, client, topic, access)
        } else {
            match hooks.authorize(request(client, question), self.patience) {
                Step::Ready(decision) => self.conclude_topic(decision, client, topic, access),
                Step::Pending(answer) => {
                    return Check::Waiting(Waiting {
                        answer,
                        topic: topic.into(),
                        access,
                        qos,
                        retain,
                        generation,
                    })
                }
            }
        };
        self.remember(cache, generation, question, allowed);
        Check::Ready(allowed)
    }

    /// Concludes a [`Check::Waiting`] question once its plugins answered,
    /// and caches the result (unless a source changed meanwhile).
    pub fn settle(
        &self,
        hooks: &Hooks,
        cache: &mut AccessCache,
        client: Client<'_>,
        waiting: &Waiting,
        plugins: Decision,
    ) -> bool {
        let allowed = self.conclude_topic(plugins, client, &waiting.topic, waiting.access);
        let now = self.generation.load(Ordering::Acquire) + hooks.generation();
        if now == waiting.generation {
            let question = Question {
                topic: &waiting.topic,
                access: waiting.access,
                qos: waiting.qos,
                retain: waiting.retain,
            };
            self.remember(cache, now, question, allowed);
        }
        allowed
    }

    /// The cached decision, if one holds; a cache of an older generation
    /// is emptied first.
    fn cached(
        &self,
        cache: &mut AccessCache,
        generation: u64,
        question: Question<'_>,
    ) -> Option<bool> {
        self.cache?;
        if cache.generation != generation {
            cache.entries.clear();
            cache.generation = generation;
        }
        let now = Instant::now();
        cache
            .entries
            .iter()
            .find(|e| e.answers(&question) && now < e.until)
            .map(|e| e.allowed)
    }

    fn remember(
        &self,
        cache: &mut AccessCache,
        generation: u64,
        question: Question<'_>,
        allowed: bool,
    ) {
        let Some((max, ttl)) = self.cache else {
            return;
        };
        if cache.generation != generation {
            cache.entries.clear();
            cache.generation = generation;
        }
        let now = Instant::now();
        cache
            .entries
            .retain(|e| now < e.until && !e.answers(&question));
        if cache.entries.len() >= max {
            // Entries are kept in insertion order: the oldest goes.
            cache.entries.remove(0);
        }
        cache.entries.push(CacheEntry {
            access: question.access,
            topic: question.topic.into(),
            qos: question.qos,
            retain: question.retain,
            allowed,
            until: now + ttl,
        });
    }

    /// Whether a refused PUBLISH closes its connection.
    pub fn disconnects_on_deny(&self) -> bool {
        self.deny_action == DenyAction::Disconnect
    }

    /// Forgets a client's cached decisions (its user name changed).
    pub fn forget(&self, cache: &mut AccessCache) {
        cache.entries.clear();
    }
}

/// The answers no source can change: the broker-wide `$` rule, then a
/// superuser's pass; None when the sources decide.
fn fixed_answer(client: Client<'_>, topic: &str, access: Access) -> Option<bool> {
    if dollar_topic_denied(topic, access) {
        Some(false)
    } else if client.superuser {
        Some(true)
    } else {
        None
    }
}

/// The plugins' view of a topic question.
fn request(client: Client<'_>, question: Question<'_>) -> AuthorizeRequest {
    AuthorizeRequest {
        client_id: Arc::clone(client.client_id),
        username: client.username.map(str::to_owned),
        peer: client.peer,
        access: question.access,
        topic: question.topic.into(),
        qos: question.qos,
        retain: question.retain,
    }
}

/// `$share/GROUP/FILTER` read as its FILTER; any other filter as itself.
fn topic_filter_of(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, inner)| inner)
}

/// The password file's answer: none for a client without a user name
/// (anonymous); otherwise the user must be in the file with the password.
fn password_decision(
    file: Option<&PasswordFile>,
    username: Option<&str>,
    password: Option<&[u8]>,
) -> Decision {
    match (file, username) {
        (Some(file), Some(username)) if file.check(username, password).is_accepted() => {
            Decision::Allow
        }
        (Some(_), Some(_)) => Decision::Deny,
        _ => Decision::Ignore,
    }
}

/// The ACL file's answer: it answers every question when there is one.
fn acl_decision(
    file: Option<&AclFile>,
    client: Client<'_>,
    topic: &str,
    access: Access,
) -> Decision {
    match file {
        Some(file) if file.check(client.client_id, client.username, topic, access) => {
            Decision::Allow
        }
        Some(_) => Decision::Deny,
        None => Decision::Ignore,
    }
}

/// Reads `slot`'s file again; when its rules are replaced, moves
/// `generation` on (before saying so: whoever reads the log line finds
/// every cached decision gone).
fn reload_one<T>(
    slot: &mut Option<Loaded<T>>,
    parse: fn(&str, &str) -> Result<T, FileError>,
    what: &str,
    generation: &AtomicU64,
) {
    let Some(current) = slot.as_mut() else {
        return;
    };
    let name = current.path.display().to_string();
    let text = match read_file(&current.path) {
        Ok(text) => text,
        Err(error) => {
            tracing::error!(file = %name, "{what} not reloaded, the old rules stay: {error}");
            return;
        }
    };
    if text == current.text {
        return;
    }
    match parse(&text, &name) {
        Ok(rules) => {
            current.rules = Arc::new(rules);
            current.text = text;
            generation.fetch_add(1, Ordering::Release);
            tracing::info!(file = %name, "{what} reloaded");
        }
        Err(error) => {
            tracing::error!(file = %name, line = error.line, "{what} not reloaded, the old rules stay: {error}");
        }
    }
}

/// One client's recent topic decisions (`acl.cache`).
#[derive(Debug, Default)]
pub struct AccessCache {
    generation: u64,
    entries: Vec<CacheEntry>,
}

/// A decision and the whole question it answers: a plugin may allow a
/// topic at one QoS or retain flag and not another (EMQX 5's ACL rules
/// do), so an answer for QoS 1 is not one for QoS 2.
#[derive(Debug)]
struct CacheEntry {
    access: Access,
    topic: Box<str>,
    qos: QoS,
    retain: bool,
    allowed: bool,
    until: Instant,
}

impl CacheEntry {
    fn answers(&self, question: &Question<'_>) -> bool {
        self.access == question.access
            && *self.topic == *question.topic
            && self.qos == question.qos
            && self.retain == question.retain
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(sets: &[(&str, &str)]) -> HostConfig {
        let overrides: Vec<(String, String)> = sets
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        HostConfig::load(None, &overrides).unwrap()
    }

    static CLIENT_ID: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| Arc::from("c"));

    fn client(username: Option<&str>) -> Client<'_> {
        Client {
            client_id: &CLIENT_ID,
            username,
            peer: "127.0.0.1:1".parse().unwrap(),
            superuser: false,
        }
    }

    const ACCEPTED: Login = Login::Accepted { superuser: false };

    #[test]
    fn anonymous_clients_follow_the_setting_or_the_listener() {
        let unset = Decider::without_files(&config(&[]));
        let ignored = Decision::Ignore;
        assert_eq!(unset.conclude_login(ignored, None, None, true), ACCEPTED);
        assert_eq!(
            unset.conclude_login(ignored, None, None, false),
            Login::NotAuthorized
        );
        // Without a password file a user name authenticates nothing.
        assert_eq!(
            unset.conclude_login(ignored, Some("u"), Some(b"p"), false),
            Login::NotAuthorized
        );
        let on = Decider::without_files(&config(&[("mqtt.allow_anonymous", "on")]));
        assert_eq!(on.conclude_login(ignored, None, None, false), ACCEPTED);
        let off = Decider::without_files(&config(&[("mqtt.allow_anonymous", "off")]));
        assert_eq!(
            off.conclude_login(ignored, None, None, true),
            Login::NotAuthorized
        );
    }

    #[test]
    fn a_plugins_final_answer_comes_before_the_files_and_anonymous_access() {
        let off = Decider::without_files(&config(&[("mqtt.allow_anonymous", "off")]));
        assert_eq!(
            off.conclude_login(Decision::Allow, None, None, false),
            ACCEPTED
        );
        assert_eq!(
            off.conclude_login(Decision::AllowSuperuser, None, None, false),
            Login::Accepted { superuser: true }
        );
        let on = Decider::without_files(&config(&[("mqtt.allow_anonymous", "on")]));
        assert_eq!(
            on.conclude_login(Decision::Deny, None, None, true),
            Login::BadCredentials
        );
    }

    #[test]
    fn a_superuser_skips_every_rule_but_the_dollar_one() {
        let decider = Decider::without_files(&config(&[("acl.nomatch", "deny")]));
        let superuser = Client {
            superuser: true,
            ..client(None)
        };
        assert!(decider.authorize(superuser, "a", Access::Write));
        assert!(!decider.authorize(superuser, "$SYS/x", Access::Write));
        assert!(!decider.authorize(client(None), "a", Access::Write));
    }

    #[test]
    fn a_password_file_refuses_unknown_users_even_when_anonymous_is_allowed() {
        let file = PasswordFile::parse("", "pw").unwrap();
        assert_eq!(
            password_decision(Some(&file), Some("u"), Some(b"p")),
            Decision::Deny
        );
        assert_eq!(password_decision(Some(&file), None, None), Decision::Ignore);
        assert_eq!(password_decision(None, Some("u"), None), Decision::Ignore);
    }

    #[test]
    fn the_deny_list_refuses_subscriptions_and_reads_and_nomatch_decides_the_rest() {
        let decider = Decider::without_files(&config(&[("acl.deny_subscribe", "secret/#")]));
        assert!(decider.has_rules);
        let c = client(None);
        assert!(!decider.authorize(c, "secret/x", Access::Read));
        assert!(!decider.authorize(c, "secret/#", Access::Subscribe));
        assert!(!decider.authorize(c, "$share/g/secret/x", Access::Subscribe));
        assert!(decider.authorize(c, "#", Access::Subscribe));
        assert!(decider.authorize(c, "public", Access::Read));
        assert!(decider.authorize(c, "secret/x", Access::Write));
        assert!(!decider.authorize(c, "$SYS/x", Access::Write));
        let deny = Decider::without_files(&config(&[("acl.nomatch", "deny")]));
        assert!(!deny.authorize(c, "a", Access::Read));
        assert!(!deny.authorize(c, "a", Access::Subscribe));
        assert!(!Decider::without_files(&config(&[])).has_rules);
    }

    #[test]
    fn the_cache_keeps_decisions_until_the_generation_moves() {
        let decider = Decider::without_files(&config(&[
            ("acl.cache_max_size", "2"),
            ("acl.deny_subscribe", "secret/#"),
        ]));
        let hooks = Hooks::default();
        let mut cache = AccessCache::default();
        let read = |topic| Question {
            topic,
            access: Access::Read,
            qos: QoS::AtMostOnce,
            retain: false,
        };
        for topic in ["a", "b", "c", "a", "secret/x"] {
            let check = decider.check(&hooks, &mut cache, client(None), read(topic));
            assert!(
                matches!(check, Check::Ready(allowed) if allowed == (topic == "a" || topic == "b" || topic == "c"))
            );
        }
        assert_eq!(cache.entries.len(), 2);
        decider.generation.fetch_add(1, Ordering::Relaxed);
        let check = decider.check(&hooks, &mut cache, client(None), read("x"));
        assert!(matches!(check, Check::Ready(true)));
        assert_eq!(cache.entries.len(), 1);
    }

    #[test]
    fn a_cached_decision_answers_the_same_qos_and_retain_flag_only() {
        let decider = Decider::without_files(&config(&[("acl.deny_subscribe", "secret/#")]));
        let hooks = Hooks::default();
        let mut cache = AccessCache::default();
        let write = |qos, retain| Question {
            topic: "a",
            access: Access::Write,
            qos,
            retain,
        };
        for (qos, retain) in [
            (QoS::AtMostOnce, false),
            (QoS::AtLeastOnce, false),
            (QoS::AtLeastOnce, true),
            (QoS::AtLeastOnce, false),
            (QoS::AtMostOnce, false),
        ] {
            let check = decider.check(&hooks, &mut cache, client(None), write(qos, retain));
            assert!(matches!(check, Check::Ready(true)));
        }
        // One entry per distinct question: a plugin's answer for QoS 1 is
        // not taken for QoS 2, nor one without retain for one with it.
        assert_eq!(cache.entries.len(), 3);
    }
}

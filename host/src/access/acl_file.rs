//! `acl.file`: Mosquitto's `acl_file`, parsed and decided as Mosquitto 2.0
//! does (its `security_default.c`), so a Mosquitto installation's file
//! grants and refuses exactly what it did there.
//!
//! # Format
//!
//! One rule per line:
//!
//! - `user NAME`: the `topic` lines after it, up to the next `user` line,
//!   apply to clients that connected with user name NAME (everything after
//!   `user ` with blanks trimmed, so NAME may hold spaces). Several blocks
//!   for one NAME add up.
//! - `topic [read|write|readwrite|deny] FILTER`: grants (or, with `deny`,
//!   refuses) FILTER and the topics it matches. No access word means
//!   `readwrite`. `topic` lines before the first `user` line apply to
//!   anonymous clients (no user name) only.
//! - `pattern [read|write|readwrite|deny] FILTER`: like `topic`, for every
//!   client wherever the line is, with `%c` replaced by the client id and
//!   `%u` by the user name (a pattern with `%u` does not apply to an
//!   anonymous client).
//! - A line whose first character is `#` is a comment; blank lines are
//!   skipped; trailing white space is ignored.
//!
//! As in Mosquitto, words are separated by spaces only (a tab between
//! `topic` and `read` makes the line invalid), a `#` after leading spaces
//! is not a comment, and `topic read` alone grants read and write on the
//! topic `read`. FILTER is everything after the access word, blanks
//! trimmed; it must be a valid topic filter with at most 200 `/`.
//!
//! # Deciding
//!
//! [`AclFile::check`] follows `mosquitto_acl_check_default`:
//!
//! 1. A subscription is always granted: Mosquitto 2.0's ACL file does not
//!    check SUBSCRIBE; it checks [`Access::Read`] against each message's
//!    topic when the message would be delivered (retained ones included),
//!    so a client granted `read a/b` may subscribe to `a/#` and receives
//!    only `a/b`.
//! 2. The client's own `topic` lines (its user's block, or the anonymous
//!    lines when it has no user name; a user name without a block has
//!    none): a matching `deny` refuses, else a matching line granting the
//!    access grants.
//! 3. If the file has `pattern` lines and the user name or client id
//!    contains `+` or `#`, refused: such a name could widen a pattern into
//!    a wildcard (CVE-2017-7650).
//! 4. The `pattern` lines, substituted, the same way as in 2.
//! 5. Nothing matched: refused.
//!
//! Matching is [`mqhost_plugin_api::topic::matches`]. Mosquitto's own
//! matcher differs only on input that cannot reach it here: it never
//! matches a topic name holding `+` or `#` (PUBLISH topics cannot; a
//! substituted pattern cannot either, after step 3), and its rule that a
//! `$` topic needs a filter starting with `$` is what `matches` does for
//! filters that are valid (which parsing ensures).
//!
//! The broker-wide rule for `$SYS` and `$share` topics, which Mosquitto
//! applies before the ACL file, is [`super::dollar_topic_denied`].
//!
//! # Stricter than Mosquitto
//!
//! Mosquitto stops at the first bad line too, but without saying which
//! line; here the error names it. A file that is not UTF-8, holds a NUL, or
//! exceeds [`super::MAX_FILE_BYTES`] is refused.

use std::collections::HashMap;

use mqhost_plugin_api::topic::{matches, validate_filter};

use super::{numbered_lines, trim_c_space, Access, FileError};

/// Most `/` a filter may hold (Mosquitto's `TOPIC_HIERARCHY_LIMIT`).
const MAX_LEVEL_SEPARATORS: usize = 200;

/// What a `topic` or `pattern` line says about the topics it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `deny`: refused, whatever else grants it.
    Deny,
    /// `read`: may receive.
    Read,
    /// `write`: may publish.
    Write,
    /// `readwrite`, or no access word: may receive and publish.
    ReadWrite,
}

impl Permission {
    fn parse(word: &str) -> Option<Permission> {
        match word {
            "deny" => Some(Permission::Deny),
            "read" => Some(Permission::Read),
            "write" => Some(Permission::Write),
            "readwrite" => Some(Permission::ReadWrite),
            _ => None,
        }
    }

    fn grants(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Permission::Read | Permission::ReadWrite, Access::Read)
                | (Permission::Write | Permission::ReadWrite, Access::Write)
        )
    }
}

/// One list of rules: refusals are consulted before grants, as Mosquitto
/// puts `deny` lines at the front of each list.
#[derive(Debug, Clone, Default)]
struct Rules {
    deny: Vec<String>,
    grant: Vec<(String, Permission)>,
}

impl Rules {
    fn add(&mut self, filter: &str, permission: Permission) {
        match permission {
            Permission::Deny => self.deny.push(filter.to_owned()),
            _ => self.grant.push((filter.to_owned(), permission)),
        }
    }

    fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.grant.is_empty()
    }

    /// `Some(false)` if a refusal matches, `Some(true)` if a grant of
    /// `access` matches, `None` if neither.
    fn decide(&self, access: Access, matching: impl Fn(&str) -> bool) -> Option<bool> {
        if self.deny.iter().any(|filter| matching(filter)) {
            return Some(false);
        }
        self.grant
            .iter()
            .any(|(filter, permission)| permission.grants(access) && matching(filter))
            .then_some(true)
    }
}

/// A parsed ACL file.
#[derive(Debug, Clone, Default)]
pub struct AclFile {
    anonymous: Rules,
    users: HashMap<String, Rules>,
    patterns: Rules,
}

impl AclFile {
    /// Parses the text of an ACL file; `file_name` is only used in errors.
    pub fn parse(text: &str, file_name: &str) -> Result<AclFile, FileError> {
        let mut acl = AclFile::default();
        let mut user: Option<String> = None;
        for (number, line) in numbered_lines(text, file_name)? {
            let error = |reason| FileError::new(file_name, Some(number), reason);
            match parse_line(line).map_err(error)? {
                Line::Skip => {}
                Line::User(name) => user = Some(name.to_owned()),
                Line::Topic(permission, filter) => {
                    let rules = match &user {
                        Some(name) => acl.users.entry(name.clone()).or_default(),
                        None => &mut acl.anonymous,
                    };
                    rules.add(filter, permission);
                }
                Line::Pattern(permission, filter) => acl.patterns.add(filter, permission),
            }
        }
        Ok(acl)
    }

    /// True if a client with `client_id` and `username` (`None`: anonymous)
    /// may have `access` to `topic`: a topic name for [`Access::Read`] and
    /// [`Access::Write`], a filter for [`Access::Subscribe`]. See the
    /// module docs for the rules.
    pub fn check(
        &self,
        client_id: &str,
        username: Option<&str>,
        topic: &str,
        access: Access,
    ) -> bool {
        if access == Access::Subscribe {
            return true;
        }
        let own = match username {
            Some(name) => self.users.get(name),
            None => Some(&self.anonymous),
        };
        if let Some(decision) = own.and_then(|rules| rules.decide(access, |f| matches(f, topic))) {
            return decision;
        }
        if self.patterns.is_empty() {
            return false;
        }
        let widens = |name: &str| name.contains(['+', '#']);
        if widens(client_id) || username.is_some_and(widens) {
            return false;
        }
        self.patterns
            .decide(access, |pattern| {
                substitute(pattern, client_id, username).is_some_and(|f| matches(&f, topic))
            })
            .unwrap_or(false)
    }
}

/// `pattern` with `%c` replaced by `client_id` and `%u` by `username`;
/// `None` if it holds `%u` and there is no user name.
fn substitute(pattern: &str, client_id: &str, username: Option<&str>) -> Option<String> {
    if username.is_none() && pattern.contains("%u") {
        return None;
    }
    let mut filter = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        let value = match (c, chars.peek()) {
            ('%', Some('c')) => Some(client_id),
            ('%', Some('u')) => username,
            _ => None,
        };
        match value {
            Some(value) => {
                chars.next();
                filter.push_str(value);
            }
            None => filter.push(c),
        }
    }
    Some(filter)
}

/// What one line of the file says.
#[derive(Debug, PartialEq, Eq)]
enum Line<'a> {
    Skip,
    User(&'a str),
    Topic(Permission, &'a str),
    Pattern(Permission, &'a str),
}

/// Reads one line (trailing white space already removed) the way
/// Mosquitto's `strtok_r(.., " ", ..)` calls split it.
fn parse_line(line: &str) -> Result<Line<'_>, String> {
    if line.starts_with('#') {
        return Ok(Line::Skip);
    }
    let Some((keyword, rest)) = next_word(line) else {
        return Ok(Line::Skip);
    };
    match keyword {
        "user" => match rest {
            Some(rest) => Ok(Line::User(trim_c_space(rest))),
            None => Err("missing user name after \"user\"".to_owned()),
        },
        "topic" | "pattern" => {
            let (permission, filter) = match rest.and_then(next_word) {
                None => return Err(format!("missing topic after {keyword:?}")),
                Some((word, Some(filter))) => {
                    let permission = Permission::parse(word).ok_or_else(|| {
                        format!("unknown access {word:?} (expected read, write, readwrite or deny)")
                    })?;
                    (permission, trim_c_space(filter))
                }
                Some((filter, None)) => (Permission::ReadWrite, filter),
            };
            validate(filter)?;
            Ok(if keyword == "topic" {
                Line::Topic(permission, filter)
            } else {
                Line::Pattern(permission, filter)
            })
        }
        _ => Err(format!(
            "unknown keyword {keyword:?} (expected topic, pattern or user)"
        )),
    }
}

/// The next space-separated word of `text`, and what follows the space
/// after it (`None` if nothing does): `strtok_r`'s split, where the rest is
/// taken with an empty delimiter set.
fn next_word(text: &str) -> Option<(&str, Option<&str>)> {
    let text = text.trim_start_matches(' ');
    if text.is_empty() {
        return None;
    }
    Some(match text.split_once(' ') {
        Some((word, rest)) => (word, Some(rest).filter(|rest| !rest.is_empty())),
        None => (text, None),
    })
}

fn validate(filter: &str) -> Result<(), String> {
    validate_filter(filter).map_err(|e| format!("invalid topic filter {filter:?}: {e}"))?;
    if filter.matches('/').count() > MAX_LEVEL_SEPARATORS {
        return Err(format!(
            "topic filter with more than {MAX_LEVEL_SEPARATORS} '/'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::assert_refused;
    use Access::{Read, Subscribe, Write};

    fn acl(text: &str) -> AclFile {
        AclFile::parse(text, "aclfile").unwrap()
    }

    fn parse(text: &str) -> Result<AclFile, FileError> {
        AclFile::parse(text, "f")
    }

    #[test]
    fn every_line_kind_parses() {
        use Permission::*;
        let cases = [
            ("# comment", Line::Skip),
            ("", Line::Skip),
            ("   ", Line::Skip),
            ("user alice", Line::User("alice")),
            ("user   de jong", Line::User("de jong")),
            ("user a+b", Line::User("a+b")),
            ("topic a/b", Line::Topic(ReadWrite, "a/b")),
            ("topic read a/#", Line::Topic(Read, "a/#")),
            ("topic write a/+", Line::Topic(Write, "a/+")),
            ("topic readwrite $SYS/#", Line::Topic(ReadWrite, "$SYS/#")),
            ("topic deny a", Line::Topic(Deny, "a")),
            ("  topic   read   a b  c", Line::Topic(Read, "a b  c")),
            ("topic read", Line::Topic(ReadWrite, "read")),
            ("topic deny", Line::Topic(ReadWrite, "deny")),
            // A tab does not separate words: this is the topic "read\ta".
            ("topic read\ta", Line::Topic(ReadWrite, "read\ta")),
            ("pattern read d/%c/%u", Line::Pattern(Read, "d/%c/%u")),
            ("pattern %c", Line::Pattern(ReadWrite, "%c")),
        ];
        for (line, expected) in cases {
            assert_eq!(parse_line(line), Ok(expected), "{line:?}");
        }
    }

    #[test]
    fn bad_lines_are_errors_with_their_line_number() {
        let cases = [
            ("user", "missing user name"),
            ("topic", "missing topic after \"topic\""),
            ("pattern   ", "missing topic after \"pattern\""),
            ("topic reed a", "unknown access \"reed\""),
            ("topic Read a", "unknown access \"Read\""),
            ("topic\tread a", "unknown keyword \"topic\\tread\""),
            ("Topic a", "unknown keyword \"Topic\""),
            ("  # indented", "unknown keyword \"#\""),
            ("topic read a/#/b", "invalid topic filter \"a/#/b\""),
            ("topic read a/b # note", "invalid topic filter"),
            ("pattern write a/%c+", "invalid topic filter"),
            ("topic read a+", "invalid topic filter"),
        ];
        for (line, reason) in cases {
            assert_refused(
                parse(&format!("# header\ntopic ok\n{line}\ntopic later\n")),
                3,
                reason,
            );
        }
    }

    #[test]
    fn filters_may_have_200_separators_not_more() {
        assert!(parse(&format!("topic a{}", "/a".repeat(200))).is_ok());
        assert_refused(
            parse(&format!("topic a{}", "/a".repeat(201))),
            1,
            "more than 200",
        );
    }

    #[test]
    fn lines_before_the_first_user_are_for_anonymous_clients_only() {
        let acl = acl("topic read public\nuser alice\ntopic read private\n");
        assert!(acl.check("c", None, "public", Read));
        assert!(!acl.check("c", None, "private", Read));
        assert!(!acl.check("c", Some("alice"), "public", Read));
        assert!(acl.check("c", Some("alice"), "private", Read));
        assert!(!acl.check("c", Some("bob"), "public", Read));
        assert!(!acl.check("c", Some("bob"), "private", Read));
    }

    #[test]
    fn access_words_grant_what_they_say() {
        let acl = acl("user u\ntopic read r\ntopic write w\ntopic readwrite rw\ntopic both\n");
        let can = |topic, access| acl.check("c", Some("u"), topic, access);
        assert!(can("r", Read) && !can("r", Write));
        assert!(!can("w", Read) && can("w", Write));
        assert!(can("rw", Read) && can("rw", Write));
        assert!(can("both", Read) && can("both", Write));
        assert!(!can("other", Read) && !can("other", Write));
    }

    #[test]
    fn subscribing_is_always_granted_and_reading_is_checked_per_topic() {
        let acl = acl("user u\ntopic read a/b\n");
        assert!(acl.check("c", Some("u"), "a/#", Subscribe));
        assert!(acl.check("c", Some("stranger"), "#", Subscribe));
        assert!(acl.check("c", Some("u"), "a/b", Read));
        assert!(!acl.check("c", Some("u"), "a/c", Read));
        assert!(AclFile::default().check("c", None, "x", Subscribe));
        assert!(!AclFile::default().check("c", None, "x", Read));
    }

    #[test]
    fn deny_wins_over_grants_in_any_order() {
        let acl = acl("user u\ntopic readwrite a/#\ntopic deny a/secret\ntopic read a/secret\n");
        assert!(acl.check("c", Some("u"), "a/open", Write));
        assert!(!acl.check("c", Some("u"), "a/secret", Read));
        assert!(!acl.check("c", Some("u"), "a/secret", Write));
    }

    #[test]
    fn blocks_for_one_user_add_up() {
        let acl = acl("user u\ntopic read a\nuser v\ntopic b\nuser u\ntopic write c\n");
        assert!(acl.check("c", Some("u"), "a", Read));
        assert!(acl.check("c", Some("u"), "c", Write));
        assert!(!acl.check("c", Some("u"), "b", Read));
    }

    #[test]
    fn patterns_substitute_client_id_and_user_name_for_everyone() {
        let acl = acl("user u\ntopic read x\npattern readwrite dev/%c/%u\npattern write c/%c\n");
        assert!(acl.check("id1", Some("u"), "dev/id1/u", Write));
        assert!(!acl.check("id1", Some("u"), "dev/id2/u", Write));
        assert!(acl.check("id1", Some("bob"), "dev/id1/bob", Read));
        assert!(acl.check("id1", None, "c/id1", Write));
        assert!(!acl.check("id1", None, "c/id1", Read));
        // A pattern with %u never applies to an anonymous client.
        assert!(!acl.check("id1", None, "dev/id1/", Write));
        assert!(!acl.check("id1", None, "dev/id1/%u", Write));
    }

    #[test]
    fn a_client_id_with_a_slash_adds_levels() {
        let acl = acl("pattern read c/%c\n");
        assert!(acl.check("a/b", None, "c/a/b", Read));
    }

    #[test]
    fn topic_decisions_come_before_patterns() {
        let acl =
            acl("pattern deny p/%c\npattern read q/%c\nuser u\ntopic read p/#\ntopic deny q/#\n");
        // The user's own grant wins over a pattern's deny...
        assert!(acl.check("c", Some("u"), "p/c", Read));
        // ...and its own deny over a pattern's grant.
        assert!(!acl.check("c", Some("u"), "q/c", Read));
        // Others reach the patterns.
        assert!(!acl.check("c", Some("v"), "p/c", Read));
        assert!(acl.check("c", Some("v"), "q/c", Read));
    }

    #[test]
    fn wildcards_in_names_get_nothing_from_patterns() {
        let acl = acl("user a+b\ntopic read own\npattern read %u/%c\npattern read open\n");
        // CVE-2017-7650: "+" would otherwise match every user's tree.
        assert!(!acl.check("c", Some("a+b"), "x/c", Read));
        assert!(!acl.check("c", Some("a+b"), "open", Read));
        assert!(!acl.check("c#", Some("u"), "open", Read));
        assert!(!acl.check("+", None, "open", Read));
        assert!(acl.check("c", Some("u"), "open", Read));
        // The user's own topic lines still apply.
        assert!(acl.check("c", Some("a+b"), "own", Read));
    }

    #[test]
    fn wildcards_in_names_are_harmless_without_patterns() {
        let acl = acl("user a+b\ntopic read own\n");
        assert!(acl.check("c#", Some("a+b"), "own", Read));
    }

    #[test]
    fn percent_is_literal_in_topic_lines_and_unknown_escapes() {
        let acl = acl("topic read t/%c\npattern read p/%x/%%c\n");
        assert!(acl.check("id", None, "t/%c", Read));
        assert!(!acl.check("id", None, "t/id", Read));
        assert!(acl.check("id", None, "p/%x/%id", Read));
    }

    #[test]
    fn dollar_topics_need_rules_that_start_with_dollar() {
        let acl = acl("topic read #\ntopic read +/broker/#\nuser u\ntopic read $SYS/#\n");
        assert!(acl.check("c", None, "a/b", Read));
        assert!(!acl.check("c", None, "$SYS/broker/uptime", Read));
        assert!(acl.check("c", Some("u"), "$SYS/broker/uptime", Read));
        assert!(acl.check("c", Some("u"), "$SYS", Read));
        let patterns = parse("pattern read #\n").unwrap();
        assert!(!patterns.check("c", None, "$SYS/x", Read));
    }

    #[test]
    fn wildcard_rules_match_as_mqtt_filters() {
        let acl = acl("topic read a/+/c\ntopic write d/#\n");
        assert!(acl.check("c", None, "a/b/c", Read));
        assert!(acl.check("c", None, "a//c", Read));
        assert!(!acl.check("c", None, "a/b/c/d", Read));
        assert!(acl.check("c", None, "d", Write));
        assert!(acl.check("c", None, "d/e/f", Write));
    }

    #[test]
    fn an_empty_file_refuses_everything_but_subscriptions() {
        let acl = acl("# nothing\n\n");
        assert!(!acl.check("c", None, "a", Read));
        assert!(!acl.check("c", Some("u"), "a", Write));
    }

    #[test]
    fn substitution_is_not_recursive() {
        assert_eq!(
            substitute("%c/%u", "%u", Some("x")),
            Some("%u/x".to_owned())
        );
        assert_eq!(substitute("a%", "c", None), Some("a%".to_owned()));
        assert_eq!(substitute("%u", "c", None), None);
    }
}

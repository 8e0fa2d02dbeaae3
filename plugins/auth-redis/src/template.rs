//! The lookup commands `auth.redis.auth_cmd`, `auth.redis.super_cmd` and
//! `auth.redis.acl_cmd`: a Redis command written as words, with
//! placeholders for what the client presented.
//!
//! ```text
//! auth.redis.auth_cmd = HMGET mqtt_user:%u password salt
//! auth.redis.acl_cmd = HGETALL mqtt_acl:${username}
//! ```
//!
//! # Placeholders
//!
//! | EMQX 4 | EMQX 5 | Value |
//! |---|---|---|
//! | `%u` | `${username}` | the user name |
//! | `%c` | `${clientid}` | the client id |
//! | `%C` | `${cert_common_name}` | the client certificate's common name |
//! | `%d` | `${cert_subject}` | the client certificate's subject |
//!
//! A `%` before any other character is itself, as in EMQX 4; a `${...}`
//! naming anything else is an error at load, as in EMQX 5.
//!
//! # Arguments
//!
//! The command is split into arguments at blanks (spaces and tabs) first,
//! and placeholders are filled in afterwards, each inside its own
//! argument: a user name holding spaces stays one argument, so a client
//! cannot add arguments to the command (`HMGET mqtt_user:%u password`
//! with the user name `x password` is a lookup of the key
//! `mqtt_user:x password`, not of two fields). Values are inserted as they
//! are, once: a client id holding `%u` is not filled in again. There is no
//! quoting: quote characters are part of the argument, as in EMQX 4. The
//! command name (the first word) cannot hold a placeholder.
//!
//! # Where this differs from EMQX 4
//!
//! EMQX 4 (`emqx_auth_redis_cli:replvar`) fills in the placeholders in the
//! whole command string and then splits it at spaces, so a user name with
//! a space added arguments to the command. It fills in only the first of
//! each placeholder, in the order `%C`, `%d`, `%c`, `%u`, each into the
//! result of the one before (a certificate name holding `%u` gets the user
//! name). And a placeholder with no value (no user name, no certificate)
//! stays in the command as written, so a client without a user name looks
//! up the key `mqtt_user:%u`. Here, a command whose placeholder has no
//! value is not sent at all: [`Template::render`] says which value is
//! missing, and the lookup's answer is `ignore` (the next source decides),
//! which is what EMQX 4 answers when the key does not exist.

use std::fmt;

/// What a placeholder stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `%u`, `${username}`.
    Username,
    /// `%c`, `${clientid}`.
    ClientId,
    /// `%C`, `${cert_common_name}`.
    CertCommonName,
    /// `%d`, `${cert_subject}`.
    CertSubject,
}

impl Var {
    /// Every placeholder a lookup command may hold.
    pub const ALL: [Var; 4] = [
        Var::Username,
        Var::ClientId,
        Var::CertCommonName,
        Var::CertSubject,
    ];

    fn percent(self) -> char {
        match self {
            Var::Username => 'u',
            Var::ClientId => 'c',
            Var::CertCommonName => 'C',
            Var::CertSubject => 'd',
        }
    }

    fn name(self) -> &'static str {
        match self {
            Var::Username => "username",
            Var::ClientId => "clientid",
            Var::CertCommonName => "cert_common_name",
            Var::CertSubject => "cert_subject",
        }
    }
}

impl fmt::Display for Var {
    /// The EMQX 5 spelling, `${username}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}}}", self.name())
    }
}

/// What a client presented, for filling in placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Client<'a> {
    pub client_id: &'a str,
    /// `None`: the client sent no user name (an empty one is `Some("")`).
    pub username: Option<&'a str>,
    /// `None`: no client certificate, or one without a common name.
    pub cert_common_name: Option<&'a str>,
    /// `None`: no client certificate.
    pub cert_subject: Option<&'a str>,
}

impl<'a> Client<'a> {
    /// The value `var` stands for, if the client has one.
    pub fn value(&self, var: Var) -> Option<&'a str> {
        match var {
            Var::Username => self.username,
            Var::ClientId => Some(self.client_id),
            Var::CertCommonName => self.cert_common_name,
            Var::CertSubject => self.cert_subject,
        }
    }
}

/// A piece of text with placeholders: literal runs and the placeholders
/// between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Part {
    Text(String),
    Var(Var),
}

/// Why a piece of text could not be read for placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PlaceholderError {
    /// `${` without its `}`.
    Unclosed,
    /// `${name}` with a name not among those allowed.
    Unknown(String),
}

/// Splits `text` into literal runs and the placeholders in `allowed`:
/// `%` and a letter, or `${name}`.
pub(crate) fn parse_parts(text: &str, allowed: &[Var]) -> Result<Vec<Part>, PlaceholderError> {
    let mut parts = Vec::new();
    let mut literal = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let found = if c == '%' {
            let letter = rest[1..].chars().next();
            allowed
                .iter()
                .find(|var| Some(var.percent()) == letter)
                .map(|&var| (var, 2))
        } else if let Some(after) = rest.strip_prefix("${") {
            let end = after.find('}').ok_or(PlaceholderError::Unclosed)?;
            let name = &after[..end];
            let var = allowed
                .iter()
                .find(|var| var.name() == name)
                .ok_or_else(|| PlaceholderError::Unknown(name.to_owned()))?;
            Some((*var, end + 3))
        } else {
            None
        };
        match found {
            Some((var, len)) => {
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Var(var));
                rest = &rest[len..];
            }
            None => {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !literal.is_empty() {
        parts.push(Part::Text(literal));
    }
    Ok(parts)
}

/// `parts` with each placeholder replaced by its value; `Err` names the
/// first placeholder the client has no value for.
fn fill(parts: &[Part], client: &Client<'_>) -> Result<String, Missing> {
    let mut out = String::new();
    for part in parts {
        match part {
            Part::Text(text) => out.push_str(text),
            Part::Var(var) => out.push_str(client.value(*var).ok_or(Missing(*var))?),
        }
    }
    Ok(out)
}

/// A placeholder the client has no value for: the lookup is not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Missing(pub Var);

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.0 {
            Var::Username => "no user name",
            Var::ClientId => "no client id",
            Var::CertCommonName => "no certificate common name",
            Var::CertSubject => "no certificate",
        };
        write!(f, "the client has {what} for {}", self.0)
    }
}

/// Why a lookup command was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// Nothing but blanks.
    Empty,
    /// The command name is a placeholder or holds one: a client would
    /// choose the Redis command.
    VarInCommandName(String),
    /// `${name}` with a name that is not a placeholder.
    UnknownVar(String),
    /// `${` without its `}` in that argument.
    Unclosed(String),
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TemplateError::Empty => f.write_str(
                "empty: expected a Redis command such as HMGET mqtt_user:%u password salt",
            ),
            TemplateError::VarInCommandName(word) => write!(
                f,
                "the command name {word:?} holds a placeholder: only its arguments may"
            ),
            TemplateError::UnknownVar(name) => write!(
                f,
                "unknown placeholder ${{{name}}}: expected ${{username}}, ${{clientid}}, \
                 ${{cert_common_name}} or ${{cert_subject}} (or %u, %c, %C, %d)"
            ),
            TemplateError::Unclosed(word) => write!(f, "\"${{\" without \"}}\" in {word:?}"),
        }
    }
}

impl std::error::Error for TemplateError {}

/// A parsed lookup command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The command as configured, for logs.
    text: String,
    /// The command name, upper case.
    command: String,
    /// The arguments after it.
    args: Vec<Vec<Part>>,
}

impl std::str::FromStr for Template {
    type Err = TemplateError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Template::parse(text)
    }
}

impl Template {
    /// Reads a configured command. See the module docs for the rules.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut words = text.split([' ', '\t']).filter(|w| !w.is_empty());
        let name = words.next().ok_or(TemplateError::Empty)?;
        let in_name = parse_parts(name, &Var::ALL).map_or(true, |parts| {
            parts.iter().any(|p| matches!(p, Part::Var(_)))
        });
        if in_name {
            return Err(TemplateError::VarInCommandName(name.to_owned()));
        }
        let args = words
            .map(|word| {
                parse_parts(word, &Var::ALL).map_err(|error| match error {
                    PlaceholderError::Unclosed => TemplateError::Unclosed(word.to_owned()),
                    PlaceholderError::Unknown(name) => TemplateError::UnknownVar(name),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Template {
            text: text.trim().to_owned(),
            command: name.to_ascii_uppercase(),
            args,
        })
    }

    /// The command name in upper case (`HMGET`), to check that it is one
    /// the lookup knows how to read.
    pub fn command(&self) -> &str {
        &self.command
    }

    /// How many arguments follow the command name.
    pub fn arg_count(&self) -> usize {
        self.args.len()
    }

    /// Whether the command holds placeholder `var`: whether its answer
    /// depends on that value.
    pub fn uses(&self, var: Var) -> bool {
        self.args
            .iter()
            .flatten()
            .any(|part| *part == Part::Var(var))
    }

    /// The command for `client`: the name, then each argument with its
    /// placeholders filled in. `Err` when the client has no value for a
    /// placeholder: then no lookup is made.
    pub fn render(&self, client: &Client<'_>) -> Result<Vec<String>, Missing> {
        let mut out = Vec::with_capacity(self.args.len() + 1);
        out.push(self.command.clone());
        for arg in &self.args {
            out.push(fill(arg, client)?);
        }
        Ok(out)
    }
}

impl fmt::Display for Template {
    /// The command as configured.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Client<'static> = Client {
        client_id: "dev-1",
        username: Some("alice"),
        cert_common_name: Some("alice.example"),
        cert_subject: Some("CN=alice.example,O=Example"),
    };

    fn render(template: &str, client: &Client<'_>) -> Result<Vec<String>, Missing> {
        Template::parse(template).unwrap().render(client)
    }

    #[test]
    fn emqx_4_and_5_placeholders_fill_in() {
        let expected = [
            "HMGET",
            "u:alice:dev-1",
            "c:alice.example",
            "d:CN=alice.example,O=Example",
        ];
        assert_eq!(render("HMGET u:%u:%c c:%C d:%d", &ALICE).unwrap(), expected);
        assert_eq!(
            render(
                "HMGET u:${username}:${clientid} c:${cert_common_name} d:${cert_subject}",
                &ALICE
            )
            .unwrap(),
            expected
        );
        // Every occurrence, not only the first.
        assert_eq!(render("GET %u%u", &ALICE).unwrap(), ["GET", "alicealice"]);
    }

    #[test]
    fn a_value_with_blanks_stays_one_argument() {
        let client = Client {
            username: Some("x password salt"),
            client_id: "a b\tc",
            ..ALICE
        };
        assert_eq!(
            render("HMGET mqtt_user:%u password", &client).unwrap(),
            ["HMGET", "mqtt_user:x password salt", "password"]
        );
        assert_eq!(
            render("HGETALL  mqtt_acl:%c\t", &client).unwrap(),
            ["HGETALL", "mqtt_acl:a b\tc"]
        );
    }

    #[test]
    fn values_are_not_filled_in_again() {
        let client = Client {
            username: Some("%c${clientid}"),
            client_id: "%u",
            ..ALICE
        };
        assert_eq!(
            render("HGET %u:%c f", &client).unwrap(),
            ["HGET", "%c${clientid}:%u", "f"]
        );
    }

    #[test]
    fn a_missing_value_means_no_lookup() {
        let anonymous = Client {
            username: None,
            cert_common_name: None,
            cert_subject: None,
            ..ALICE
        };
        assert_eq!(
            render("HMGET mqtt_user:%u password", &anonymous),
            Err(Missing(Var::Username))
        );
        assert_eq!(
            render("HGET cert:${cert_common_name} x", &anonymous),
            Err(Missing(Var::CertCommonName))
        );
        assert_eq!(
            render("HGET cert:%d x", &anonymous),
            Err(Missing(Var::CertSubject))
        );
        assert!(Missing(Var::Username).to_string().contains("no user name"));
        // An empty user name is a value.
        let empty = Client {
            username: Some(""),
            ..anonymous
        };
        assert_eq!(
            render("HMGET mqtt_user:%u password", &empty).unwrap(),
            ["HMGET", "mqtt_user:", "password"]
        );
        // Placeholders the command does not use need no value.
        assert_eq!(
            render("HGET mqtt_client:%c password", &anonymous).unwrap(),
            ["HGET", "mqtt_client:dev-1", "password"]
        );
    }

    #[test]
    fn other_percent_and_dollar_text_is_literal() {
        assert_eq!(
            render("GET 100% %x %% $u $ {username} %", &ALICE).unwrap(),
            ["GET", "100%", "%x", "%%", "$u", "$", "{username}", "%"]
        );
        // "%%u": the first % is literal, the second starts %u.
        assert_eq!(render("GET %%u", &ALICE).unwrap(), ["GET", "%alice"]);
        assert_eq!(render("GET é%uü", &ALICE).unwrap(), ["GET", "éaliceü"]);
    }

    #[test]
    fn bad_commands_are_refused() {
        let cases = [
            ("", TemplateError::Empty),
            (" \t ", TemplateError::Empty),
            ("%u password", TemplateError::VarInCommandName("%u".into())),
            (
                "H${clientid} x",
                TemplateError::VarInCommandName("H${clientid}".into()),
            ),
            (
                "${nope} x",
                TemplateError::VarInCommandName("${nope}".into()),
            ),
            (
                "HGET mqtt_user:${user} password",
                TemplateError::UnknownVar("user".into()),
            ),
            (
                "HGET mqtt_user:${password}",
                TemplateError::UnknownVar("password".into()),
            ),
            (
                "HGET mqtt_user:${username password",
                TemplateError::Unclosed("mqtt_user:${username".into()),
            ),
            (
                "HGET mqtt_user:${ username } password",
                TemplateError::Unclosed("mqtt_user:${".into()),
            ),
        ];
        for (text, expected) in cases {
            let error = Template::parse(text).unwrap_err();
            assert_eq!(error, expected, "{text:?}");
            assert!(!error.to_string().is_empty());
        }
    }

    #[test]
    fn the_command_is_known_by_name_and_placeholders() {
        let template: Template = " hmget mqtt_user:%u password salt ".parse().unwrap();
        assert_eq!(template.command(), "HMGET");
        assert_eq!(template.arg_count(), 3);
        assert!(template.uses(Var::Username));
        assert!(!template.uses(Var::ClientId));
        assert_eq!(template.to_string(), "hmget mqtt_user:%u password salt");
        assert_eq!(Var::CertSubject.to_string(), "${cert_subject}");
    }
}

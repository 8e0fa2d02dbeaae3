//! `client.authenticate`: the stored password from `auth_cmd`, checked
//! with `password_hash`, and `super_cmd` asked in the same round trip.
//!
//! | Redis says | Answer |
//! |---|---|
//! | no stored password (nil, or empty) | `ignore`: user not found |
//! | the password matches | `allow`, or `allow_superuser` when `super_cmd` says `1` or `true` |
//! | it does not, or the stored value cannot be checked | `deny` (CONNACK 0x86 / return code 4) |
//! | nothing within `query_timeout`, or an error | `auth.redis.failed_action`: `ignore` or `deny` |
//!
//! EMQX 4 asks `super_cmd` after the password matched; here both
//! commands go out pipelined at once, so that a login costs one round
//! trip and stays within one `query_timeout`. A superuser lookup that
//! fails or says anything else makes an ordinary user, as in EMQX 4.
//!
//! An empty stored password is a user without a password, not one whose
//! password is empty: EMQX 4 let a client with an empty password in
//! (`plain`); here the next source decides.

use std::sync::Arc;

use mqhost_plugin_api::Decision;
use redis::Value;

use crate::hash::{PasswordHash, Unusable};
use crate::link::Failure;

/// What the `auth_cmd` reply holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Stored {
    /// A stored password (not empty), and the salt if the reply had a
    /// second value that is not nil.
    Password {
        hash: Vec<u8>,
        salt: Option<Vec<u8>>,
    },
    /// No user: nil, an empty value, or an empty list.
    NotFound,
    /// A reply of another shape (an integer, a nested list): the command
    /// is not one that returns a password.
    Unexpected(String),
}

/// Reads the `auth_cmd` reply: `HGET` (one value), `HMGET` (a list:
/// password, then salt), `GET`.
pub(crate) fn stored(reply: &Value) -> Stored {
    let (first, second) = match reply {
        Value::Array(values) => (values.first(), values.get(1)),
        other => (Some(other), None),
    };
    let hash = match first.map(text) {
        None | Some(Text::Nil) | Some(Text::Bytes([])) => return Stored::NotFound,
        Some(Text::Bytes(bytes)) => bytes.to_vec(),
        Some(Text::Other) => return Stored::Unexpected(describe(reply)),
    };
    let salt = match second.map(text) {
        Some(Text::Bytes(bytes)) => Some(bytes.to_vec()),
        _ => None,
    };
    Stored::Password { hash, salt }
}

/// Whether the `super_cmd` reply makes a superuser: `1` or `true` (any
/// case), as text, integer or boolean. Anything else, nil included, does
/// not.
pub(crate) fn is_superuser(reply: &Value) -> bool {
    match reply {
        Value::Int(n) => *n == 1,
        Value::Boolean(b) => *b,
        Value::Array(values) if values.len() == 1 => is_superuser(&values[0]),
        other => match text(other) {
            Text::Bytes(bytes) => bytes == b"1" || bytes.eq_ignore_ascii_case(b"true"),
            _ => false,
        },
    }
}

enum Text<'a> {
    Nil,
    Bytes(&'a [u8]),
    Other,
}

fn text(value: &Value) -> Text<'_> {
    match value {
        Value::Nil => Text::Nil,
        Value::BulkString(bytes) => Text::Bytes(bytes),
        Value::SimpleString(s) => Text::Bytes(s.as_bytes()),
        Value::VerbatimString { text, .. } => Text::Bytes(text.as_bytes()),
        _ => Text::Other,
    }
}

/// A short description of an unexpected reply, for a log line; never its
/// content, which may be a password.
fn describe(reply: &Value) -> String {
    match reply {
        Value::Int(_) => "an integer".to_owned(),
        Value::Array(values) => format!("a list of {} values", values.len()),
        Value::Map(_) => "a map".to_owned(),
        Value::Set(_) => "a set".to_owned(),
        Value::Okay => "OK".to_owned(),
        Value::Double(_) => "a number".to_owned(),
        Value::Boolean(_) => "a boolean".to_owned(),
        _ => "a reply of another kind".to_owned(),
    }
}

/// Whether checking this scheme takes long enough (bcrypt, pbkdf2) to
/// belong on a blocking thread rather than the runtime's.
pub(crate) fn is_slow(hash: &PasswordHash) -> bool {
    matches!(hash, PasswordHash::Bcrypt(_) | PasswordHash::Pbkdf2 { .. })
}

/// How a login went, before it is counted and answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Allowed {
        superuser: bool,
    },
    WrongPassword,
    /// The stored value cannot be checked: refused, and worth a log line.
    Unusable(Unusable),
    NotFound,
    /// The reply is not a password: the next source decides.
    Unexpected(String),
    Failed(Failure),
}

/// Checks `password` against the stored value, off the runtime's threads
/// when the scheme is slow.
pub(crate) async fn verify(
    scheme: PasswordHash,
    password: Arc<[u8]>,
    hash: Vec<u8>,
    salt: Option<Vec<u8>>,
) -> Result<bool, Unusable> {
    let check = move || scheme.verify(&password, &hash, salt.as_deref());
    if !is_slow(&scheme) {
        return check();
    }
    match tokio::task::spawn_blocking(check).await {
        Ok(result) => result,
        // Cancelled (the runtime is stopping) or panicked: no match.
        Err(_) => Ok(false),
    }
}

impl Outcome {
    /// The answer, `failed` being `failed_action`'s.
    pub(crate) fn decision(&self, failed: Decision) -> Decision {
        match self {
            Outcome::Allowed { superuser: true } => Decision::ALLOW_SUPERUSER,
            Outcome::Allowed { superuser: false } => Decision::ALLOW,
            Outcome::WrongPassword | Outcome::Unusable(_) => Decision::DENY,
            Outcome::NotFound | Outcome::Unexpected(_) => Decision::IGNORE,
            Outcome::Failed(_) => failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn the_stored_password_and_salt_are_read_from_each_reply_shape() {
        let found = |hash: &str, salt: Option<&str>| Stored::Password {
            hash: hash.as_bytes().to_vec(),
            salt: salt.map(|s| s.as_bytes().to_vec()),
        };
        // HGET, GET
        assert_eq!(stored(&bulk("pw")), found("pw", None));
        assert_eq!(stored(&Value::Nil), Stored::NotFound);
        assert_eq!(stored(&bulk("")), Stored::NotFound);
        // HMGET
        assert_eq!(stored(&Value::Array(vec![bulk("pw")])), found("pw", None));
        assert_eq!(
            stored(&Value::Array(vec![bulk("pw"), bulk("salt")])),
            found("pw", Some("salt"))
        );
        assert_eq!(
            stored(&Value::Array(vec![bulk("pw"), Value::Nil])),
            found("pw", None)
        );
        // An empty salt is a salt.
        assert_eq!(
            stored(&Value::Array(vec![bulk("pw"), bulk("")])),
            found("pw", Some(""))
        );
        assert_eq!(
            stored(&Value::Array(vec![Value::Nil, bulk("salt")])),
            Stored::NotFound
        );
        assert_eq!(stored(&Value::Array(vec![])), Stored::NotFound);
        assert_eq!(
            stored(&Value::Array(vec![bulk(""), bulk("salt")])),
            Stored::NotFound
        );
        assert_eq!(stored(&Value::SimpleString("pw".into())), found("pw", None));
        // Not a password: said without the content.
        assert_eq!(
            stored(&Value::Int(42)),
            Stored::Unexpected("an integer".into())
        );
        assert_eq!(
            stored(&Value::Array(vec![Value::Array(vec![bulk("secret")])])),
            Stored::Unexpected("a list of 1 values".into())
        );
    }

    #[test]
    fn one_and_true_make_a_superuser() {
        for yes in [bulk("1"), bulk("true"), bulk("TRUE"), Value::Int(1)] {
            assert!(is_superuser(&yes), "{yes:?}");
        }
        assert!(is_superuser(&Value::Boolean(true)));
        assert!(is_superuser(&Value::Array(vec![bulk("1")])));
        for no in [
            bulk("0"),
            bulk("false"),
            bulk(""),
            bulk("yes"),
            bulk(" 1"),
            Value::Nil,
            Value::Int(2),
            Value::Int(0),
            Value::Array(vec![]),
        ] {
            assert!(!is_superuser(&no), "{no:?}");
        }
    }

    #[test]
    fn each_outcome_has_its_answer() {
        let failed = Decision::DENY;
        assert_eq!(
            Outcome::Allowed { superuser: true }.decision(failed),
            Decision::ALLOW_SUPERUSER
        );
        assert_eq!(
            Outcome::Allowed { superuser: false }.decision(failed),
            Decision::ALLOW
        );
        assert_eq!(Outcome::WrongPassword.decision(failed), Decision::DENY);
        assert_eq!(
            Outcome::Unusable(Unusable::BadBcryptHash).decision(Decision::IGNORE),
            Decision::DENY
        );
        assert_eq!(Outcome::NotFound.decision(failed), Decision::IGNORE);
        assert_eq!(
            Outcome::Failed(Failure::Timeout).decision(Decision::IGNORE),
            Decision::IGNORE
        );
        assert_eq!(Outcome::Failed(Failure::Timeout).decision(failed), failed);
    }

    #[tokio::test]
    async fn slow_schemes_are_checked_on_a_blocking_thread_and_agree() {
        let password: Arc<[u8]> = Arc::from(&b"public"[..]);
        // A bcrypt hash of "public" made by the Python bcrypt package.
        let hash = b"$2b$04$Ek4uQ9fDvdNf1VHCCkRHGOoQd8xSwXodbctZEdXsFTDyNjkKE5Pf.".to_vec();
        let bcrypt: PasswordHash = "bcrypt".parse().unwrap();
        assert!(is_slow(&bcrypt));
        assert_eq!(
            verify(bcrypt, password.clone(), hash.clone(), None).await,
            Ok(true)
        );
        assert_eq!(
            verify(bcrypt, Arc::from(&b"wrong"[..]), hash, None).await,
            Ok(false)
        );
        let plain: PasswordHash = "plain".parse().unwrap();
        assert!(!is_slow(&plain));
        assert_eq!(
            verify(plain, password, b"public".to_vec(), None).await,
            Ok(true)
        );
    }
}

//! `auth.password_file`: Mosquitto's password file, read and checked the
//! way Mosquitto 2.0 does, so a file made by `mosquitto_passwd` works
//! unchanged (and `mqhost passwd` makes files Mosquitto accepts).
//!
//! # Format
//!
//! One user per line, `NAME:HASH`, with HASH in one of two forms:
//!
//! - `$7$ITERATIONS$SALT$DIGEST`: PBKDF2-HMAC-SHA512 of the password with
//!   SALT, ITERATIONS rounds, 64 bytes out. `mosquitto_passwd`'s default
//!   since 2.0, with [`DEFAULT_ITERATIONS`] rounds.
//! - `$6$SALT$DIGEST`: SHA-512 of the password followed by SALT, written
//!   by Mosquitto 1.6 and earlier (and by `mosquitto_passwd -H sha512`).
//!
//! SALT is [`SALT_LEN`] bytes and DIGEST 64 bytes, both in standard base64
//! (padding optional when reading, written as `mosquitto_passwd` does).
//! White space around NAME and HASH is ignored; a line starting with `#`
//! and a blank line are skipped, as in Mosquitto.
//!
//! # Stricter than Mosquitto
//!
//! Mosquitto skips, with a log line or silently, a line it cannot use.
//! Here each such line is an error naming the file, the line and why: no
//! `:`, an empty or over-long (more than 65535 bytes) name, a hash of
//! another form, a salt or digest of the wrong length, iterations outside
//! 1..=2^31-1, text after the digest, and a name given twice (Mosquitto
//! would keep both lines and use one of them).
//!
//! Mosquitto hashes a client's password up to its first NUL byte; here
//! every byte counts, so `secret\0more` is not the password `secret`.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use base64::alphabet::STANDARD as STANDARD_ALPHABET;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use super::{numbered_lines, trim_c_space, FileError};

/// Rounds `mosquitto_passwd` uses for a new `$7$` hash.
pub const DEFAULT_ITERATIONS: u32 = 101;

/// Length of a salt in bytes, in both forms.
pub const SALT_LEN: usize = 12;

/// Length of a digest in bytes: SHA-512's output.
const DIGEST_LEN: usize = 64;

/// Longest user name, in bytes: what MQTT can carry, and Mosquitto's limit.
pub const MAX_USER_NAME_LEN: usize = 65535;

/// Standard base64 that accepts a missing `=` padding, as OpenSSL's
/// decoder (Mosquitto's) does.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD_ALPHABET,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// How a [`PasswordHash`] was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `$6$`: SHA-512 of password then salt.
    Sha512,
    /// `$7$`: PBKDF2-HMAC-SHA512 with this many rounds.
    Pbkdf2Sha512 {
        /// Rounds, at least 1.
        iterations: u32,
    },
}

/// One user's stored hash: its scheme, salt and digest. Printed with
/// `Display` in the file's form; `Debug` shows the scheme only.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    scheme: Scheme,
    salt: [u8; SALT_LEN],
    digest: [u8; DIGEST_LEN],
}

impl PasswordHash {
    /// The hash of `password` under `scheme` with `salt`.
    pub fn compute(scheme: Scheme, salt: [u8; SALT_LEN], password: &[u8]) -> PasswordHash {
        PasswordHash {
            scheme,
            salt,
            digest: digest(scheme, &salt, password),
        }
    }

    /// A new `$7$` hash of `password` as `mosquitto_passwd` makes one:
    /// [`DEFAULT_ITERATIONS`] rounds and a random salt from the operating
    /// system.
    pub fn generate(password: &[u8]) -> std::io::Result<PasswordHash> {
        PasswordHash::generate_with(DEFAULT_ITERATIONS, password)
    }

    /// A new `$7$` hash of `password` with `iterations` rounds and a
    /// random salt: for files Mosquitto does not read, which can afford
    /// more rounds than a CONNECT can.
    pub fn generate_with(iterations: u32, password: &[u8]) -> std::io::Result<PasswordHash> {
        let mut salt = [0; SALT_LEN];
        getrandom::getrandom(&mut salt).map_err(std::io::Error::from)?;
        let scheme = Scheme::Pbkdf2Sha512 { iterations };
        Ok(PasswordHash::compute(scheme, salt, password))
    }

    /// Reads the HASH part of a line (`$7$...` or `$6$...`); the error says
    /// what is wrong with it.
    pub fn parse(text: &str) -> Result<PasswordHash, String> {
        let mut parts = text
            .strip_prefix('$')
            .ok_or("the hash does not start with $7$ or $6$")?
            .split('$');
        let scheme = match parts.next() {
            Some("6") => Scheme::Sha512,
            Some("7") => Scheme::Pbkdf2Sha512 {
                iterations: parse_iterations(parts.next().unwrap_or(""))?,
            },
            Some(kind) => return Err(format!("unknown hash type ${kind}$ (expected $7$ or $6$)")),
            None => unreachable!("split yields at least one part"),
        };
        let salt = decode::<SALT_LEN>(parts.next(), "salt")?;
        let digest = decode::<DIGEST_LEN>(parts.next(), "digest")?;
        if parts.next().is_some() {
            return Err("unexpected '$' after the digest".to_owned());
        }
        Ok(PasswordHash {
            scheme,
            salt,
            digest,
        })
    }

    /// How this hash was computed.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// True if `password` hashes to this digest; the digests are compared
    /// in constant time.
    pub fn verify(&self, password: &[u8]) -> bool {
        let candidate = digest(self.scheme, &self.salt, password);
        bool::from(candidate.ct_eq(&self.digest))
    }
}

impl fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let salt = STANDARD.encode(self.salt);
        let digest = STANDARD.encode(self.digest);
        match self.scheme {
            Scheme::Sha512 => write!(f, "$6${salt}${digest}"),
            Scheme::Pbkdf2Sha512 { iterations } => write!(f, "$7${iterations}${salt}${digest}"),
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

fn digest(scheme: Scheme, salt: &[u8; SALT_LEN], password: &[u8]) -> [u8; DIGEST_LEN] {
    let mut out = [0; DIGEST_LEN];
    match scheme {
        Scheme::Sha512 => out.copy_from_slice(
            &Sha512::new()
                .chain_update(password)
                .chain_update(salt)
                .finalize(),
        ),
        Scheme::Pbkdf2Sha512 { iterations } => {
            pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out)
        }
    }
    out
}

/// Mosquitto reads the count into a C `int`.
fn parse_iterations(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n @ 1..=0x7fff_ffff) => Ok(n),
        _ => Err(format!(
            "the iteration count {text:?} is not a number from 1 to 2147483647"
        )),
    }
}

fn decode<const N: usize>(part: Option<&str>, what: &str) -> Result<[u8; N], String> {
    let part = part.ok_or_else(|| format!("the {what} is missing"))?;
    let bytes = BASE64_LENIENT
        .decode(part)
        .map_err(|_| format!("the {what} is not valid base64"))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| format!("the {what} is {} bytes, not {N}", bytes.len()))
}

/// Reads one line: `Ok(None)` for a comment or blank line, the user name
/// and hash for an entry, or why the line is unusable.
pub(super) fn parse_line(line: &str) -> Result<Option<(&str, PasswordHash)>, String> {
    if line.starts_with('#') || trim_c_space(line).is_empty() {
        return Ok(None);
    }
    let (name, hash) = line
        .split_once(':')
        .ok_or("no ':' between user name and hash")?;
    let name = trim_c_space(name);
    if name.is_empty() {
        return Err("empty user name".to_owned());
    }
    if name.len() > MAX_USER_NAME_LEN {
        return Err(format!("user name longer than {MAX_USER_NAME_LEN} bytes"));
    }
    let hash = PasswordHash::parse(trim_c_space(hash))
        .map_err(|reason| format!("user {name:?}: {reason}"))?;
    Ok(Some((name, hash)))
}

/// The outcome of [`PasswordFile::check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The user is in the file and the password matches.
    Accepted,
    /// The user name is not in the file.
    UnknownUser,
    /// The user is in the file but the client sent no password.
    MissingPassword,
    /// The user is in the file and the password does not match.
    WrongPassword,
}

impl Verdict {
    /// True only for [`Verdict::Accepted`]: every other verdict refuses
    /// the connection.
    pub fn is_accepted(self) -> bool {
        self == Verdict::Accepted
    }
}

/// A parsed password file: user names and their hashes.
#[derive(Debug, Clone, Default)]
pub struct PasswordFile {
    users: HashMap<String, PasswordHash>,
}

impl PasswordFile {
    /// Parses the text of a password file; `file_name` is only used in
    /// errors. Every unusable line is an error (see the module docs).
    pub fn parse(text: &str, file_name: &str) -> Result<PasswordFile, FileError> {
        let mut users = HashMap::new();
        let mut first_lines = HashMap::new();
        for (number, line) in numbered_lines(text, file_name)? {
            let error = |reason| FileError::new(file_name, Some(number), reason);
            let Some((name, hash)) = parse_line(line).map_err(error)? else {
                continue;
            };
            if let Some(first) = first_lines.insert(name, number) {
                return Err(error(format!(
                    "user {name:?} already has a line (line {first})"
                )));
            }
            users.insert(name.to_owned(), hash);
        }
        Ok(PasswordFile { users })
    }

    /// Decides a CONNECT that carries user name `username` and, if the
    /// client sent one, `password`. Mosquitto's semantics: a user not in
    /// the file is refused, even where anonymous access is allowed; a user
    /// in the file must send the matching password. A client without a
    /// user name is anonymous, which the file does not decide: the caller
    /// does not call this for it.
    ///
    /// An unknown user costs one hash computation like a known one, so
    /// the time taken does not tell whether a name exists.
    pub fn check(&self, username: &str, password: Option<&[u8]>) -> Verdict {
        self.check_with_decoy(username, password, decoy())
    }

    /// [`PasswordFile::check`] where an unknown user costs `decoy`'s
    /// computation: a file whose hashes take more rounds than
    /// `mosquitto_passwd`'s gives a decoy of as many.
    pub fn check_with_decoy(
        &self,
        username: &str,
        password: Option<&[u8]>,
        decoy: &PasswordHash,
    ) -> Verdict {
        match (self.users.get(username), password) {
            (Some(hash), Some(password)) if hash.verify(password) => Verdict::Accepted,
            (Some(_), Some(_)) => Verdict::WrongPassword,
            (Some(_), None) => Verdict::MissingPassword,
            (None, password) => {
                if let Some(password) = password {
                    decoy.verify(password);
                }
                Verdict::UnknownUser
            }
        }
    }

    /// True if `username` has a line.
    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    /// Number of users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True if the file names no user (every client with a user name is
    /// then refused).
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

/// A hash of the default kind that no password is checked against for
/// real: it gives unknown users the cost of a known one.
fn decoy() -> &'static PasswordHash {
    static DECOY: OnceLock<PasswordHash> = OnceLock::new();
    DECOY.get_or_init(|| {
        let scheme = Scheme::Pbkdf2Sha512 {
            iterations: DEFAULT_ITERATIONS,
        };
        PasswordHash::compute(scheme, [0; SALT_LEN], b"")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::assert_refused;

    const SALT: [u8; SALT_LEN] = *b"0123456789ab";

    fn pbkdf2(password: &str) -> PasswordHash {
        let scheme = Scheme::Pbkdf2Sha512 {
            iterations: DEFAULT_ITERATIONS,
        };
        PasswordHash::compute(scheme, SALT, password.as_bytes())
    }

    fn parse(text: &str) -> Result<PasswordFile, FileError> {
        PasswordFile::parse(text, "f")
    }

    #[test]
    fn a_pbkdf2_line_checks_its_password() {
        let file = parse(&format!("alice:{}\n", pbkdf2("secret"))).unwrap();
        assert_eq!(file.check("alice", Some(b"secret")), Verdict::Accepted);
        assert_eq!(file.check("alice", Some(b"Secret")), Verdict::WrongPassword);
        assert_eq!(file.check("alice", Some(b"")), Verdict::WrongPassword);
        assert_eq!(file.check("alice", None), Verdict::MissingPassword);
        assert_eq!(file.check("bob", Some(b"secret")), Verdict::UnknownUser);
        assert_eq!(file.check("bob", None), Verdict::UnknownUser);
        assert_eq!(file.check("Alice", Some(b"secret")), Verdict::UnknownUser);
        assert!(file.check("alice", Some(b"secret")).is_accepted());
        assert!(!file.check("alice", None).is_accepted());
    }

    #[test]
    fn a_sha512_line_is_the_digest_of_password_then_salt() {
        let expected = Sha512::new()
            .chain_update(b"pw")
            .chain_update(SALT)
            .finalize();
        let line = format!(
            "u:$6${}${}",
            STANDARD.encode(SALT),
            STANDARD.encode(expected)
        );
        let file = parse(&line).unwrap();
        assert_eq!(file.check("u", Some(b"pw")), Verdict::Accepted);
        assert_eq!(file.check("u", Some(b"pw2")), Verdict::WrongPassword);
    }

    #[test]
    fn known_pbkdf2_vector() {
        // PBKDF2-HMAC-SHA512("password", "salt", 1), first 64 bytes (RFC
        // 6070's inputs; output from an independent implementation).
        let mut out = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<Sha512>(b"password", b"salt", 1, &mut out);
        assert_eq!(&out[..8], [0x86, 0x7f, 0x70, 0xcf, 0x1a, 0xde, 0x02, 0xcf]);
    }

    #[test]
    fn display_writes_what_parse_reads() {
        for hash in [
            pbkdf2("x"),
            PasswordHash::compute(Scheme::Sha512, SALT, b"x"),
            PasswordHash::generate(b"x").unwrap(),
        ] {
            let text = hash.to_string();
            assert_eq!(PasswordHash::parse(&text).unwrap(), hash);
        }
        let text = pbkdf2("x").to_string();
        assert!(text.starts_with("$7$101$MDEyMzQ1Njc4OWFi$"), "{text}");
        // 64 bytes in padded base64, as OpenSSL writes them.
        assert_eq!(text.rsplit('$').next().unwrap().len(), 88);
        assert!(text.ends_with("=="));
        assert!(!format!("{:?}", pbkdf2("x")).contains("MDEy"));
    }

    #[test]
    fn generated_salts_differ() {
        let a = PasswordHash::generate(b"x").unwrap();
        let b = PasswordHash::generate(b"x").unwrap();
        assert_ne!(a, b);
        assert!(a.verify(b"x") && b.verify(b"x"));
        assert_eq!(
            a.scheme(),
            Scheme::Pbkdf2Sha512 {
                iterations: DEFAULT_ITERATIONS
            }
        );
    }

    #[test]
    fn missing_padding_is_accepted() {
        let text = pbkdf2("x").to_string();
        let unpadded = text.trim_end_matches('=');
        assert_eq!(PasswordHash::parse(unpadded).unwrap(), pbkdf2("x"));
    }

    #[test]
    fn every_byte_of_the_password_counts() {
        let hash = pbkdf2("secret");
        assert!(hash.verify(b"secret"));
        assert!(!hash.verify(b"secret\0more"));
    }

    #[test]
    fn comments_blank_lines_blanks_and_crlf_are_accepted() {
        let text = format!(
            "# users\n\n   \n  alice \t:  {}  \r\n#bob:nothing\nbob:{}",
            pbkdf2("a"),
            pbkdf2("b")
        );
        let file = parse(&text).unwrap();
        assert_eq!(file.len(), 2);
        assert!(file.contains("alice") && file.contains("bob"));
        assert!(file.check("alice", Some(b"a")).is_accepted());
        assert!(file.check("bob", Some(b"b")).is_accepted());
    }

    #[test]
    fn an_empty_file_refuses_every_user() {
        let file = parse("").unwrap();
        assert!(file.is_empty());
        assert_eq!(file.check("a", Some(b"")), Verdict::UnknownUser);
    }

    #[test]
    fn user_names_may_hold_spaces_and_unicode_but_not_colons() {
        let text = format!("de jong:{}\nü:{}", pbkdf2("a"), pbkdf2("b"));
        let file = parse(&text).unwrap();
        assert!(file.check("de jong", Some(b"a")).is_accepted());
        assert!(file.check("ü", Some(b"b")).is_accepted());
    }

    #[test]
    fn bad_lines_are_errors_with_their_line_number() {
        let good = pbkdf2("a").to_string();
        let salt = STANDARD.encode(SALT);
        let digest = STANDARD.encode([0u8; 64]);
        let cases: Vec<(String, &str)> = vec![
            ("alice".into(), "no ':' between user name and hash"),
            (format!(" :{good}"), "empty user name"),
            ("alice:".into(), "does not start with $7$ or $6$"),
            ("alice:plaintext".into(), "does not start with $7$ or $6$"),
            (format!("alice:$5${salt}${digest}"), "unknown hash type $5$"),
            (
                format!("alice:$7$0${salt}${digest}"),
                "iteration count \"0\"",
            ),
            (
                format!("alice:$7$2147483648${salt}${digest}"),
                "iteration count",
            ),
            (
                format!("alice:$7$x${salt}${digest}"),
                "iteration count \"x\"",
            ),
            (format!("alice:$7$101${digest}"), "salt is 64 bytes, not 12"),
            (
                format!("alice:$7$101$!!!!${digest}"),
                "salt is not valid base64",
            ),
            (format!("alice:$7$101${salt}"), "digest is missing"),
            (format!("alice:$7$101${salt}$AAAA"), "digest is 3 bytes"),
            (format!("alice:$6${salt}${digest}$x"), "after the digest"),
            (format!("{}:{good}", "n".repeat(65536)), "longer than 65535"),
        ];
        for (line, reason) in cases {
            assert_refused(parse(&format!("# header\nok:{good}\n{line}\n")), 3, reason);
        }
    }

    #[test]
    fn a_hash_error_names_the_user() {
        let message = parse("alice:$9$x$y").unwrap_err().reason;
        assert_eq!(
            message,
            "user \"alice\": unknown hash type $9$ (expected $7$ or $6$)"
        );
    }

    #[test]
    fn a_user_given_twice_is_an_error_naming_both_lines() {
        let text = format!("a:{0}\nb:{0}\n a :{0}\n", pbkdf2("x"));
        assert_refused(parse(&text), 3, "user \"a\" already has a line (line 1)");
    }

    #[test]
    fn a_comment_must_start_the_line() {
        // Mosquitto skips only a line whose first character is '#'.
        assert_refused(parse("  # note"), 1, "no ':'");
    }

    #[test]
    fn many_lines_parse() {
        let line = format!("{}\n", pbkdf2("x"));
        let text: String = (0..10_000).map(|i| format!("user{i}:{line}")).collect();
        let file = parse(&text).unwrap();
        assert_eq!(file.len(), 10_000);
        assert!(file.check("user9999", Some(b"x")).is_accepted());
    }
}

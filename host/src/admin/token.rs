//! The admin API's bearer token, and the file that keeps it.
//!
//! The token is 32 bytes from the operating system's random source,
//! written as 64 hex digits. The broker makes the file at its first start
//! and reads it at every later one; `mqhost ctl` reads it to send it.
//!
//! Whoever reads the file may load code into the broker, so the broker
//! makes it readable by its own user only (mode 0600, created with
//! `O_EXCL` so that nothing already there is reused, and `O_NOFOLLOW` so
//! that a link planted at its name is not written through), and refuses
//! to start with one that is a symbolic link, is not a regular file,
//! belongs to another user, or that others may read or write.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use subtle::ConstantTimeEq;

/// Random bytes in a new token.
pub const TOKEN_BYTES: usize = 32;
/// The fewest characters a token read from a file may have: an operator
/// may write a token of their own, but not a guessable one.
const MIN_TOKEN_LEN: usize = 32;
/// The most of a token file read: a token is one short line.
const MAX_FILE_LEN: u64 = 1024;

/// A bearer token. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    /// A new random token.
    pub fn generate() -> std::io::Result<Token> {
        let mut bytes = [0u8; TOKEN_BYTES];
        getrandom::getrandom(&mut bytes).map_err(std::io::Error::from)?;
        Ok(Token(hex(&bytes)))
    }

    /// The token as sent in `Authorization: Bearer TOKEN`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `presented` is this token, compared in constant time (the
    /// length, which is no secret, aside).
    pub fn matches(&self, presented: &[u8]) -> bool {
        bool::from(self.0.as_bytes().ct_eq(presented))
    }

    /// The token in a file's text: its first line without surrounding
    /// white space; None unless it is at least [`MIN_TOKEN_LEN`] visible
    /// ASCII characters (what an HTTP header can carry).
    fn parse(text: &str) -> Option<Token> {
        let token = text.lines().next()?.trim();
        let visible = token.bytes().all(|b| b.is_ascii_graphic());
        (visible && token.len() >= MIN_TOKEN_LEN).then(|| Token(token.to_owned()))
    }
}

/// Bytes as lower-case hex digits.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The admin users' file: `admins` beside the token file.
pub fn admins_file(token_file: &Path) -> PathBuf {
    token_file.with_file_name("admins")
}

/// What [`load_or_create`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Origin {
    /// The file was made now.
    Created,
    /// The file was there and passed the checks.
    Existing,
}

/// The broker's token: read from `path` after checking the file, or made
/// there (its directory too, mode 0700) when there is none. The error
/// names the file and what is wrong with it.
pub fn load_or_create(path: &Path) -> Result<(Token, Origin), String> {
    let name = path.display();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot make the directory of {name}: {e}"))?;
    }
    let created = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path);
    match created {
        Ok(mut file) => {
            let token = Token::generate().map_err(|e| format!("cannot make a token: {e}"))?;
            file.write_all(format!("{}\n", token.as_str()).as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {name}: {e}"))?;
            Ok((token, Origin::Created))
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            let file = open_no_follow(path)?;
            check_private(&file, path)?;
            Ok((read_token(file, path)?, Origin::Existing))
        }
        Err(e) => Err(format!("cannot create {name}: {e}")),
    }
}

/// The token in `path`, for a client (`mqhost ctl`): read without the
/// broker's checks, which another user (root) running the client would
/// not pass.
pub fn read(path: &Path) -> Result<Token, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    read_token(file, path)
}

/// Opens `path` for reading without following a final symbolic link, and
/// without waiting on a FIFO planted there.
fn open_no_follow(path: &Path) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                format!("{} is a symbolic link; refusing to use it", path.display())
            } else {
                format!("cannot read {}: {e}", path.display())
            }
        })
}

/// Refuses a file that is not a regular file, belongs to another user,
/// or that the group or others may use.
fn check_private(file: &File, path: &Path) -> Result<(), String> {
    let name = path.display();
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!("{name} is not a regular file; refusing to use it"));
    }
    let uid = effective_uid();
    if meta.uid() != uid {
        return Err(format!(
            "{name} belongs to user {} but the broker runs as {uid}; refusing to use it",
            meta.uid()
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{name} has mode {mode:03o}: others may read it; make it 0600 (chmod 600) or delete it to have a new one made"
        ));
    }
    Ok(())
}

fn read_token(file: File, path: &Path) -> Result<Token, String> {
    let mut text = String::new();
    file.take(MAX_FILE_LEN)
        .read_to_string(&mut text)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Token::parse(&text).ok_or_else(|| {
        format!(
            "{} holds no token (one line of at least {MIN_TOKEN_LEN} visible characters); delete it to have a new one made",
            path.display()
        )
    })
}

/// The user the process acts as.
#[allow(unsafe_code)]
fn effective_uid() -> u32 {
    // SAFETY: geteuid takes nothing, cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    use crate::test_support::TestDir;

    #[test]
    fn the_first_start_makes_a_private_file_and_later_ones_read_it() {
        let dir = TestDir::new("make");
        let path = dir.path().join("data/admin.token");
        let (made, origin) = load_or_create(&path).unwrap();
        assert_eq!(origin, Origin::Created);
        assert_eq!(made.as_str().len(), 2 * TOKEN_BYTES);
        assert!(made.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("data")), 0o700);
        let (read, origin) = load_or_create(&path).unwrap();
        assert_eq!((read.clone(), origin), (made.clone(), Origin::Existing));
        assert_eq!(super::read(&path).unwrap(), made);
        assert!(made.matches(made.as_str().as_bytes()));
        assert!(!made.matches(b"0000"));
        assert!(!made.matches(&made.as_str().as_bytes()[1..]));
    }

    #[test]
    fn a_file_others_may_read_a_link_or_a_short_token_is_refused() {
        let dir = TestDir::new("refuse");
        let open = dir.path().join("open.token");
        std::fs::write(&open, format!("{}\n", "a".repeat(64))).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o644)).unwrap();
        let error = load_or_create(&open).unwrap_err();
        assert!(error.contains("mode 644"), "{error}");

        let target = dir.path().join("target");
        std::fs::write(&target, "b".repeat(64)).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.token");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let error = load_or_create(&link).unwrap_err();
        assert!(error.contains("symbolic link"), "{error}");
        // A dangling link is not written through either.
        let dangling = dir.path().join("dangling.token");
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
        assert!(load_or_create(&dangling).is_err());
        assert!(!dir.path().join("nowhere").exists());

        let short = dir.path().join("short.token");
        std::fs::write(&short, "secret\n").unwrap();
        std::fs::set_permissions(&short, std::fs::Permissions::from_mode(0o600)).unwrap();
        let error = load_or_create(&short).unwrap_err();
        assert!(error.contains("holds no token"), "{error}");

        let fifo = dir.path().join("dir.token");
        std::fs::create_dir(&fifo).unwrap();
        assert!(load_or_create(&fifo).is_err());
    }

    #[test]
    fn a_token_is_the_first_line_trimmed() {
        let long = "x".repeat(40);
        assert_eq!(
            Token::parse(&format!("  {long}\r\nrest")).map(|t| t.0),
            Some(long)
        );
        assert_eq!(Token::parse(&format!("{} y", "x".repeat(40))), None);
        assert_eq!(Token::parse(""), None);
        assert_eq!(format!("{:?}", Token("secret".into())), "Token(..)");
    }
}

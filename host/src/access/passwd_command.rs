//! `mqhost passwd`: adds, updates or deletes a user in a password file as
//! `mosquitto_passwd` does, so the file serves both mqhost's
//! `auth.password_file` and Mosquitto's `password_file`.
//!
//! ```text
//! mqhost passwd [-c] FILE USER    add USER, or change its password
//! mqhost passwd -D FILE USER      delete USER
//! ```
//!
//! The password is never an argument (it would show in `ps` and shell
//! history): it is read from the terminal without echo, twice, or, when
//! standard input is not a terminal, as the first line of standard input.
//!
//! The new line is `$7$` with `mosquitto_passwd`'s default iterations and
//! salt length ([`PasswordHash::generate`]). Other lines, comments included,
//! are kept as they are. An existing file that does not parse is left
//! untouched and the error reported. `-c` creates the file, or replaces it
//! with just USER.
//!
//! The file is replaced atomically: the new text goes to a temporary file
//! beside it, created with mode 0600, flushed to disk, then renamed over
//! it, so a reader (a broker reloading) sees the old file or the new one,
//! never half of one. A symbolic link is followed: its target is replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::password_file::{parse_line, PasswordFile, PasswordHash, MAX_USER_NAME_LEN};
use super::{is_c_space, read_file, FileError};

/// Longest password, in bytes: what MQTT can carry, and
/// `mosquitto_passwd`'s limit.
const MAX_PASSWORD_LEN: usize = 65535;

/// What `mqhost passwd` is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The change to make.
    pub change: Change,
    /// The password file.
    pub file: PathBuf,
    /// The user to add, update or delete.
    pub user: String,
}

/// The change [`Request`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Add or update the user; with `create`, start a new file (`-c`).
    Set {
        /// `-c`: the file is created, or replaced, with only this user.
        create: bool,
    },
    /// Remove the user (`-D`).
    Delete,
}

/// Why `mqhost passwd` failed, and the exit status to report it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdError {
    /// What to print after `mqhost passwd: `.
    pub message: String,
    /// 2 for usage errors, 1 for failures.
    pub status: u8,
}

fn usage_error(message: impl Into<String>) -> PasswdError {
    PasswdError {
        message: format!("{}\n{}", message.into(), usage().trim_end()),
        status: 2,
    }
}

fn failure(message: impl ToString) -> PasswdError {
    PasswdError {
        message: message.to_string(),
        status: 1,
    }
}

/// The text printed by `mqhost passwd --help`.
pub fn usage() -> &'static str {
    "\
Usage:
  mqhost passwd [-c] FILE USER    add USER to FILE, or change its password
  mqhost passwd -D FILE USER      delete USER from FILE
  -c  create FILE, replacing any existing file
The password is read from the terminal, or from the first line of standard
input when it is not a terminal.
"
}

/// Parses the arguments after `passwd`.
pub fn parse_args(args: &[String]) -> Result<Request, String> {
    let mut create = false;
    let mut delete = false;
    let mut operands = Vec::new();
    for arg in args {
        match arg.as_str() {
            "-c" => create = true,
            "-D" => delete = true,
            option if option.starts_with('-') && option != "-" => {
                return Err(format!("unknown option {option:?}"))
            }
            operand => operands.push(operand),
        }
    }
    if create && delete {
        return Err("-c and -D cannot be used together".to_owned());
    }
    let [file, user] = operands[..] else {
        return Err(format!(
            "expected FILE and USER, got {} argument(s)",
            operands.len()
        ));
    };
    Ok(Request {
        change: if delete {
            Change::Delete
        } else {
            Change::Set { create }
        },
        file: PathBuf::from(file),
        user: user.to_owned(),
    })
}

/// Refuses a user name that the password file could not hold, or would
/// read back as another name: empty, longer than 65535 bytes, holding `:`
/// or a control character (as `mosquitto_passwd` refuses), starting with
/// `#` (the line would be a comment) or with white space at either end
/// (trimmed when read).
pub fn validate_user_name(user: &str) -> Result<(), String> {
    if user.is_empty() {
        return Err("the user name is empty".to_owned());
    }
    if user.len() > MAX_USER_NAME_LEN {
        return Err(format!(
            "the user name is longer than {MAX_USER_NAME_LEN} bytes"
        ));
    }
    if user.contains(':') {
        return Err("the user name must not contain ':'".to_owned());
    }
    if user.chars().any(char::is_control) {
        return Err("the user name must not contain control characters".to_owned());
    }
    if user.starts_with('#') {
        return Err("the user name must not start with '#'".to_owned());
    }
    if user.trim() != user {
        return Err("the user name must not start or end with white space".to_owned());
    }
    Ok(())
}

/// The password file `existing` with `user`'s line set to `hash`: the line
/// replaced where the user has one, else appended.
pub fn with_user(
    existing: &str,
    file_name: &str,
    user: &str,
    hash: &PasswordHash,
) -> Result<String, FileError> {
    let line = format!("{user}:{hash}\n");
    let (mut text, found) = rewrite(existing, file_name, user, &line)?;
    if !found {
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&line);
    }
    Ok(text)
}

/// The password file `existing` without `user`'s line; an error if it has
/// none.
pub fn without_user(existing: &str, file_name: &str, user: &str) -> Result<String, FileError> {
    match rewrite(existing, file_name, user, "")? {
        (text, true) => Ok(text),
        (_, false) => Err(FileError {
            file: file_name.to_owned(),
            line: None,
            reason: format!("user {user:?} is not in the file"),
        }),
    }
}

/// `existing` with `user`'s line replaced by `replacement`, and whether it
/// had one; an error if `existing` does not parse.
fn rewrite(
    existing: &str,
    file_name: &str,
    user: &str,
    replacement: &str,
) -> Result<(String, bool), FileError> {
    PasswordFile::parse(existing, file_name)?;
    let mut text = String::with_capacity(existing.len() + replacement.len());
    let mut found = false;
    for line in existing.split_inclusive('\n') {
        match parse_line(line.trim_end_matches(is_c_space)) {
            Ok(Some((name, _))) if name == user => {
                found = true;
                text.push_str(replacement);
            }
            _ => text.push_str(line),
        }
    }
    Ok((text, found))
}

/// Runs `mqhost passwd` with the arguments after `passwd`; the output to
/// print on success (empty, as `mosquitto_passwd`'s).
pub fn run(args: &[String]) -> Result<String, PasswdError> {
    if matches!(args, [arg] if arg == "-h" || arg == "--help") {
        return Ok(usage().to_owned());
    }
    let request = parse_args(args).map_err(usage_error)?;
    validate_user_name(&request.user).map_err(usage_error)?;
    let name = request.file.display().to_string();
    // Follow a link so that its target, not the link, is replaced.
    let path = fs::canonicalize(&request.file).unwrap_or_else(|_| request.file.clone());
    let existing = match request.change {
        Change::Set { create: true } => None,
        _ => Some(read_file(&path).map_err(|e| failure(named(e, &name)))?),
    };
    let text = match (request.change, existing) {
        (Change::Delete, Some(existing)) => without_user(&existing, &name, &request.user),
        (_, existing) => {
            let password = read_password().map_err(failure)?;
            let hash = PasswordHash::generate(&password)
                .map_err(|e| failure(format!("cannot make a salt: {e}")))?;
            match existing {
                Some(existing) => with_user(&existing, &name, &request.user, &hash),
                None => Ok(format!("{}:{hash}\n", request.user)),
            }
        }
    }
    .map_err(failure)?;
    write_atomically(&path, &text).map_err(|e| failure(format!("cannot write {name}: {e}")))?;
    Ok(String::new())
}

/// `error` naming the file as the user gave it rather than its resolved
/// path.
fn named(error: FileError, name: &str) -> FileError {
    FileError {
        file: name.to_owned(),
        ..error
    }
}

/// The new password: typed twice at the terminal, or the first line of
/// standard input when that is not a terminal.
pub(crate) fn read_password() -> Result<Vec<u8>, String> {
    let stdin = io::stdin();
    let password = if stdin.is_terminal() {
        let prompt = |text| {
            rpassword::prompt_password(text).map_err(|e| format!("cannot read the password: {e}"))
        };
        let first = prompt("Password: ")?;
        if prompt("Reenter password: ")? != first {
            return Err("the passwords do not match".to_owned());
        }
        first.into_bytes()
    } else {
        let mut line = Vec::new();
        stdin
            .lock()
            .take(MAX_PASSWORD_LEN as u64 + 2)
            .read_until(b'\n', &mut line)
            .map_err(|e| format!("cannot read the password: {e}"))?;
        let end = line.strip_suffix(b"\n").unwrap_or(&line);
        end.strip_suffix(b"\r").unwrap_or(end).to_vec()
    };
    check_password(&password)?;
    Ok(password)
}

fn check_password(password: &[u8]) -> Result<(), String> {
    if password.is_empty() {
        return Err("the password is empty".to_owned());
    }
    if password.len() > MAX_PASSWORD_LEN {
        return Err(format!(
            "the password is longer than {MAX_PASSWORD_LEN} bytes"
        ));
    }
    if password.contains(&0) {
        // Mosquitto would check only the bytes before it.
        return Err("the password must not contain a NUL byte".to_owned());
    }
    Ok(())
}

/// Replaces `path` with `text`: a temporary file beside it (mode 0600),
/// flushed, then renamed over it.
pub(crate) fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("not a file name"))?;
    let mut suffix = [0; 8];
    getrandom::getrandom(&mut suffix).map_err(io::Error::from)?;
    let temp = dir.join(format!(
        ".{}.{:016x}.tmp",
        name.to_string_lossy(),
        u64::from_ne_bytes(suffix)
    ));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written?;
    // The rename itself is durable once the directory is.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::password_file::{Scheme, DEFAULT_ITERATIONS, SALT_LEN};
    use std::os::unix::fs::PermissionsExt;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn hash(password: &str) -> PasswordHash {
        let scheme = Scheme::Pbkdf2Sha512 {
            iterations: DEFAULT_ITERATIONS,
        };
        PasswordHash::compute(scheme, [7; SALT_LEN], password.as_bytes())
    }

    #[test]
    fn arguments_name_the_change_the_file_and_the_user() {
        let request = |change, file: &str, user: &str| Request {
            change,
            file: PathBuf::from(file),
            user: user.to_owned(),
        };
        assert_eq!(
            parse_args(&args(&["f", "u"])),
            Ok(request(Change::Set { create: false }, "f", "u"))
        );
        assert_eq!(
            parse_args(&args(&["-c", "f", "u"])),
            Ok(request(Change::Set { create: true }, "f", "u"))
        );
        assert_eq!(
            parse_args(&args(&["-D", "f", "u"])),
            Ok(request(Change::Delete, "f", "u"))
        );
        assert!(parse_args(&args(&["-c", "-D", "f", "u"]))
            .unwrap_err()
            .contains("together"));
        assert!(parse_args(&args(&["f"])).unwrap_err().contains("got 1"));
        assert!(parse_args(&args(&["f", "u", "password"]))
            .unwrap_err()
            .contains("got 3"));
        assert_eq!(
            parse_args(&args(&["-b", "f", "u"])),
            Err("unknown option \"-b\"".to_owned())
        );
    }

    #[test]
    fn help_prints_usage_and_errors_carry_it_with_status_2() {
        assert_eq!(run(&args(&["--help"])), Ok(usage().to_owned()));
        let error = run(&args(&["only-a-file"])).unwrap_err();
        assert_eq!(error.status, 2);
        assert!(error.message.contains("Usage:"), "{}", error.message);
        assert_eq!(run(&args(&["f", "a:b"])).unwrap_err().status, 2);
    }

    #[test]
    fn user_names_the_file_cannot_hold_are_refused() {
        for user in ["alice", "de jong", "ü", "a+b", "a#"] {
            assert_eq!(validate_user_name(user), Ok(()), "{user:?}");
        }
        let too_long = "u".repeat(65536);
        for user in [
            "",
            "a:b",
            "a\tb",
            "a\nb",
            "#a",
            " a",
            "a ",
            too_long.as_str(),
        ] {
            assert!(validate_user_name(user).is_err(), "{user:.10?}");
        }
    }

    #[test]
    fn passwords_are_bounded_and_free_of_nul() {
        assert_eq!(check_password(b"x"), Ok(()));
        assert!(check_password(b"").is_err());
        assert!(check_password(b"a\0b").is_err());
        assert_eq!(check_password(&[b'x'; 65535]), Ok(()));
        assert!(check_password(&[b'x'; 65536]).is_err());
    }

    #[test]
    fn setting_a_user_replaces_its_line_and_keeps_the_others() {
        let existing = format!("# team\nalice:{}\n\nbob:{}\n", hash("a"), hash("b"));
        let text = with_user(&existing, "pw", "alice", &hash("new")).unwrap();
        assert_eq!(
            text,
            format!("# team\nalice:{}\n\nbob:{}\n", hash("new"), hash("b"))
        );
        let file = PasswordFile::parse(&text, "pw").unwrap();
        assert!(file.check("alice", Some(b"new")).is_accepted());
        assert!(file.check("bob", Some(b"b")).is_accepted());
    }

    #[test]
    fn setting_a_new_user_appends_a_line() {
        let existing = format!("alice:{}", hash("a"));
        let text = with_user(&existing, "pw", "carol", &hash("c")).unwrap();
        assert_eq!(text, format!("alice:{}\ncarol:{}\n", hash("a"), hash("c")));
        assert_eq!(
            with_user("", "pw", "carol", &hash("c")).unwrap(),
            format!("carol:{}\n", hash("c"))
        );
    }

    #[test]
    fn a_line_with_blanks_and_crlf_is_still_the_users_line() {
        let existing = format!(" alice :{}\r\nbob:{}\r\n", hash("a"), hash("b"));
        let text = with_user(&existing, "pw", "alice", &hash("n")).unwrap();
        assert_eq!(text, format!("alice:{}\nbob:{}\r\n", hash("n"), hash("b")));
    }

    #[test]
    fn deleting_removes_only_that_user() {
        let existing = format!("alice:{}\nbob:{}\n", hash("a"), hash("b"));
        let text = without_user(&existing, "pw", "alice").unwrap();
        assert_eq!(text, format!("bob:{}\n", hash("b")));
        let error = without_user(&text, "pw", "alice").unwrap_err();
        assert_eq!(error.reason, "user \"alice\" is not in the file");
    }

    #[test]
    fn a_corrupt_file_is_not_rewritten() {
        let existing = format!("alice:{}\nbroken\n", hash("a"));
        let error = with_user(&existing, "pw", "bob", &hash("b")).unwrap_err();
        assert_eq!(error.line, Some(2));
        assert!(without_user(&existing, "pw", "alice").is_err());
    }

    #[test]
    fn the_file_is_replaced_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("mqhost-passwd-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("passwords");
        fs::write(&path, "old\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        write_atomically(&path, "new\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new\n");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // No temporary file is left behind.
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_file_without_create_is_a_failure_naming_it() {
        let error = run(&args(&["/nonexistent/mqhost/pw", "u"])).unwrap_err();
        assert_eq!(error.status, 1);
        assert!(
            error.message.starts_with("/nonexistent/mqhost/pw: "),
            "{}",
            error.message
        );
    }
}

//! Admin users, who log in to the admin API with a password (for the
//! dashboard to come; scripts and `mqhost ctl` use the token), and
//! `mqhost admins`, which maintains them.
//!
//! ```text
//! mqhost admins [--config FILE] add NAME      add NAME, or change its password
//! mqhost admins [--config FILE] delete NAME   delete NAME
//! ```
//!
//! They are kept in `admins` beside the token file (`admin.token_file`),
//! one `NAME:HASH` line each: the format, the `$7$` PBKDF2-HMAC-SHA512
//! hashes, the password prompt and the atomic rewrite (mode 0600) are
//! those of `mqhost passwd`, with more rounds ([`ITERATIONS`]): a login
//! is rare, a CONNECT is not. The broker reads the file at each login, so
//! a change applies at once.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::ctl::CtlError;
use super::token::admins_file;
use crate::access::passwd_command::{
    read_password, validate_user_name, with_user, without_user, write_atomically,
};
use crate::access::password_file::{PasswordFile, PasswordHash, Scheme, SALT_LEN};
use crate::access::read_file;
use crate::config::{self, HostConfig};

/// PBKDF2 rounds of an admin's hash: OWASP's figure for
/// PBKDF2-HMAC-SHA512.
pub const ITERATIONS: u32 = 210_000;

/// Usage of `mqhost admins`.
pub const USAGE: &str = "\
Usage:
  mqhost admins [--config FILE] add NAME      add admin NAME, or change its password
  mqhost admins [--config FILE] delete NAME   delete admin NAME
The admins are kept in `admins` beside admin.token_file. The password is
read from the terminal, or from the first line of standard input when it is
not a terminal.
";

fn usage(message: impl Into<String>) -> CtlError {
    CtlError {
        message: format!("{}\n{}", message.into(), USAGE.trim_end()),
        output: String::new(),
        status: 2,
    }
}

fn failure(message: impl ToString) -> CtlError {
    CtlError {
        message: message.to_string(),
        output: String::new(),
        status: 1,
    }
}

/// Runs `mqhost admins ARGS`; returns what to print.
pub fn run(args: &[String]) -> Result<String, CtlError> {
    if matches!(args, [arg] if arg == "-h" || arg == "--help") {
        return Ok(USAGE.to_owned());
    }
    let mut config_file: Option<PathBuf> = None;
    let mut rest: Vec<&str> = Vec::new();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => {
                let file = args.next().ok_or_else(|| usage("--config needs a file"))?;
                config_file = Some(PathBuf::from(file));
            }
            other => rest.push(other),
        }
    }
    let path = config::locate(config_file.as_deref());
    let config = HostConfig::load(path.as_deref(), &[]).map_err(|e| usage(e.to_string()))?;
    let file = admins_file(&config.admin_token_file());
    match rest.as_slice() {
        ["add", name] => {
            validate_user_name(name).map_err(usage)?;
            let existing = existing_text(&file)?;
            let password = read_password().map_err(failure)?;
            let hash = PasswordHash::generate_with(ITERATIONS, &password)
                .map_err(|e| failure(format!("cannot make a salt: {e}")))?;
            let name_shown = file.display().to_string();
            let text = with_user(&existing, &name_shown, name, &hash).map_err(failure)?;
            write(&file, &text)?;
            Ok(format!("admin {name} set in {name_shown}\n"))
        }
        ["delete", name] => {
            let name_shown = file.display().to_string();
            let existing = read_file(&file).map_err(failure)?;
            let text = without_user(&existing, &name_shown, name).map_err(failure)?;
            write(&file, &text)?;
            Ok(format!("admin {name} deleted from {name_shown}\n"))
        }
        _ => Err(usage("unknown command")),
    }
}

/// The file's text, or nothing when there is no file yet.
fn existing_text(file: &Path) -> Result<String, CtlError> {
    match std::fs::symlink_metadata(file) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        _ => read_file(file).map_err(failure),
    }
}

/// Replaces the file, making its directory (mode 0700) if need be.
fn write(file: &Path, text: &str) -> Result<(), CtlError> {
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| failure(format!("cannot make {}: {e}", dir.display())))?;
    }
    write_atomically(file, text)
        .map_err(|e| failure(format!("cannot write {}: {e}", file.display())))
}

/// Whether `password` is admin `user`'s, from `file` as it is now. A
/// missing or unreadable file has no admins; an unknown user costs as
/// much as a known one, so that the time taken does not tell names.
pub fn check(file: &Path, user: &str, password: &[u8]) -> Result<bool, String> {
    let admins = if file.exists() {
        let text = read_file(file).map_err(|e| e.to_string())?;
        PasswordFile::parse(&text, &file.display().to_string()).map_err(|e| e.to_string())?
    } else {
        PasswordFile::default()
    };
    Ok(admins
        .check_with_decoy(user, Some(password), decoy())
        .is_accepted())
}

/// A hash of [`ITERATIONS`] rounds no password is checked against for
/// real.
fn decoy() -> &'static PasswordHash {
    static DECOY: OnceLock<PasswordHash> = OnceLock::new();
    DECOY.get_or_init(|| {
        let scheme = Scheme::Pbkdf2Sha512 {
            iterations: ITERATIONS,
        };
        PasswordHash::compute(scheme, [0; SALT_LEN], b"")
    })
}

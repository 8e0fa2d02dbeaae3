//! The access-control scenarios' files, the same for both brokers: a
//! password file holding the bench's user, written by `mqhost passwd`
//! (Mosquitto reads the same file), and an ACL file of [`ACL_RULES`] rules
//! in which the bench's user has one of the later blocks; and the
//! [`Login`] the loads send.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::client::{Error, Login};

/// The user every client of the access-control scenarios connects as.
pub const USER: &str = "bench";
const PASSWORD: &str = "bench-secret-7Tq2";
/// Rule lines (`user`, `topic`, `pattern`) in the ACL file.
pub const ACL_RULES: usize = 1000;
/// Device users whose blocks come before the bench's, and after it.
const DEVICES_BEFORE: usize = 200;
const DEVICES_AFTER: usize = 20;
/// Lines in a device's block: `user` and three `topic` lines.
const DEVICE_LINES: usize = 4;
/// `topic` lines in the bench's block before the one that grants its
/// topics: each uncached check walks them first.
const BENCH_MISSES: usize = 18;

/// The login the access-control loads send.
pub fn login() -> Login {
    Login {
        username: USER.to_owned(),
        password: PASSWORD.to_owned(),
        numbered: false,
    }
}

/// The same user with a password the broker must refuse.
pub fn wrong_login() -> Login {
    Login {
        username: USER.to_owned(),
        password: format!("{PASSWORD}-wrong"),
        numbered: false,
    }
}

/// Where [`write_files`] put them.
pub struct Files {
    pub password_file: PathBuf,
    pub acl_file: PathBuf,
}

/// Writes the password file (with `mqhost passwd`, the program at
/// `mqhost`) and the ACL file into `dir`.
pub fn write_files(dir: &Path, mqhost: &Path) -> Result<Files, Error> {
    let password_file = dir.join("passwd");
    let acl_file = dir.join("acl");
    let mut child = Command::new(mqhost)
        .args(["passwd", "-c"])
        .arg(&password_file)
        .arg(USER)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {} passwd: {e}", mqhost.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        writeln!(stdin, "{PASSWORD}").map_err(|e| format!("mqhost passwd: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("mqhost passwd: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "mqhost passwd failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    // Mosquitto started as root reads its files as the `mosquitto` user,
    // and `mqhost passwd` makes the file 0600; the password is the bench's.
    fs::set_permissions(&password_file, fs::Permissions::from_mode(0o644))
        .map_err(|e| format!("{}: {e}", password_file.display()))?;
    fs::write(&acl_file, acl_text()).map_err(|e| format!("{}: {e}", acl_file.display()))?;
    Ok(Files {
        password_file,
        acl_file,
    })
}

/// A device's block: it writes its telemetry and reads its commands, but
/// not its firmware channel.
fn device_block(text: &mut String, device: usize) {
    text.push_str(&format!(
        "user device-{device:04}\n\
         topic write devices/{device:04}/telemetry\n\
         topic read devices/{device:04}/cmd/#\n\
         topic deny devices/{device:04}/cmd/firmware\n"
    ));
}

/// The ACL file: device blocks, the bench's block among the later ones
/// (its grant of `bench/pair/#`, the loads' topics, last in it, after
/// refusals and grants that do not match them), more device blocks, then
/// `pattern` lines to fill [`ACL_RULES`]. The bench's own block grants
/// its topics, so the patterns are not reached for them (Mosquitto's
/// order, and mqhost's).
pub fn acl_text() -> String {
    let mut text = format!("# Written by mqhost-bench: {ACL_RULES} rules.\n");
    for device in 0..DEVICES_BEFORE {
        device_block(&mut text, device);
    }
    text.push_str(&format!("user {USER}\ntopic deny bench/pair/admin/#\n"));
    for report in 1..BENCH_MISSES {
        text.push_str(&format!("topic read bench/report/{report}/+\n"));
    }
    text.push_str("topic readwrite bench/pair/#\n");
    for device in DEVICES_BEFORE..DEVICES_BEFORE + DEVICES_AFTER {
        device_block(&mut text, device);
    }
    let bench_lines = 2 + BENCH_MISSES;
    let patterns = ACL_RULES - (DEVICES_BEFORE + DEVICES_AFTER) * DEVICE_LINES - bench_lines;
    for site in 0..patterns {
        let access = ["read", "write", "readwrite", "deny"][site % 4];
        text.push_str(&format!("pattern {access} sites/{site}/%u/%c/#\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_acl_file_has_its_rules_and_grants_the_bench_last_in_its_block() {
        let text = acl_text();
        let rules: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rules.len(), ACL_RULES);
        let block = rules
            .iter()
            .position(|l| *l == format!("user {USER}"))
            .unwrap();
        assert!(block > rules.len() / 2, "the bench's block is a later one");
        let next_user = block
            + 1
            + rules[block + 1..]
                .iter()
                .position(|l| l.starts_with("user "))
                .unwrap();
        assert_eq!(rules[next_user - 1], "topic readwrite bench/pair/#");
        assert_eq!(next_user - block, 2 + BENCH_MISSES);
    }
}

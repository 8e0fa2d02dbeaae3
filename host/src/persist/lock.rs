//! One broker per `persistence.dir`: an exclusive `flock` on `LOCK` in
//! it, held for the life of the process and released by the kernel however
//! the process ends (kill -9 included), so a stale lock never needs mending.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The lock file's name in `persistence.dir`.
pub const LOCK_FILE: &str = "LOCK";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the directory's lock, or says who holds it.
pub fn lock(dir: &Path) -> Result<DirLock, String> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    // SAFETY: flock on a descriptor this function owns; no memory is shared.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        return Err(if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            format!(
                "persistence.dir {} is in use by another running broker",
                dir.display()
            )
        } else {
            format!("cannot lock {}: {error}", path.display())
        });
    }
    Ok(DirLock { _file: file })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_dir_is_refused_until_the_first_goes() {
        let dir = std::env::temp_dir().join(format!("mqhost-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = lock(&dir).unwrap();
        let error = lock(&dir).unwrap_err();
        assert!(
            error.contains("in use by another running broker"),
            "{error}"
        );
        assert!(error.contains(&dir.display().to_string()));
        drop(first);
        lock(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

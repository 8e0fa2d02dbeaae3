//! A small tmpfs of a test's own: a disk that fills up. Mounted with
//! `mount -t tmpfs` on a fresh private directory (it takes root, as the
//! tests run in CI), unmounted when dropped, even when the test fails.

use std::path::Path;
use std::process::Command;

use crate::plugins::TempDir;

/// A mounted tmpfs; unmounted, and its directory removed, when dropped.
/// Drop anything that holds files open in it (a broker) first.
pub struct Tmpfs {
    dir: TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`mount`'s `size=`, such as `2m`). Err
    /// says why when mounting is not permitted here (not root, no
    /// `CAP_SYS_ADMIN`, no `mount`).
    pub fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = TempDir::new();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o"])
            .arg(format!("size={size},mode=0700"))
            .arg("tmpfs")
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs on {} failed: {}",
                dir.path().display(),
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs { dir })
    }

    /// Where it is mounted.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// [`mount`](Self::mount) for test `test`: None, after a SKIPPED line
    /// that says why, where mounting is not permitted, unless tmpfs tests
    /// are [`required`](Self::required) (then it panics).
    pub fn for_test(size: &str, test: &str) -> Option<Tmpfs> {
        match Tmpfs::mount(size) {
            Ok(tmpfs) => Some(tmpfs),
            Err(why) if !Tmpfs::required() => {
                eprintln!(
                    "SKIPPED {test}: {why} (run as root, or set MQHOST_REQUIRE_TMPFS to make \
                     this a failure)"
                );
                None
            }
            Err(why) => panic!("MQHOST_REQUIRE_TMPFS is set and {why}"),
        }
    }

    /// Whether tests that need a tmpfs must run (`MQHOST_REQUIRE_TMPFS`
    /// set): then one that cannot mount fails instead of skipping.
    pub fn required() -> bool {
        std::env::var_os("MQHOST_REQUIRE_TMPFS").is_some()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Something still holds a file in it: detach it now; the
            // kernel frees it once the last file closes.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

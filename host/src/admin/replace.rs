//! Replacing a file as editors save it, so that whoever reads it (the
//! plugins' watcher) sees the old text or the new, never half of one: a
//! new file beside it, written, given the old one's mode and owner,
//! flushed, then renamed over it.
//!
//! The new file is created exclusively and without following links
//! (`O_EXCL | O_NOFOLLOW`) under a random name, and a file that is a link
//! is not replaced: a link in the configuration directory would otherwise
//! let whoever placed it have the broker write where it points.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The mode of a file that did not exist: a plugin's configuration may
/// hold passwords.
const NEW_FILE_MODE: u32 = 0o600;

/// Removes the temporary file unless it was renamed.
struct Temporary(Option<PathBuf>);

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Replaces `path` with `contents`, keeping its mode and owner (a new
/// file gets mode 0600 and the broker's user). The error is one sentence
/// naming the file.
pub fn replace(path: &Path, contents: &[u8]) -> Result<(), String> {
    let name = path.display();
    let (mode, owner) = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            return Err(format!(
                "{name} is a symbolic link: edit the file it points to instead"
            ))
        }
        Ok(meta) if !meta.is_file() => return Err(format!("{name} is not a regular file")),
        Ok(meta) => (meta.mode() & 0o7777, Some((meta.uid(), meta.gid()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (NEW_FILE_MODE, None),
        Err(e) => return Err(format!("{name}: {e}")),
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .ok_or_else(|| format!("{name} names no file"))?
        .to_string_lossy();
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).map_err(|e| format!("no randomness for a file name: {e}"))?;
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let temporary = dir.join(format!(".{file_name}.{suffix}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(NEW_FILE_MODE)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(&temporary)
        .map_err(|e| format!("cannot create a file in {}: {e}", dir.display()))?;
    let mut guard = Temporary(Some(temporary.clone()));
    let written = (|| -> std::io::Result<()> {
        if let Some((uid, gid)) = owner {
            let meta = file.metadata()?;
            if (meta.uid(), meta.gid()) != (uid, gid) {
                std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
            }
        }
        // Not before the owner: a change of owner may clear set-id bits.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(contents)?;
        file.sync_all()
    })();
    written.map_err(|e| format!("cannot write the new {name}: {e}"))?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(|e| format!("cannot replace {name}: {e}"))?;
    guard.0 = None;
    // The rename itself, on disk.
    if let Ok(dir) = File::open(dir) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Dir {
            let dir =
                std::env::temp_dir().join(format!("mqhost-replace-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Dir(dir)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_file_is_replaced_keeping_its_mode_and_leaving_nothing_beside_it() {
        let dir = Dir::new("mode");
        let path = dir.0.join("p.conf");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&path, b"new text\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new text\n");
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert_eq!(entries(&dir.0), vec!["p.conf"]);
    }

    #[test]
    fn a_new_file_is_private() {
        let dir = Dir::new("new");
        let path = dir.0.join("n.conf");
        replace(&path, b"x").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o7777, 0o600);
    }

    #[test]
    fn a_link_is_not_written_through() {
        let dir = Dir::new("link");
        let target = dir.0.join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        let path = dir.0.join("l.conf");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let error = replace(&path, b"x").unwrap_err();
        assert!(error.contains("symbolic link"), "{error}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(entries(&dir.0), vec!["elsewhere", "l.conf"]);
    }

    #[test]
    fn a_failure_leaves_the_old_file_and_no_temporary_one() {
        let dir = Dir::new("fail");
        let path = dir.0.join("missing-dir").join("x.conf");
        assert!(replace(&path, b"x").is_err());
        assert_eq!(entries(&dir.0), Vec::<String>::new());
    }
}

//! Whether a plugin library may be trusted before it is loaded, judged as
//! sshd's `StrictModes` judges a user's files: the plugins directory and
//! the library must be owned by the broker's user or root, and writable
//! by neither group nor others. Whoever can change either can run code
//! in the broker, with its user, its clients' passwords and its keys.
//!
//! Parent directories are not judged: the plugins directory is opened
//! once and the library opened relative to that very directory, never
//! following a symbolic link, and the descriptor that passed the checks
//! is the one the private copy is read from, so nothing can be swapped in
//! between the check and the copy.

use std::fs::{File, Metadata};
use std::path::Path;

/// Why a file is not trusted, for a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Distrust {
    /// Owned by someone other than the broker's user and root.
    Owner { owner: u32, broker: u32 },
    /// Writable by its group, others, or both (`who` says which).
    Writable { who: &'static str, mode: u32 },
}

/// Judges one file (or directory) by its owner and mode bits.
pub fn judge(owner: u32, mode: u32, broker: u32) -> Result<(), Distrust> {
    if owner != broker && owner != 0 {
        return Err(Distrust::Owner { owner, broker });
    }
    let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
        (true, true) => "its group and others",
        (true, false) => "its group",
        (false, true) => "others",
        (false, false) => return Ok(()),
    };
    Err(Distrust::Writable {
        who,
        mode: mode & 0o7777,
    })
}

/// The sentence for a file that is not trusted: what is wrong, why it
/// matters, and the command that fixes it.
pub fn explain(what: &str, path: &Path, distrust: &Distrust) -> String {
    let path = path.display();
    match distrust {
        Distrust::Owner { owner, broker } => format!(
            "{what} {path} is owned by uid {owner}, not by the broker's user \
             (uid {broker}) or root, and its owner could change the code the broker runs \
             (chown it to uid {broker} or root)"
        ),
        Distrust::Writable { who, mode } => format!(
            "{what} {path} is writable by {who} (mode {mode:04o}), who could \
             change the code the broker runs (chmod go-w {path})"
        ),
    }
}

/// The owners and modes [`open_library`] judges, of library `path` and
/// its directory: a refused library is tried again when they change, as
/// `chmod` or `chown` mend a refusal without touching the library.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Standing {
    dir: Option<(u32, u32)>,
    library: Option<(u32, u32)>,
}

impl Standing {
    /// Library `path`'s standing now.
    #[cfg(unix)]
    pub fn of(path: &Path) -> Standing {
        use std::os::unix::fs::MetadataExt;
        let read = |meta: std::io::Result<Metadata>| meta.ok().map(|m| (m.uid(), m.mode()));
        Standing {
            dir: path.parent().and_then(|dir| read(std::fs::metadata(dir))),
            library: read(std::fs::symlink_metadata(path)),
        }
    }

    /// Without Unix owners and modes, always the same.
    #[cfg(not(unix))]
    pub fn of(_path: &Path) -> Standing {
        Standing::default()
    }
}

/// Opens library `path` for its private copy, refusing it unless the
/// plugins directory that holds it and the library itself pass [`judge`].
/// Returns the open library and what it was when checked.
#[cfg(unix)]
pub fn open_library(path: &Path) -> Result<(File, Metadata), String> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};

    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let (Some(dir_path), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{}: not a file in a directory", path.display()));
    };
    let broker = super::private::broker_uid();
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
        .open(dir_path)
        .map_err(|e| {
            format!(
                "{}: plugins directory {}: {e}",
                path.display(),
                dir_path.display()
            )
        })?;
    let dir_meta = dir.metadata().map_err(fail)?;
    judge(dir_meta.uid(), dir_meta.mode(), broker).map_err(|distrust| {
        format!(
            "{}: {}",
            path.display(),
            explain("the plugins directory", dir_path, &distrust)
        )
    })?;
    let library = super::private::open_in(&dir, name).map_err(fail)?;
    let meta = library.metadata().map_err(fail)?;
    if !meta.is_file() {
        return Err(format!("{}: not a regular file", path.display()));
    }
    judge(meta.uid(), meta.mode(), broker).map_err(|distrust| {
        format!(
            "{}: {}",
            path.display(),
            explain("the library", path, &distrust)
        )
    })?;
    Ok((library, meta))
}

/// Opens library `path` for its private copy. Without Unix owners and
/// modes there is nothing to judge.
#[cfg(not(unix))]
pub fn open_library(path: &Path) -> Result<(File, Metadata), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let library = File::open(path).map_err(fail)?;
    let meta = library.metadata().map_err(fail)?;
    Ok((library, meta))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{explain, judge, Distrust};

    #[test]
    fn the_brokers_user_or_root_may_own_what_nobody_else_may_write() {
        assert_eq!(judge(1000, 0o755, 1000), Ok(()));
        assert_eq!(judge(0, 0o755, 1000), Ok(()));
        assert_eq!(judge(0, 0o700, 0), Ok(()));
        assert_eq!(judge(1000, 0o644, 1000), Ok(()));
        // Setuid, setgid and sticky bits grant no write.
        assert_eq!(judge(1000, 0o4755, 1000), Ok(()));
        // The file-type bits of st_mode are ignored.
        assert_eq!(judge(1000, 0o040_755, 1000), Ok(()));
    }

    #[test]
    fn another_owner_is_refused_even_root_running_the_broker() {
        assert_eq!(
            judge(65534, 0o755, 0),
            Err(Distrust::Owner {
                owner: 65534,
                broker: 0
            })
        );
        assert_eq!(
            judge(1001, 0o700, 1000),
            Err(Distrust::Owner {
                owner: 1001,
                broker: 1000
            })
        );
    }

    #[test]
    fn write_for_group_or_others_is_refused_and_says_whose() {
        let who = |mode| match judge(1000, mode, 1000) {
            Err(Distrust::Writable { who, .. }) => who,
            other => panic!("{mode:o}: {other:?}"),
        };
        assert_eq!(who(0o775), "its group");
        assert_eq!(who(0o757), "others");
        assert_eq!(who(0o777), "its group and others");
        // A sticky world-writable directory still lets anyone add a file.
        assert_eq!(who(0o1777), "its group and others");
        assert_eq!(who(0o100_664), "its group");
    }

    #[test]
    fn the_explanation_names_the_file_the_mode_and_the_fix() {
        let text = explain(
            "the plugins directory",
            Path::new("/opt/plugins"),
            &judge(0, 0o040_777, 0).unwrap_err(),
        );
        assert!(
            text.contains("the plugins directory /opt/plugins is writable by its group and others (mode 0777)"),
            "{text}"
        );
        assert!(text.contains("chmod go-w /opt/plugins"), "{text}");
        let text = explain(
            "the library",
            Path::new("/opt/plugins/libx.so"),
            &judge(65534, 0o644, 0).unwrap_err(),
        );
        assert!(
            text.contains("owned by uid 65534, not by the broker's user (uid 0) or root"),
            "{text}"
        );
    }
}

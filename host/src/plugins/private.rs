//! Private copies of plugin libraries, out of other users' reach.
//!
//! A library is loaded from a copy (see [`super::library`]), and where
//! that copy lives matters: a copy at a name another local user can guess
//! can be made a symbolic link beforehand (the broker would write the
//! library over a file of its user's) or swapped between the copy and the
//! loader's `open`.
//!
//! - On Linux the copy is a memfd: memory with no name in any directory,
//!   sealed against writing, shrinking and growing before the loader
//!   opens it as `/proc/self/fd/N`. Nothing is ever on disk, so a broker
//!   that is killed leaves nothing behind.
//! - Elsewhere, or where a memfd cannot be used (no `/proc`, a kernel
//!   without sealing) or `MQHOST_PLUGIN_COPY=dir` asks for it, the copy
//!   is a file in a directory `mqhost-plugins-<pid>-<random>` in the
//!   temporary directory: created with mode 0700 by a `mkdir` that fails
//!   if the name exists, then checked to be the broker user's own. Copies
//!   are created with `O_EXCL | O_NOFOLLOW` and removed once loaded. The
//!   broker holds an `flock` on the directory while it runs: at start, a
//!   directory of that form owned by the broker's user and locked by
//!   nobody was left by a broker that was killed, and is removed.
//!
//! The system calls here (memfd_create, fcntl, flock, openat, geteuid)
//! are one of the host's `unsafe` modules.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// What private directories begin with.
const PREFIX: &str = "mqhost-plugins-";
/// The environment variable that asks for the directory store.
pub const STORE_VARIABLE: &str = "MQHOST_PLUGIN_COPY";

/// Where private copies are made, for one broker.
pub struct PrivateCopies {
    /// Whether copies are memfds (decided once, at start).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    memory: bool,
    /// Where a private directory goes (the temporary directory).
    parent: PathBuf,
    state: Mutex<DirState>,
}

#[derive(Default)]
struct DirState {
    /// The private directory, made at the first copy that needs it.
    dir: Option<PrivateDir>,
    /// Copies made so far, for unique file names.
    copies: u64,
    /// The broker is stopping: no more copies.
    closed: bool,
}

/// A private directory, locked while this broker runs.
struct PrivateDir {
    path: PathBuf,
    /// Open while the broker runs: it holds the lock.
    _lock: File,
}

/// One private copy of a library, ready for the loader at [`Copy::path`].
/// Dropped once the library is loaded (or refused).
pub struct Copy {
    path: PathBuf,
    hold: Hold,
}

enum Hold {
    /// The memfd, sealed, never closed (see the drop).
    #[cfg(target_os = "linux")]
    Memory {
        _memfd: std::mem::ManuallyDrop<File>,
    },
    /// A file in the private directory.
    File,
}

impl Copy {
    /// The path to hand the loader.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        match &self.hold {
            // The memfd stays open for the life of the process. The loader
            // knows a library by the name it was opened under and hands
            // back the library already loaded under a name asked again:
            // were this descriptor closed, the next library copied to the
            // same descriptor number would be taken for this one. The
            // memory stays mapped (libraries are never unloaded) whether
            // the descriptor is open or not.
            #[cfg(target_os = "linux")]
            Hold::Memory { .. } => {}
            // Loaded (or refused), the copy can go at once: the mapping
            // stays valid for the life of the process.
            Hold::File => {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

impl PrivateCopies {
    /// The store for this broker, from the environment: in memory where
    /// that works unless `MQHOST_PLUGIN_COPY=dir`, else in the temporary
    /// directory. Removes private directories left by killed brokers.
    pub fn from_environment() -> PrivateCopies {
        let prefer_memory = match std::env::var(STORE_VARIABLE).as_deref() {
            Ok("dir") => false,
            Ok("memfd") | Err(_) => true,
            Ok(other) => {
                tracing::warn!(
                    "{STORE_VARIABLE}={other:?} is neither memfd nor dir; memfd is used where it works"
                );
                true
            }
        };
        PrivateCopies::new(std::env::temp_dir(), prefer_memory)
    }

    /// A store making its directory, if it needs one, in `parent`.
    pub fn new(parent: PathBuf, prefer_memory: bool) -> PrivateCopies {
        for (path, result) in remove_stale(&parent) {
            match result {
                Ok(()) => tracing::info!(
                    "removed {}, the private plugin directory of a broker that was killed",
                    path.display()
                ),
                Err(e) => tracing::warn!(
                    "cannot remove {}, the private plugin directory of a broker that was killed: {e}",
                    path.display()
                ),
            }
        }
        let memory = prefer_memory && memory_works();
        if memory {
            tracing::debug!("plugin libraries are loaded from sealed in-memory copies (memfd)");
        } else {
            tracing::debug!(
                "plugin libraries are loaded from copies in a private directory in {}",
                parent.display()
            );
        }
        PrivateCopies {
            memory,
            parent,
            state: Mutex::new(DirState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, DirState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The private directory, if one was made.
    pub fn dir(&self) -> Option<PathBuf> {
        self.lock().dir.as_ref().map(|d| d.path.clone())
    }

    /// Copies what `source` holds, library `path` of the plugins directory.
    pub fn copy(&self, source: &mut File, path: &Path) -> Result<Copy, String> {
        let file_name = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| "plugin".to_owned());
        #[cfg(target_os = "linux")]
        if self.memory {
            return memory::copy(source, &file_name)
                .map_err(|e| format!("{}: cannot copy it to memory: {e}", path.display()));
        }
        let mut state = self.lock();
        if state.closed {
            return Err(format!("{}: the broker is stopping", path.display()));
        }
        let dir = match &state.dir {
            Some(dir) => dir.path.clone(),
            None => {
                let dir = PrivateDir::create(&self.parent).map_err(|e| {
                    format!(
                        "{}: cannot make a private directory in {}: {e}",
                        path.display(),
                        self.parent.display()
                    )
                })?;
                tracing::info!(
                    "plugin library copies go to private directory {}",
                    dir.path.display()
                );
                let made = dir.path.clone();
                state.dir = Some(dir);
                made
            }
        };
        let n = state.copies;
        state.copies += 1;
        drop(state);
        let copy = dir.join(format!("{n}-{file_name}"));
        copy_to_new_file(source, &copy).map_err(|e| {
            format!(
                "{}: cannot copy it to {}: {e}",
                path.display(),
                copy.display()
            )
        })?;
        Ok(Copy {
            path: copy,
            hold: Hold::File,
        })
    }

    /// Removes the private directory (broker shutdown): loaded libraries
    /// stay mapped until the process ends.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        if let Some(dir) = state.dir.take() {
            let _ = std::fs::remove_dir_all(&dir.path);
        }
    }
}

/// Copies in memory where that works, else in a private directory in the
/// directory given.
impl From<PathBuf> for PrivateCopies {
    fn from(parent: PathBuf) -> PrivateCopies {
        PrivateCopies::new(parent, true)
    }
}

/// Whether a sealed memfd can be made and opened through `/proc`.
fn memory_works() -> bool {
    #[cfg(target_os = "linux")]
    {
        let works = memory::create("mqhost-check").and_then(|(file, _)| memory::seal(&file));
        if let Err(e) = &works {
            tracing::warn!(
                "plugin libraries cannot be copied to sealed memory ({e}); a private directory is used"
            );
        }
        works.is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(target_os = "linux")]
mod memory {
    use std::ffi::CString;
    use std::fs::File;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::fs::MetadataExt;
    use std::path::PathBuf;

    use super::{Copy, Hold};

    /// The longest memfd name Linux keeps (249 bytes and the NUL).
    const NAME_MAX: usize = 249;

    /// A memfd named after the library (the name shows in
    /// `/proc/PID/maps` as `/memfd:mqhost:NAME`), and the path that opens
    /// it, checked to reach this very memfd.
    pub fn create(file_name: &str) -> io::Result<(File, PathBuf)> {
        let mut name = format!("mqhost:{file_name}");
        while name.len() > NAME_MAX {
            name.pop();
        }
        let name = CString::new(name.replace('\0', "?"))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        // SAFETY: `name` is a NUL-terminated string that outlives the
        // call; the flags are valid for memfd_create.
        let fd = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: memfd_create returned a new descriptor that nothing
        // else owns.
        let file = unsafe { File::from_raw_fd(fd) };
        let path = PathBuf::from(format!("/proc/self/fd/{fd}"));
        let through_proc = std::fs::metadata(&path)?;
        let own = file.metadata()?;
        if (through_proc.dev(), through_proc.ino()) != (own.dev(), own.ino()) {
            return Err(io::Error::other(format!(
                "{} is not the memfd: /proc is not this process's",
                path.display()
            )));
        }
        Ok((file, path))
    }

    /// Seals the memfd: no write, shrink or grow from now on, and no
    /// change to the seals.
    pub fn seal(file: &File) -> io::Result<()> {
        let seals =
            libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: F_ADD_SEALS takes an int argument and touches no memory.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Copies `source` into a new sealed memfd.
    pub fn copy(source: &mut File, file_name: &str) -> io::Result<Copy> {
        let (mut file, path) = create(file_name)?;
        io::copy(source, &mut file)?;
        seal(&file)?;
        Ok(Copy {
            path,
            hold: Hold::Memory {
                _memfd: std::mem::ManuallyDrop::new(file),
            },
        })
    }
}

/// Creates `path` for writing only if nothing, not even a dangling
/// symbolic link, has that name, and copies `source` into it; then checks
/// that `path` still names the file written, which the loader will open.
fn copy_to_new_file(source: &mut File, path: &Path) -> io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options
            .mode(0o700)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC);
    }
    // Nothing is created, or removed, unless the name was free.
    let mut file = options.open(path)?;
    if let Err(e) = io::copy(source, &mut file) {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let written = file.metadata()?;
        let named = std::fs::symlink_metadata(path)?;
        if (written.dev(), written.ino()) != (named.dev(), named.ino()) {
            return Err(io::Error::other(
                "the copy was replaced before it was loaded",
            ));
        }
    }
    Ok(())
}

/// Whether `name` is a private directory's: `mqhost-plugins-<pid>-<16
/// hexadecimal digits>`.
#[cfg(unix)]
fn is_private_dir_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return false;
    };
    let Some((pid, random)) = rest.split_once('-') else {
        return false;
    };
    !pid.is_empty()
        && pid.bytes().all(|b| b.is_ascii_digit())
        && random.len() == 16
        && random
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The name of a new private directory: the process id, for people, and
/// 64 random bits, so that no other user can create it first.
fn private_dir_name() -> io::Result<String> {
    let mut random = [0u8; 8];
    getrandom::getrandom(&mut random).map_err(io::Error::from)?;
    Ok(format!(
        "{PREFIX}{}-{:016x}",
        std::process::id(),
        u64::from_be_bytes(random)
    ))
}

#[cfg(unix)]
impl PrivateDir {
    /// Makes a new private directory in `parent`, mode 0700, checked to
    /// be the broker user's own, and locks it.
    fn create(parent: &Path) -> io::Result<PrivateDir> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};

        let mut attempts = 0;
        let path = loop {
            let path = parent.join(private_dir_name()?);
            match std::fs::DirBuilder::new().mode(0o700).create(&path) {
                Ok(()) => break path,
                // 64 random bits: taken only if someone made it first.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempts < 8 => {
                    attempts += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let dir = open_dir_nofollow(&path)?;
        let meta = dir.metadata()?;
        if meta.uid() != broker_uid() {
            return Err(io::Error::other(format!(
                "{} is owned by uid {}, not this broker's",
                path.display(),
                meta.uid()
            )));
        }
        // A umask may have taken the owner's bits too.
        dir.set_permissions(std::fs::Permissions::from_mode(0o700))?;
        try_lock(&dir)?;
        Ok(PrivateDir { path, _lock: dir })
    }
}

#[cfg(not(unix))]
impl PrivateDir {
    /// Makes a new private directory in `parent`.
    fn create(parent: &Path) -> io::Result<PrivateDir> {
        let path = parent.join(private_dir_name()?);
        std::fs::create_dir(&path)?;
        let lock = File::open(&path)?;
        Ok(PrivateDir { path, _lock: lock })
    }
}

/// Private directories left in `parent` by brokers that were killed, and
/// what removing each did. A directory counts only if its name has the
/// private form, it is a directory and not a symbolic link, it is owned
/// by this broker's user with no access for anyone else, and nobody holds
/// its lock (a running broker does, whatever its process id namespace).
#[cfg(unix)]
fn remove_stale(parent: &Path) -> Vec<(PathBuf, io::Result<()>)> {
    use std::os::unix::fs::MetadataExt;

    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_str().is_some_and(is_private_dir_name) {
            continue;
        }
        let path = entry.path();
        let Ok(dir) = open_dir_nofollow(&path) else {
            continue;
        };
        let Ok(meta) = dir.metadata() else {
            continue;
        };
        if !meta.is_dir() || meta.uid() != broker_uid() || meta.mode() & 0o077 != 0 {
            continue;
        }
        if try_lock(&dir).is_err() {
            continue;
        }
        // Removed while locked, so no broker starting now takes it.
        let result = std::fs::remove_dir_all(&path);
        removed.push((path, result));
    }
    removed
}

#[cfg(not(unix))]
fn remove_stale(_parent: &Path) -> Vec<(PathBuf, io::Result<()>)> {
    Vec::new()
}

/// Opens directory `path` itself, refusing a symbolic link.
#[cfg(unix)]
fn open_dir_nofollow(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

/// Takes an exclusive lock on `file` without waiting. The lock belongs to
/// the open file and goes when it is closed, or when the process dies.
#[cfg(unix)]
fn try_lock(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: flock takes a descriptor we own and an int; no memory.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The broker's effective user id, the owner its files must have.
#[cfg(unix)]
pub fn broker_uid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Opens `name` in directory `dir` for reading, refusing a symbolic link
/// (and never waiting on a FIFO put where a library was).
#[cfg(unix)]
pub fn open_in(dir: &File, name: &std::ffi::OsStr) -> io::Result<File> {
    use std::ffi::CString;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;

    let name = CString::new(name.as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is an
    // open descriptor.
    let fd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat returned a new descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd) })
}

#[cfg(all(test, unix))]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    use std::path::{Path, PathBuf};

    use super::*;

    use crate::test_support::TestDir;

    fn source(scratch: &TestDir, bytes: &[u8]) -> File {
        let path = scratch.path().join("libsource.so");
        std::fs::write(&path, bytes).unwrap();
        File::open(path).unwrap()
    }

    #[test]
    fn private_directory_names_are_told_from_others() {
        assert!(is_private_dir_name("mqhost-plugins-42-0123456789abcdef"));
        let made = private_dir_name().unwrap();
        assert!(is_private_dir_name(&made), "{made}");
        assert_ne!(made, private_dir_name().unwrap());
        for other in [
            // The predictable name of earlier versions.
            "mqhost-plugins-42",
            "mqhost-plugins--0123456789abcdef",
            "mqhost-plugins-42-0123456789ABCDEF",
            "mqhost-plugins-42-0123456789abcde",
            "mqhost-plugins-4x-0123456789abcdef",
            "mqhost-test-42-0",
        ] {
            assert!(!is_private_dir_name(other), "{other}");
        }
    }

    #[test]
    fn directory_copies_live_in_a_new_0700_directory_and_go_once_dropped() {
        let scratch = TestDir::new("private");
        let copies = PrivateCopies::new(scratch.path().to_path_buf(), false);
        let copy = copies
            .copy(&mut source(&scratch, b"code"), Path::new("/p/libx.so"))
            .unwrap();
        let dir = copies.dir().expect("a private directory");
        assert_eq!(dir.parent(), Some(scratch.path()));
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        assert!(meta.is_dir());
        assert_eq!(meta.mode() & 0o7777, 0o700);
        assert_eq!(meta.uid(), broker_uid());
        assert_eq!(copy.path().parent(), Some(dir.as_path()));
        assert_eq!(std::fs::read(copy.path()).unwrap(), b"code");
        let path = copy.path().to_path_buf();
        drop(copy);
        assert!(!path.exists());
        copies.close();
        assert!(!dir.exists());
    }

    #[test]
    fn a_copy_never_follows_or_reuses_a_name_that_exists() {
        let scratch = TestDir::new("private");
        let victim = scratch.path().join("victim");
        std::fs::write(&victim, b"precious").unwrap();
        let link = scratch.path().join("copy.so");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let error = copy_to_new_file(&mut source(&scratch, b"evil"), &link).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists, "{error}");
        // A dangling link is refused too.
        let dangling = scratch.path().join("dangling.so");
        std::os::unix::fs::symlink(scratch.path().join("nothing"), &dangling).unwrap();
        assert!(copy_to_new_file(&mut source(&scratch, b"evil"), &dangling).is_err());
        assert!(!scratch.path().join("nothing").exists());
        // And a plain file.
        let plain = scratch.path().join("plain.so");
        std::fs::write(&plain, b"old").unwrap();
        assert!(copy_to_new_file(&mut source(&scratch, b"evil"), &plain).is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
        assert_eq!(std::fs::read(&plain).unwrap(), b"old");
        // What was there stays: a refused name is not ours to remove.
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert!(std::fs::symlink_metadata(&dangling).unwrap().is_symlink());
    }

    #[test]
    fn stale_directories_of_killed_brokers_go_and_nothing_else() {
        let scratch = TestDir::new("private");
        // A running broker's: locked. (Made first, as a broker starting
        // removes stale directories itself.)
        let running = PrivateCopies::new(scratch.path().to_path_buf(), false);
        let copy = running
            .copy(&mut source(&scratch, b"code"), Path::new("/p/liby.so"))
            .unwrap();
        let live = running.dir().unwrap();
        let named = |suffix: &str| scratch.path().join(format!("mqhost-plugins-1-{suffix}"));
        // Left by a broker that was killed mid-copy.
        let stale = named("000000000000000a");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&stale)
            .unwrap();
        std::fs::write(stale.join("0-libx.so"), b"x").unwrap();
        // Not private: someone else's or made some other way.
        let open = named("000000000000000b");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&open)
            .unwrap();
        // A link with the right name, to a directory that must survive.
        let target = scratch.path().join("target");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("keep"), b"k").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = named("000000000000000c");
        std::os::unix::fs::symlink(&target, &link).unwrap();

        let removed: Vec<PathBuf> = remove_stale(scratch.path())
            .into_iter()
            .map(|(path, result)| {
                result.unwrap();
                path
            })
            .collect();
        assert_eq!(removed, std::slice::from_ref(&stale));
        assert!(!stale.exists());
        assert!(open.exists());
        assert!(std::fs::symlink_metadata(&link).is_ok());
        assert!(target.join("keep").exists());
        assert!(copy.path().exists());
        assert!(live.exists());
        drop(copy);
        running.close();
        // A broker starting removes them itself.
        let stale = named("000000000000000d");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&stale)
            .unwrap();
        let _starting = PrivateCopies::new(scratch.path().to_path_buf(), false);
        assert!(!stale.exists());
    }

    #[test]
    fn memory_copies_hold_the_bytes_and_are_sealed() {
        if !memory_works() {
            eprintln!("no sealed memfd here: skipped");
            return;
        }
        let scratch = TestDir::new("private");
        let copies = PrivateCopies::new(scratch.path().to_path_buf(), true);
        let copy = copies
            .copy(&mut source(&scratch, b"library"), Path::new("/p/libz.so"))
            .unwrap();
        assert!(
            copy.path().starts_with("/proc/self/fd"),
            "{:?}",
            copy.path()
        );
        let mut text = Vec::new();
        File::open(copy.path())
            .unwrap()
            .read_to_end(&mut text)
            .unwrap();
        assert_eq!(text, b"library");
        // Sealed: opened for writing, it cannot be written.
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open(copy.path())
            .expect("a memfd opens for writing");
        assert!(writer.write_all(b"evil").is_err());
        assert!(writer.set_len(0).is_err());
        assert!(writer.set_len(100).is_err());
        // Nothing on disk.
        assert_eq!(copies.dir(), None);
        assert_eq!(std::fs::read_dir(scratch.path()).unwrap().count(), 1);
    }
}

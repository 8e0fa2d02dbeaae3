//! Waiting for files to change, for reloads without a restart: the
//! password and ACL files, the plugin directories, TLS certificates.
//!
//! The directories are watched, not the files: editors and certificate
//! tools write a temporary file and rename it over the old one (or swap a
//! symlink), which a watch on the old file would miss. A burst of events
//! (a save, a copy of a large library, a certificate and its key renamed
//! one after the other) is debounced into one wake-up. A periodic wake-up
//! covers directories that do not exist yet and file systems that drop
//! events, so the caller compares what it reads with what it has.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::Notify;
use tokio::time::{timeout, Instant};

/// Quiet time after the last event before waking up.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// The longest a burst is waited out: a file rewritten without pause must
/// not hold reloads back for ever.
const MAX_SETTLE: Duration = Duration::from_secs(1);

/// Directories watched for changes; see [`DirWatch::changed`].
pub struct DirWatch {
    /// What the files are, for log lines ("plugin changes").
    what: String,
    /// Each directory and whether it is watched yet.
    dirs: Vec<(PathBuf, bool)>,
    /// Dropping it stops the events.
    watcher: Option<RecommendedWatcher>,
    /// One stored wake-up at most, however many events arrive.
    events: Arc<Notify>,
    rescan: Duration,
}

impl DirWatch {
    /// Watches `dirs` (not their subdirectories) for changes to `what`;
    /// without events, [`DirWatch::changed`] returns every `rescan`.
    pub fn new(what: &str, dirs: impl IntoIterator<Item = PathBuf>, rescan: Duration) -> DirWatch {
        let events = Arc::new(Notify::new());
        let notify = Arc::clone(&events);
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if event.is_ok() {
                notify.notify_one();
            }
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(error) => {
                tracing::warn!(%error, "cannot watch for {what}; rereading every {}s", rescan.as_secs());
                None
            }
        };
        let mut dirs: Vec<(PathBuf, bool)> = dirs.into_iter().map(|d| (d, false)).collect();
        dirs.sort();
        dirs.dedup();
        let mut watch = DirWatch {
            what: what.to_owned(),
            dirs,
            watcher,
            events,
            rescan,
        };
        watch.watch_new_dirs();
        watch
    }

    /// Waits until something changed in a directory and the burst has
    /// settled, or `rescan` has passed; then watches any directory that
    /// has appeared meanwhile, so that what the caller reads next is
    /// covered by the watch.
    pub async fn changed(&mut self) {
        if timeout(self.rescan, self.events.notified()).await.is_ok() {
            let give_up = Instant::now() + MAX_SETTLE;
            while Instant::now() < give_up
                && timeout(DEBOUNCE, self.events.notified()).await.is_ok()
            {}
        }
        self.watch_new_dirs();
    }

    fn watch_new_dirs(&mut self) {
        let Some(watcher) = self.watcher.as_mut() else {
            return;
        };
        for (dir, watched) in self.dirs.iter_mut().filter(|(_, w)| !*w) {
            if !dir.is_dir() {
                continue;
            }
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    tracing::info!("watching {} for {}", dir.display(), self.what);
                    *watched = true;
                }
                Err(error) => tracing::warn!(%error, "cannot watch {}", dir.display()),
            }
        }
    }
}

/// The directory a file is in, `.` for a bare file name.
pub fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

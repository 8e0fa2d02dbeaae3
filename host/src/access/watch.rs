//! Reloading the password and ACL files when they change, without a
//! restart.
//!
//! As for plugins ([`crate::plugins::watch`]), the directories are watched,
//! not the files, so that an editor's write-and-rename is seen; a burst of
//! events is debounced into one reload, and a slow periodic reload covers
//! a file system that drops events.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::broker::Broker;

/// Quiet time after the last event before reloading.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Reload interval without events.
const RESCAN: Duration = Duration::from_secs(5);

/// Runs forever when the broker has access files; returns at once if not.
pub async fn run(broker: Arc<Broker>) {
    let dirs: BTreeSet<PathBuf> = broker
        .access
        .paths()
        .iter()
        .map(|path| match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        })
        .collect();
    if dirs.is_empty() {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    });
    // Kept alive for the loop below: dropping it stops the events.
    let _watcher = match watcher {
        Ok(mut watcher) => {
            for dir in &dirs {
                if let Err(error) = watcher.watch(dir, RecursiveMode::NonRecursive) {
                    tracing::warn!(%error, "cannot watch {} for access file changes", dir.display());
                }
            }
            Some(watcher)
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch access files; rereading them every {}s", RESCAN.as_secs());
            None
        }
    };
    loop {
        if tokio::time::timeout(RESCAN, rx.recv()).await.is_ok() {
            while tokio::time::timeout(DEBOUNCE, rx.recv()).await.is_ok() {}
        }
        let broker = Arc::clone(&broker);
        // Hashing nothing, but reading files: not on a broker thread.
        let _ = tokio::task::spawn_blocking(move || broker.access.reload()).await;
    }
}

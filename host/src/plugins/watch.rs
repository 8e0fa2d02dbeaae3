//! Watching the plugin directories and reconciling after changes.
//!
//! The directories are watched, not the files: editors save by writing a
//! temporary file and renaming it over the old one, which a watch on the
//! old file would miss. Bursts of events (a save, a copy of a large
//! library) are debounced into one reconcile. A slow periodic rescan covers
//! directories that do not exist yet and any event a file system drops.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use super::manager::PluginManager;

/// Quiet time after the last event before reconciling.
const DEBOUNCE: Duration = Duration::from_millis(150);
/// Rescan interval without events.
const RESCAN: Duration = Duration::from_secs(5);

/// Runs forever: reconciles at start, after every burst of changes in
/// either directory, and every [`RESCAN`].
pub async fn run(manager: Arc<PluginManager>) {
    let (tx, mut rx) = mpsc::unbounded_channel::<()>();
    let mut watcher = make_watcher(tx);
    let mut watching = [false, false];
    loop {
        if let Some(watcher) = watcher.as_mut() {
            for (i, dir) in [manager.dir(), manager.etc_dir()].into_iter().enumerate() {
                if !watching[i] {
                    watching[i] = watch(watcher, dir);
                }
            }
        }
        reconcile(&manager).await;
        // Wait for a change (or the rescan), then for the burst to settle.
        if tokio::time::timeout(RESCAN, rx.recv()).await.is_ok() {
            while tokio::time::timeout(DEBOUNCE, rx.recv()).await.is_ok() {}
        }
    }
}

async fn reconcile(manager: &Arc<PluginManager>) {
    let manager = Arc::clone(manager);
    // Starting and draining plugins may block: not on a broker thread.
    let _ = tokio::task::spawn_blocking(move || manager.reconcile()).await;
}

fn make_watcher(tx: mpsc::UnboundedSender<()>) -> Option<RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            let _ = tx.send(());
        }
    });
    match watcher {
        Ok(watcher) => Some(watcher),
        Err(error) => {
            tracing::warn!(%error, "cannot watch plugin directories; rescanning every {}s", RESCAN.as_secs());
            None
        }
    }
}

fn watch(watcher: &mut RecommendedWatcher, dir: &Path) -> bool {
    if !dir.is_dir() {
        return false;
    }
    match watcher.watch(dir, RecursiveMode::NonRecursive) {
        Ok(()) => {
            tracing::info!("watching {} for plugin changes", dir.display());
            true
        }
        Err(error) => {
            tracing::warn!(%error, "cannot watch {}", dir.display());
            false
        }
    }
}

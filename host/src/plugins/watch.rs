//! Watching the plugin directories and reconciling after changes
//! ([`crate::dir_watch`] says how changes are seen; a directory that does
//! not exist yet is watched once it does).

use std::sync::Arc;
use std::time::Duration;

use super::manager::PluginManager;
use crate::dir_watch::DirWatch;

/// Rescan interval without events.
const RESCAN: Duration = Duration::from_secs(5);

/// Runs forever: reconciles at start, after every burst of changes in
/// either directory, and every [`RESCAN`].
pub async fn run(manager: Arc<PluginManager>) {
    let dirs = [manager.dir(), manager.etc_dir()].map(|d| d.to_path_buf());
    let mut watch = DirWatch::new("plugin changes", dirs, RESCAN);
    loop {
        reconcile(&manager).await;
        watch.changed().await;
    }
}

async fn reconcile(manager: &Arc<PluginManager>) {
    let manager = Arc::clone(manager);
    // Starting and draining plugins may block: not on a broker thread.
    let _ = tokio::task::spawn_blocking(move || manager.reconcile()).await;
}

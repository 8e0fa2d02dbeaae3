//! Reloading the password and ACL files when they change, without a
//! restart ([`crate::dir_watch`] says how changes are seen).

use std::sync::Arc;
use std::time::Duration;

use crate::broker::Broker;
use crate::dir_watch::{parent_dir, DirWatch};

/// Reload interval without events.
const RESCAN: Duration = Duration::from_secs(5);

/// Runs forever when the broker has access files; returns at once if not.
pub async fn run(broker: Arc<Broker>) {
    let paths = broker.access.paths();
    if paths.is_empty() {
        return;
    }
    let dirs = paths.iter().map(|path| parent_dir(path));
    let mut watch = DirWatch::new("access file changes", dirs, RESCAN);
    loop {
        watch.changed().await;
        let broker = Arc::clone(&broker);
        // Hashing nothing, but reading files: not on a broker thread.
        let _ = tokio::task::spawn_blocking(move || broker.access.reload()).await;
    }
}

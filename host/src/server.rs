//! Running the broker: plugins, listener, `$SYS`, and an orderly stop on
//! SIGINT or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use crate::access::decider::Decider;
use crate::broker::session::SessionEvent;
use crate::broker::{sys, Broker};
use crate::config::HostConfig;
use crate::listen;
use crate::persist::Store;
use crate::plugins::private::PrivateCopies;
use crate::plugins::{watch, PluginManager};

/// How long connected clients get to receive their DISCONNECT at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Runs the broker, deciding access with `access` (its files read), until
/// a stop signal arrives.
pub async fn run(config: HostConfig, access: Decider) -> std::io::Result<()> {
    let sys_interval = config.sys.interval;
    survive_file_size_limit();
    let (store, image) = open_store(&config)?;
    let broker = Broker::with_store(config, access, store);
    if let Some(image) = image {
        let retained = image.retained.len();
        let sessions = crate::broker::session::restore(&broker, image);
        if let Some(store) = broker.store.as_deref() {
            tracing::info!(
                dir = %store.dir().display(),
                sessions,
                retained,
                records = store.report().records,
                "store opened"
            );
        }
    }
    tokio::spawn(crate::access::watch::run(Arc::clone(&broker)));
    let plugins = PluginManager::new(Arc::clone(&broker), PrivateCopies::from_environment());
    // Plugins load before the listener opens, so they see every client.
    {
        let plugins = Arc::clone(&plugins);
        let _ = tokio::task::spawn_blocking(move || plugins.reconcile()).await;
    }
    let missing = plugins.required_failures();
    if !missing.is_empty() {
        let _ = tokio::task::spawn_blocking(move || plugins.stop_all()).await;
        return Err(std::io::Error::other(format!(
            "not starting: a plugin with plugin.required = on did not start: {}",
            missing.join("; ")
        )));
    }
    tokio::spawn(watch::run(Arc::clone(&plugins)));
    // Bound, not yet accepting, so the admin API can show them.
    let bound = listen::bind_all(&broker.config.listener.listeners).await?;
    let listeners = bound.iter().map(listen::Bound::status).collect();
    crate::admin::serve::start(&broker.config, &broker, &plugins, listeners).await?;
    let addresses = bound
        .iter()
        .map(|l| Ok((l.spec().id(), l.local_addr()?)))
        .collect::<std::io::Result<Vec<_>>>()?;
    broker.access.log_anonymous_policy(&addresses);
    tracing::info!("accepting connections on {} listeners", bound.len());
    let accept = listen::serve_all(&broker, bound);
    tokio::spawn(sys::run(Arc::clone(&broker), sys_interval));

    stop_signal().await;
    tracing::info!("stopping");
    broker.begin_stop();
    for task in accept {
        task.abort();
    }
    for session in broker.registry.all() {
        let _ = session.send(SessionEvent::Shutdown);
    }
    tokio::time::sleep(SHUTDOWN_GRACE).await;
    let _ = tokio::task::spawn_blocking(move || plugins.stop_all()).await;
    if let Some(store) = broker.store.clone() {
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
    Ok(())
}

/// Opens `persistence.dir` when `persistence = on`: the store and the
/// state it found. A directory another broker holds, or a log this
/// broker cannot read, stops the start.
fn open_store(
    config: &HostConfig,
) -> std::io::Result<(Option<Arc<Store>>, Option<crate::persist::Image>)> {
    if !config.persistence.enabled {
        return Ok((None, None));
    }
    let (store, image) = Store::open(&config.persistence_dir(), config.persistence.sync)
        .map_err(std::io::Error::other)?;
    Ok((Some(Arc::new(store)), Some(image)))
}

/// A write past the file-size limit (`ulimit -f`, systemd's
/// `LimitFSIZE`) raises SIGXFSZ, which ends the process unless handled:
/// handled (and otherwise ignored), the write fails with EFBIG instead,
/// which the store counts and retries like a full disk.
fn survive_file_size_limit() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // The handler stays for the process's life once registered.
        if let Err(error) = signal(SignalKind::from_raw(libc::SIGXFSZ)) {
            tracing::warn!(%error, "cannot handle SIGXFSZ: a write past the file-size limit would end the broker");
        }
    }
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

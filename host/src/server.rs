//! Running the broker: listener, `$SYS`, and an orderly stop on SIGINT or
//! SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use crate::broker::session::SessionEvent;
use crate::broker::{listener, sys, Broker};
use crate::config::HostConfig;

/// How long connected clients get to receive their DISCONNECT at shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// Runs the broker until a stop signal arrives.
pub async fn run(config: HostConfig) -> std::io::Result<()> {
    let sys_interval = config.sys.interval;
    let address = config.listener.tcp_default;
    let broker = Broker::new(config);
    let tcp = listener::bind("default", address).await?;
    let accept = tokio::spawn(listener::serve(Arc::clone(&broker), tcp));
    tokio::spawn(sys::run(Arc::clone(&broker), sys_interval));

    stop_signal().await;
    tracing::info!("stopping");
    accept.abort();
    for session in broker.registry.all() {
        let _ = session.send(SessionEvent::Shutdown);
    }
    tokio::time::sleep(SHUTDOWN_GRACE).await;
    Ok(())
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

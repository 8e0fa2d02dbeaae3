//! One connection shared by concurrent requests, made on first use and
//! made again once a request found it broken.

use std::sync::atomic::{AtomicU64, Ordering};

use redis::RedisResult;
use tokio::sync::Mutex;

use crate::connect::{connect, Conn};
use crate::settings::LinkConfig;

/// A shared connection, reconnected on demand. Each connection made has a
/// generation, so that a request that failed drops the connection it
/// used and not the one a concurrent request has just made.
#[derive(Default)]
pub struct ConnCell {
    cell: Mutex<Option<(u64, Conn)>>,
    generation: AtomicU64,
}

impl ConnCell {
    /// A cell without a connection yet.
    pub fn new() -> ConnCell {
        ConnCell::default()
    }

    /// The connection and its generation, connecting first if there is
    /// none; `link` gives the settings of the moment and is called only
    /// then. Concurrent callers wait for one connection attempt.
    pub async fn get(&self, link: impl FnOnce() -> LinkConfig) -> RedisResult<(u64, Conn)> {
        let mut cell = self.cell.lock().await;
        if let Some((generation, conn)) = cell.as_ref() {
            return Ok((*generation, conn.clone()));
        }
        let (conn, _) = connect(&link()).await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        *cell = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// Drops the connection if it is still `generation`, or whatever it
    /// is with None (the settings changed): the next [`ConnCell::get`]
    /// connects afresh.
    pub async fn invalidate(&self, generation: Option<u64>) {
        let mut cell = self.cell.lock().await;
        if generation.is_none() || cell.as_ref().map(|c| c.0) == generation {
            *cell = None;
        }
    }
}

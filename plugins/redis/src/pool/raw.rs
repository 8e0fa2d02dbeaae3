//! The writer's own connection to one Redis server (a single pool's, or
//! the master a sentinel names): a TCP stream that takes a batch of
//! commands already encoded in RESP and reads back exactly as many replies,
//! keeping only the errors; over TLS when the pool says `ssl = on` (the
//! stream is redis-link's [`open_stream_marked`]), waking for replies
//! only once the bytes still owed can be there (its [`LowWater`]). The `redis` crate still finds
//! the master (sentinel), and serves lookups, the channel and clusters;
//! this is the hot path only (see [`crate::resp`]).

use std::io;

use mqhost_redis_link::{open_stream_marked, LowWater, Stream, CONNECT_TIMEOUT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::PoolConfig;
use crate::resp::{CommandSink, ReplyScanner, RespBuf};

/// Read buffer growth step.
const READ_CHUNK: usize = 64 * 1024;
/// The fewest bytes a reply takes: `:0\r\n` in RESP2, and `_\r\n` in
/// RESP3 should a raw command switch the connection to it.
const MIN_REPLY_BYTES: usize = 3;
/// The highest low-water mark asked for: far below any socket's receive
/// buffer, and enough that a batch wakes its reader a few times at most.
const MAX_LOW_WATER: usize = 64 * 1024;

/// A connection carrying pipelined batches.
pub(crate) struct RawConn {
    stream: Box<dyn Stream>,
    /// The plain stream's receive low-water mark (none over TLS).
    low_water: Option<LowWater>,
    /// Replies read but not yet scanned.
    input: Vec<u8>,
    /// `host:port`, for log lines.
    pub(crate) peer: String,
}

impl RawConn {
    /// Connects to `host:port` and logs in as the pool says (`AUTH`,
    /// `SELECT`).
    pub(crate) async fn connect(host: &str, port: u16, pool: &PoolConfig) -> io::Result<RawConn> {
        let (stream, low_water) = open_stream_marked(&pool.link, host, port).await?;
        let mut conn = RawConn {
            stream,
            low_water,
            input: Vec::with_capacity(READ_CHUNK),
            peer: format!("{host}:{port}"),
        };
        let mut hello = RespBuf::new();
        if let Some(password) = &pool.link.password {
            match &pool.link.username {
                Some(username) => {
                    hello.begin(3);
                    hello.arg(b"AUTH");
                    hello.arg(username.as_bytes());
                }
                None => {
                    hello.begin(2);
                    hello.arg(b"AUTH");
                }
            }
            hello.arg(password.0.as_bytes());
        }
        if pool.link.database != 0 {
            hello.begin(2);
            hello.arg(b"SELECT");
            hello.arg_u64(u64::from(pool.link.database));
        }
        if !hello.is_empty() {
            let replies = tokio::time::timeout(CONNECT_TIMEOUT, conn.send(&hello))
                .await
                .map_err(|_| {
                    io::Error::new(io::ErrorKind::TimedOut, "no answer to AUTH/SELECT")
                })??;
            if let Some(error) = replies.errors.first() {
                // The reply never repeats the password; the command name
                // says which step failed.
                return Err(io::Error::new(
                    io::ErrorKind::PermissionDenied,
                    format!(
                        "{} refused: {} {}",
                        hello.command_name(error.index),
                        error.code,
                        error.detail
                    ),
                ));
            }
        }
        Ok(conn)
    }

    /// Writes `batch` and reads its replies, all of them: a slow server is
    /// waited for. An `Err` means the connection is gone; which commands
    /// were applied is unknown.
    pub(crate) async fn send(&mut self, batch: &RespBuf) -> io::Result<ReplyScanner> {
        self.write(batch).await?;
        self.replies(batch).await
    }

    /// Writes `batch`; [`RawConn::replies`] reads what Redis answers.
    pub(crate) async fn write(&mut self, batch: &RespBuf) -> io::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.stream.write_all(batch.bytes()).await
    }

    /// Reads the replies to `batch`, just written, all of them.
    pub(crate) async fn replies(&mut self, batch: &RespBuf) -> io::Result<ReplyScanner> {
        let mut scanner = ReplyScanner::default();
        if batch.is_empty() {
            return Ok(scanner);
        }
        loop {
            let used = scanner
                .scan(&self.input)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
            if used == self.input.len() {
                self.input.clear();
            } else {
                self.input.drain(..used);
            }
            if scanner.done >= batch.len() {
                return Ok(scanner);
            }
            if let Some(mark) = &mut self.low_water {
                // Woken once the replies still owed can all be there: the
                // bytes they take at least, less those already read.
                let owed = (batch.len() - scanner.done) * MIN_REPLY_BYTES;
                mark.set(owed.saturating_sub(self.input.len()).min(MAX_LOW_WATER))?;
            }
            self.input.reserve(READ_CHUNK);
            if self.stream.read_buf(&mut self.input).await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "Redis closed the connection",
                ));
            }
        }
    }
}

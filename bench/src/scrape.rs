//! A Prometheus scraper's load on the subject: `GET /metrics` with the
//! admin token, at once and then every second, on a thread of its own
//! while the scenario's load runs. Each answer must be 200 and carry the
//! broker's figures, or the round fails.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::client::Error;

/// How often the scraper asks.
pub const EVERY: Duration = Duration::from_secs(1);

/// Where and how to scrape.
#[derive(Debug, Clone)]
pub struct Target {
    pub admin: SocketAddr,
    pub token: String,
}

/// What the scrapes of one round came to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scraped {
    pub scrapes: u64,
    pub bytes: u64,
    /// The slowest answer.
    pub slowest: Duration,
}

/// A scraper running until [`Scraper::stop`].
pub struct Scraper {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<Scraped, Error>>,
}

impl Scraper {
    /// Scrapes `target` now and every [`EVERY`] until stopped.
    pub fn start(target: Target) -> Scraper {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut scraped = Scraped::default();
            let mut next = Instant::now();
            while !stopped.load(Ordering::Relaxed) {
                if Instant::now() >= next {
                    let started = Instant::now();
                    let bytes = scrape(&target)?;
                    scraped.scrapes += 1;
                    scraped.bytes += bytes as u64;
                    scraped.slowest = scraped.slowest.max(started.elapsed());
                    next += EVERY;
                }
                // Short sleeps, so that stopping does not wait a second.
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(scraped)
        });
        Scraper { stop, thread }
    }

    /// Stops scraping: what the scrapes came to, or the first failure.
    pub fn stop(self) -> Result<Scraped, Error> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| "the scraper thread panicked".to_owned())?
    }
}

/// One `GET /metrics`: the body's length.
fn scrape(target: &Target) -> Result<usize, Error> {
    let mut stream = TcpStream::connect_timeout(&target.admin, Duration::from_secs(5))
        .map_err(|e| format!("scrape: connect to {}: {e}", target.admin))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        target.admin, target.token
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("scrape: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("scrape: {e}"))?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("scrape: a response without a header end")?;
    if !head.starts_with("HTTP/1.1 200") {
        let status = head.lines().next().unwrap_or_default();
        return Err(format!("scrape: {status}"));
    }
    if !body.contains("mqhost_messages_received_total") {
        return Err("scrape: no mqhost_messages_received_total in the answer".into());
    }
    Ok(body.len())
}

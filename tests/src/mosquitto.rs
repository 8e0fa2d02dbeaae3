//! Mosquitto, the peer: a private `mosquitto` broker on a free loopback
//! port, so a test can run one scenario against mqhost and against
//! Mosquitto and hold both to the same expectations. Killed when dropped.
//!
//! Mosquitto cannot report a port it chose, so a free port is found as for
//! Redis ([`crate::redis::free_port`]); if another process takes it first,
//! Mosquitto exits and the start is retried on another port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::plugins::TempDir;
use crate::redis::free_port;

/// How long Mosquitto may take to accept connections after starting.
const READY: Duration = Duration::from_secs(10);

/// A running `mosquitto` process with anonymous access, no persistence.
pub struct Mosquitto {
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl Mosquitto {
    /// Starts Mosquitto with its defaults plus `extra` configuration lines.
    pub fn start_with(extra: &[&str]) -> Mosquitto {
        let found = Command::new("sh")
            .args(["-c", "command -v mosquitto"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "mosquitto is not installed (apt-get install mosquitto; .ci/run does)"
        );
        for _ in 0..10 {
            if let Some(broker) = Mosquitto::try_start(extra) {
                return broker;
            }
        }
        panic!("mosquitto did not start on any of 10 free ports");
    }

    /// Starts Mosquitto with its defaults.
    pub fn start() -> Mosquitto {
        Mosquitto::start_with(&[])
    }

    fn try_start(extra: &[&str]) -> Option<Mosquitto> {
        let dir = TempDir::new();
        let port = free_port(false);
        let mut config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n"
        );
        for line in extra {
            config.push_str(line);
            config.push('\n');
        }
        let file = dir.path().join("mosquitto.conf");
        std::fs::write(&file, config).expect("write mosquitto.conf");
        let mut child = Command::new("mosquitto")
            .arg("-c")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto");
        // "running" is logged once every listener is bound; a port taken
        // meanwhile ends the process before it, closing stderr.
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(" running") {
                    let _ = tx.send(());
                }
            }
        });
        let broker = Mosquitto {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            _dir: dir,
        };
        match rx.recv_timeout(READY) {
            Ok(()) => Some(broker),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("mosquitto on port {port} did not start within {READY:?}")
            }
        }
    }

    /// Address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

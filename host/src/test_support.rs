//! What the unit tests of several modules share: a scratch directory and
//! a message to store or send.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;

use crate::broker::message::{Message, MessageId};

/// A fresh, empty directory under the system's temporary directory, of
/// one test alone (tests run in parallel threads of one process), removed
/// when dropped.
pub struct TestDir(PathBuf);

impl TestDir {
    /// `name` shows in the path, to tell whose directory is left over
    /// after a crash.
    pub fn new(name: &str) -> TestDir {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mqhost-unit-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TestDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A QoS 1 message on `topic`, published by client `p`, without
/// properties or expiry.
pub fn message(id: u128, topic: &str, payload: impl Into<Bytes>) -> Message {
    Message {
        id: MessageId(id),
        topic: Arc::from(topic),
        payload: payload.into(),
        qos: mqhost_codec::QoS::AtLeastOnce,
        retain: false,
        properties: Default::default(),
        from: Arc::from("p"),
        from_session: None,
        timestamp_ms: 0,
        expires_at: None,
    }
}

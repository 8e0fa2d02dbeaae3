//! The log file's header: what makes a file ours and says which format it
//! is in, so that a file written by a newer broker is refused rather than
//! misread.
//!
//! `MQHSTORE` (8 bytes), the format version (u32 LE), 4 reserved bytes.

/// The name of the log in `persistence.dir`.
pub const LOG_FILE: &str = "store.log";

/// Where a compacted log is written before it replaces [`LOG_FILE`].
pub const COMPACT_FILE: &str = "store.log.new";

const MAGIC: &[u8; 8] = b"MQHSTORE";

/// The format this broker writes and the newest it reads.
pub const VERSION: u32 = 1;

/// Header bytes at the start of the log.
pub const HEADER_LEN: usize = 16;

/// The header of a log in [`VERSION`].
pub fn header() -> [u8; HEADER_LEN] {
    let mut out = [0; HEADER_LEN];
    out[..8].copy_from_slice(MAGIC);
    out[8..12].copy_from_slice(&VERSION.to_le_bytes());
    out
}

/// What the start of a log file says.
#[derive(Debug, PartialEq, Eq)]
pub enum Header {
    /// Ours, in a version this broker reads.
    Readable,
    /// Shorter than a header: a log whose creation was cut off; nothing
    /// was ever stored in it.
    Missing,
}

/// Why a log file cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Not a mqhost store.
    Foreign,
    /// Written by a newer broker, in this format version.
    Newer(u32),
}

/// Reads the header at the start of `bytes`.
pub fn check(bytes: &[u8]) -> Result<Header, HeaderError> {
    let Some(head) = bytes.get(..HEADER_LEN) else {
        // A prefix of our magic is a header cut off; anything else is not ours.
        return if MAGIC.starts_with(&bytes[..bytes.len().min(8)]) {
            Ok(Header::Missing)
        } else {
            Err(HeaderError::Foreign)
        };
    };
    if &head[..8] != MAGIC {
        return Err(HeaderError::Foreign);
    }
    let version = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    if version > VERSION || version == 0 {
        return Err(HeaderError::Newer(version));
    }
    Ok(Header::Readable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_header_reads_and_a_newer_or_foreign_one_is_refused() {
        assert_eq!(check(&header()), Ok(Header::Readable));
        assert_eq!(check(&header()[..5]), Ok(Header::Missing));
        assert_eq!(check(b""), Ok(Header::Missing));
        let mut newer = header();
        newer[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(check(&newer), Err(HeaderError::Newer(2)));
        assert_eq!(check(b"SQLite format 3\0"), Err(HeaderError::Foreign));
        assert_eq!(check(b"xy"), Err(HeaderError::Foreign));
    }
}

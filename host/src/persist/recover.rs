//! Opening the store at start: the directory, the log's header, and every
//! record up to the last good one. A torn or corrupt tail (a write cut by
//! a crash, a flipped byte) is cut off and logged with what it cost; a log
//! that is not ours, or written by a newer broker, is refused.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::format::{self, Header, HeaderError, COMPACT_FILE, HEADER_LEN, LOG_FILE};
use super::image::Image;
use super::record::{self, DecodeError, FRAME_HEADER, MAX_BODY};

/// The log opened for appending, with the state it holds.
pub struct Recovered {
    pub image: Image,
    /// The log, positioned at its end.
    pub file: File,
    /// Its length: the end of its last good record.
    pub len: u64,
    pub report: Report,
}

/// What reading the log found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records read.
    pub records: u64,
    /// Bytes cut off the end, and why (`None`: nothing was).
    pub lost_bytes: u64,
    pub lost_reason: Option<String>,
}

/// Opens (or creates) the log in `dir` and reads it.
pub fn recover(dir: &Path) -> Result<Recovered, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    // A compaction cut short: the log it was to replace is whole.
    let _ = std::fs::remove_file(dir.join(COMPACT_FILE));
    let path = dir.join(LOG_FILE);
    let shown = path.display();
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {shown}: {e}"))?;
    let file_len = file
        .metadata()
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .len();
    let mut head = Vec::with_capacity(HEADER_LEN);
    (&mut file)
        .take(HEADER_LEN as u64)
        .read_to_end(&mut head)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    match format::check(&head) {
        Ok(Header::Readable) => {}
        Ok(Header::Missing) => {
            write_header(&mut file).map_err(|e| format!("cannot write {shown}: {e}"))?;
            return Ok(Recovered {
                image: Image::default(),
                file,
                len: HEADER_LEN as u64,
                report: Report::default(),
            });
        }
        Err(HeaderError::Foreign) => {
            return Err(format!(
                "{shown} is not a mqhost store; move it away or choose another persistence.dir"
            ))
        }
        Err(HeaderError::Newer(version)) => {
            return Err(format!(
                "{shown} was written by a newer mqhost (store format {version}; this broker reads format {} and older): refusing to start rather than misread it",
                format::VERSION
            ))
        }
    }
    let mut image = Image::default();
    let mut report = Report::default();
    let mut reader = BufReader::with_capacity(1 << 20, &mut file);
    let mut at = HEADER_LEN as u64;
    let mut frame = Vec::new();
    let failure = loop {
        if at == file_len {
            break None;
        }
        match read_frame(&mut reader, file_len - at, &mut frame) {
            Ok(()) => {}
            Err(error) => break Some(error),
        }
        let (body, used) = match record::frame(&frame) {
            Ok(found) => found,
            Err(error) => break Some(error),
        };
        match record::decode(body, &|id| image.message(id)) {
            Ok(record) => image.apply(&record),
            Err(error) => break Some(error),
        }
        report.records += 1;
        at += used as u64;
    };
    drop(reader);
    if let Some(error) = failure {
        report.lost_bytes = file_len - at;
        report.lost_reason = Some(error.to_string());
        tracing::warn!(
            file = %shown,
            offset = at,
            lost_bytes = report.lost_bytes,
            kept_records = report.records,
            reason = %error,
            "store log damaged: kept every record before the damage, cut off the rest"
        );
        file.set_len(at)
            .map_err(|e| format!("cannot cut {shown} at its last good record: {e}"))?;
    }
    file.seek(SeekFrom::Start(at))
        .map_err(|e| format!("cannot seek {shown}: {e}"))?;
    Ok(Recovered {
        image,
        file,
        len: at,
        report,
    })
}

/// Reads one frame into `out`; `left` is what the file still holds, so a
/// length field is believed only as far as there are bytes behind it.
fn read_frame(reader: &mut impl Read, left: u64, out: &mut Vec<u8>) -> Result<(), DecodeError> {
    out.clear();
    out.resize(FRAME_HEADER, 0);
    if left < FRAME_HEADER as u64 {
        return Err(DecodeError::Truncated);
    }
    reader.read_exact(out).map_err(|_| DecodeError::Truncated)?;
    let len = u64::from(u32::from_le_bytes([out[0], out[1], out[2], out[3]]));
    if len > MAX_BODY as u64 {
        return Err(DecodeError::TooLong(len));
    }
    if len > left - FRAME_HEADER as u64 {
        return Err(DecodeError::Truncated);
    }
    out.resize(FRAME_HEADER + len as usize, 0);
    reader
        .read_exact(&mut out[FRAME_HEADER..])
        .map_err(|_| DecodeError::Truncated)
}

/// Starts `file` anew with a header.
pub fn write_header(file: &mut File) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&format::header())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::broker::message::{Delivery, Message};
    use crate::persist::record::Record;

    use crate::test_support::{self, TestDir};

    fn message(id: u128) -> Arc<Message> {
        Arc::new(test_support::message(
            id,
            &format!("t/{id}"),
            vec![b'x'; 100],
        ))
    }

    /// A log with one session and `n` queued messages; returns the end
    /// offset of each record.
    fn write_log(dir: &Path, n: u128) -> Vec<u64> {
        let mut recovered = recover(dir).unwrap();
        let client: Arc<str> = Arc::from("c");
        let mut records = vec![Record::Session {
            client: Arc::clone(&client),
            username: None,
            expiry: 60,
            detached_ms: 0,
        }];
        for id in 1..=n {
            let m = message(id);
            records.push(Record::Message(Arc::clone(&m)));
            records.push(Record::Enqueue {
                client: Arc::clone(&client),
                seq: id as u64,
                delivery: Delivery {
                    seq: id as u64,
                    ..Delivery::new(m, mqhost_codec::QoS::AtLeastOnce, false, Vec::new())
                },
            });
        }
        let mut ends = Vec::new();
        let mut at = HEADER_LEN as u64;
        for r in &records {
            let mut out = Vec::new();
            record::encode(r, &mut out);
            recovered.file.write_all(&out).unwrap();
            at += out.len() as u64;
            ends.push(at);
        }
        ends
    }

    fn queued(dir: &Path) -> (usize, Report) {
        let recovered = recover(dir).unwrap();
        let n = recovered
            .image
            .sessions
            .get("c")
            .map_or(0, |s| s.deliveries.len());
        (n, recovered.report)
    }

    #[test]
    fn a_whole_log_reads_back() {
        let dir = TestDir::new("whole");
        write_log(dir.path(), 10);
        let (n, report) = queued(dir.path());
        assert_eq!(n, 10);
        assert_eq!(report.records, 21);
        assert_eq!(report.lost_bytes, 0);
    }

    /// Cut at any byte, the log keeps every record that ends before the
    /// cut, and the next open finds it whole.
    #[test]
    fn a_log_cut_anywhere_keeps_the_records_before_the_cut() {
        let dir = TestDir::new("cut");
        let ends = write_log(dir.path(), 5);
        let full = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        for cut in HEADER_LEN..full.len() {
            std::fs::write(dir.path().join(LOG_FILE), &full[..cut]).unwrap();
            let whole_records = ends.iter().filter(|end| **end <= cut as u64).count();
            let (n, report) = queued(dir.path());
            assert_eq!(report.records, whole_records as u64, "cut at {cut}");
            assert_eq!(n, whole_records.saturating_sub(1) / 2, "cut at {cut}");
            let kept = ends[..whole_records]
                .last()
                .copied()
                .unwrap_or(HEADER_LEN as u64);
            assert_eq!(report.lost_bytes, cut as u64 - kept);
            assert_eq!(
                queued(dir.path()).1.lost_bytes,
                0,
                "second open, cut at {cut}"
            );
        }
    }

    /// A flipped byte anywhere: never a panic, never more records than
    /// before the damage.
    #[test]
    fn a_flipped_byte_keeps_the_records_before_it() {
        let dir = TestDir::new("flip");
        let ends = write_log(dir.path(), 3);
        let full = std::fs::read(dir.path().join(LOG_FILE)).unwrap();
        for at in HEADER_LEN..full.len() {
            let mut bad = full.clone();
            bad[at] ^= 0x40;
            std::fs::write(dir.path().join(LOG_FILE), &bad).unwrap();
            let before = ends.iter().filter(|end| **end <= at as u64).count() as u64;
            let (_, report) = queued(dir.path());
            assert_eq!(report.records, before, "flip at {at}");
            assert!(report.lost_reason.is_some());
        }
    }

    #[test]
    fn a_newer_or_foreign_log_is_refused_with_a_clear_message() {
        let dir = TestDir::new("newer");
        write_log(dir.path(), 1);
        let path = dir.path().join(LOG_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[8] = 9;
        std::fs::write(&path, &bytes).unwrap();
        let error = recover(dir.path()).err().unwrap();
        assert!(error.contains("newer mqhost (store format 9"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "left as it was");
        std::fs::write(&path, b"something else entirely").unwrap();
        let error = recover(dir.path()).err().unwrap();
        assert!(error.contains("is not a mqhost store"), "{error}");
    }

    #[test]
    fn a_header_cut_off_at_creation_starts_an_empty_log() {
        let dir = TestDir::new("header");
        std::fs::create_dir_all(dir.path()).unwrap();
        std::fs::write(dir.path().join(LOG_FILE), &format::header()[..3]).unwrap();
        let recovered = recover(dir.path()).unwrap();
        assert_eq!(recovered.len, HEADER_LEN as u64);
        assert_eq!(
            std::fs::read(dir.path().join(LOG_FILE)).unwrap(),
            format::header()
        );
    }
}

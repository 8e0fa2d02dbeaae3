//! The live log: records appended with the message bodies they need, and
//! compaction, which writes the state without its history to a new file
//! and puts it in the log's place, so the log does not grow without bound.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use super::format::{self, COMPACT_FILE, LOG_FILE};
use super::image::Image;
use super::record::{self, Record};

/// Appends `record` to `out` (its message's body first, if the log does
/// not hold it yet) and applies it to `image`. Returns how many records
/// it wrote: 1, or 2 with the body.
pub fn append(record: &Record, image: &mut Image, out: &mut Vec<u8>) -> u64 {
    let mut written = 1;
    if let Some(message) = record::names(record) {
        if image.hold_new(message) {
            record::encode_message(message, out);
            written += 1;
        }
    }
    record::encode(record, out);
    image.apply_held(record);
    written
}

/// A compacted log in the log's place.
pub struct Compacted {
    pub file: File,
    pub len: u64,
    /// Records in it.
    pub records: u64,
    pub image: Image,
}

/// Writes `image` as a new log, flushed to the disk, and renames it over
/// the old one. On an error the old log is left as it was.
pub fn compact(dir: &Path, image: &Image) -> std::io::Result<Compacted> {
    let path = dir.join(COMPACT_FILE);
    let result = write_compacted(dir, &path, image);
    if result.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    result
}

fn write_compacted(dir: &Path, path: &Path, image: &Image) -> std::io::Result<Compacted> {
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(path)?;
    let mut fresh = Image::default();
    let mut out = Vec::with_capacity(1 << 20);
    out.extend_from_slice(&format::header());
    let mut len = 0u64;
    let mut records = 0u64;
    for record in image.records() {
        records += append(&record, &mut fresh, &mut out);
        if out.len() >= 1 << 20 {
            file.write_all(&out)?;
            len += out.len() as u64;
            out.clear();
        }
    }
    file.write_all(&out)?;
    len += out.len() as u64;
    file.sync_data()?;
    std::fs::rename(path, dir.join(LOG_FILE))?;
    // The rename itself survives a power loss once the directory is flushed.
    File::open(dir)?.sync_all()?;
    Ok(Compacted {
        file,
        len,
        records,
        image: fresh,
    })
}

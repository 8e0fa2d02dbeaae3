//! Measures the candidates for the broker's store on the records it
//! writes: about 200 bytes each, in batches (group commit), under the
//! three sync modes the broker offers (`none`: never fsync; `interval`:
//! fsync once a second; `always`: fsync per batch). Then a kill -9 check:
//! a child process commits batches and prints each committed count; it is
//! killed with SIGKILL and the parent reopens the store and counts what
//! survived against the last count printed.
//!
//!   cargo run --release -- [records]

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use redb::ReadableTableMetadata;

const RECORD: usize = 200;
const BATCH: usize = 256;

#[derive(Clone, Copy, Debug)]
enum Sync {
    None,
    Interval,
    Always,
}

trait Store {
    fn put_batch(&mut self, first: u64, records: &[[u8; RECORD]]);
    /// Makes everything put so far durable against power loss.
    fn fsync(&mut self);
    /// Whatever the store needs after a batch for it to survive kill -9.
    fn commit(&mut self) {}
}

// === a log of our own ===

struct Log {
    file: File,
    buf: Vec<u8>,
}

impl Log {
    fn open(dir: &Path) -> Self {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("log"))
            .unwrap();
        Log {
            file,
            buf: Vec::new(),
        }
    }

    fn count(dir: &Path) -> u64 {
        let mut bytes = Vec::new();
        File::open(dir.join("log"))
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        let mut at = 0;
        let mut n = 0;
        while at + 8 <= bytes.len() {
            let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
            let Some(body) = bytes.get(at + 8..at + 8 + len) else {
                break;
            };
            if crc32fast::hash(body) != crc {
                break;
            }
            n += 1;
            at += 8 + len;
        }
        n
    }
}

impl Store for Log {
    fn put_batch(&mut self, first: u64, records: &[[u8; RECORD]]) {
        self.buf.clear();
        for (i, record) in records.iter().enumerate() {
            let mut body = [0u8; RECORD + 8];
            body[..8].copy_from_slice(&(first + i as u64).to_le_bytes());
            body[8..].copy_from_slice(record);
            self.buf.extend_from_slice(&(body.len() as u32).to_le_bytes());
            self.buf
                .extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
            self.buf.extend_from_slice(&body);
        }
        self.file.write_all(&self.buf).unwrap();
    }
    fn fsync(&mut self) {
        self.file.sync_data().unwrap();
    }
}

// === fjall ===

struct Fjall {
    keyspace: fjall::Keyspace,
    part: fjall::PartitionHandle,
}

impl Fjall {
    fn open(dir: &Path) -> Self {
        let keyspace = fjall::Config::new(dir).open().unwrap();
        let part = keyspace
            .open_partition("r", fjall::PartitionCreateOptions::default())
            .unwrap();
        Fjall { keyspace, part }
    }
}

impl Store for Fjall {
    fn put_batch(&mut self, first: u64, records: &[[u8; RECORD]]) {
        let mut batch = self.keyspace.batch();
        for (i, record) in records.iter().enumerate() {
            batch.insert(&self.part, (first + i as u64).to_be_bytes(), record.as_slice());
        }
        batch.commit().unwrap();
    }
    fn commit(&mut self) {
        // Written to the OS, so that kill -9 keeps it.
        self.keyspace.persist(fjall::PersistMode::Buffer).unwrap();
    }
    fn fsync(&mut self) {
        self.keyspace.persist(fjall::PersistMode::SyncData).unwrap();
    }
}

// === redb ===

const TABLE: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("r");

struct Redb {
    db: redb::Database,
    durable: bool,
}

impl Redb {
    fn open(dir: &Path, durable: bool) -> Self {
        Redb {
            db: redb::Database::create(dir.join("db")).unwrap(),
            durable,
        }
    }
}

impl Store for Redb {
    fn put_batch(&mut self, first: u64, records: &[[u8; RECORD]]) {
        let mut txn = self.db.begin_write().unwrap();
        if !self.durable {
            txn.set_durability(redb::Durability::None);
        }
        {
            let mut table = txn.open_table(TABLE).unwrap();
            for (i, record) in records.iter().enumerate() {
                table.insert(first + i as u64, record.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
    }
    fn fsync(&mut self) {
        // A durable commit of nothing makes the earlier ones durable.
        let txn = self.db.begin_write().unwrap();
        txn.commit().unwrap();
    }
}

fn open(name: &str, dir: &Path) -> Box<dyn Store> {
    match name {
        "log" => Box::new(Log::open(dir)),
        "fjall" => Box::new(Fjall::open(dir)),
        "redb-none" => Box::new(Redb::open(dir, false)),
        "redb-durable" => Box::new(Redb::open(dir, true)),
        _ => panic!("unknown store {name}"),
    }
}

fn count(name: &str, dir: &Path) -> u64 {
    match name {
        "log" => Log::count(dir),
        "fjall" => {
            let store = Fjall::open(dir);
            store.part.len().unwrap() as u64
        }
        _ => {
            let db = redb::Database::create(dir.join("db")).unwrap();
            let txn = db.begin_read().unwrap();
            match txn.open_table(TABLE) {
                Ok(table) => table.len().unwrap(),
                Err(_) => 0,
            }
        }
    }
}

fn records() -> Vec<[u8; RECORD]> {
    (0..BATCH)
        .map(|i| {
            let mut r = [0u8; RECORD];
            for (j, b) in r.iter_mut().enumerate() {
                *b = (i * 31 + j * 7) as u8;
            }
            r
        })
        .collect()
}

fn fresh(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("store-candidates-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn measure(name: &str, sync: Sync, total: u64) -> f64 {
    let dir = fresh(name);
    let mut store = open(name, &dir);
    let batch = records();
    let start = Instant::now();
    let mut last_sync = Instant::now();
    let mut n = 0;
    while n < total {
        store.put_batch(n, &batch);
        store.commit();
        n += BATCH as u64;
        match sync {
            Sync::None => {}
            Sync::Always => store.fsync(),
            Sync::Interval => {
                if last_sync.elapsed() >= Duration::from_secs(1) {
                    store.fsync();
                    last_sync = Instant::now();
                }
            }
        }
    }
    let micros = start.elapsed().as_secs_f64() * 1e6 / n as f64;
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    micros
}

/// The child: commits batches for ever, printing the count after each.
fn writer(name: &str, dir: &Path) {
    let mut store = open(name, dir);
    let batch = records();
    let mut out = std::io::stdout().lock();
    let mut n = 0;
    loop {
        store.put_batch(n, &batch);
        store.commit();
        n += BATCH as u64;
        writeln!(out, "{n}").unwrap();
        out.flush().unwrap();
    }
}

fn survives_kill(name: &str) -> (u64, u64) {
    let dir = fresh(&format!("kill-{name}"));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--writer", name, dir.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let start = Instant::now();
    let mut acknowledged = 0;
    while start.elapsed() < Duration::from_millis(700) {
        acknowledged = lines.next().unwrap().unwrap().parse().unwrap();
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    for line in lines.map_while(Result::ok) {
        acknowledged = line.parse().unwrap();
    }
    let kept = count(name, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    (acknowledged, kept)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--writer") {
        writer(&args[2], Path::new(&args[3]));
        return;
    }
    let total: u64 = args.get(1).map(|s| s.parse().unwrap()).unwrap_or(200_000);
    println!("{total} records of {RECORD} bytes, batches of {BATCH}, µs per record:");
    println!("| store | none | interval (1 s) | always | kill -9: acknowledged / kept |");
    println!("|---|---|---|---|---|");
    for name in ["log", "fjall", "redb-none", "redb-durable"] {
        let slow = name == "redb-durable";
        let n = if slow { total / 10 } else { total };
        let none = measure(name, Sync::None, n);
        let interval = measure(name, Sync::Interval, n);
        let always = measure(name, Sync::Always, n / 4);
        let (acknowledged, kept) = survives_kill(name);
        println!(
            "| {name} | {none:.2} | {interval:.2} | {always:.2} | {acknowledged} / {kept}{} |",
            if kept < acknowledged { " LOST" } else { "" }
        );
    }
}

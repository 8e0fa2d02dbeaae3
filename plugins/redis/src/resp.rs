//! The Redis protocol on the write path, without intermediate objects.
//!
//! Writes are most of the plugin's work: five commands for every QoS 1
//! message stored and consumed. Building a `redis::Cmd` per command, then
//! packing them, then parsing every reply into a `redis::Value` cost more
//! CPU than the broker spends on the message itself. So the functions
//! write their commands into a [`CommandSink`]: [`RespBuf`] encodes them
//! straight into one buffer for the pool's own connection, [`CmdList`]
//! builds `redis::Cmd`s for the cluster connection (and for tests).
//! [`ReplyScanner`] walks the replies and keeps only the errors.

use redis::Cmd;

/// Receives commands argument by argument.
pub(crate) trait CommandSink {
    /// Starts a command of `argc` arguments (its name included).
    fn begin(&mut self, argc: usize);
    /// One argument.
    fn arg(&mut self, bytes: &[u8]);
    /// One argument made of `prefix` then `rest` (a key such as
    /// `mqtt:msg:` + id), without building it first.
    fn arg2(&mut self, prefix: &[u8], rest: &[u8]);
    /// An argument known when the plugin is built.
    fn word(&mut self, word: Word) {
        self.arg(word.text);
    }
    /// A whole number as a decimal argument.
    fn arg_u64(&mut self, n: u64) {
        let mut digits = [0u8; 20];
        let text = decimal(n, &mut digits);
        self.arg(text);
    }
}

/// An argument known when the plugin is built, with its encoding written
/// out: most arguments of a stored message are such names, and writing
/// them is then one copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Word {
    /// The argument.
    pub(crate) text: &'static [u8],
    /// `$len\r\ntext\r\n`.
    pub(crate) encoded: &'static [u8],
}

macro_rules! words {
    ($($name:ident = $text:literal, $encoded:literal;)*) => {
        $(
            #[doc = concat!("`", $text, "`.")]
            pub(crate) const $name: Word = Word { text: $text.as_bytes(), encoded: $encoded.as_bytes() };
        )*
        /// Every word, for the test that checks their encodings.
        #[cfg(test)]
        pub(crate) const ALL_WORDS: &[Word] = &[$($name),*];
    };
}

words! {
    DEL = "DEL", "$3\r\nDEL\r\n";
    EXPIRE = "EXPIRE", "$6\r\nEXPIRE\r\n";
    HMSET = "HMSET", "$5\r\nHMSET\r\n";
    ZADD = "ZADD", "$4\r\nZADD\r\n";
    ZREM = "ZREM", "$4\r\nZREM\r\n";
    ZREMRANGEBYLEX = "ZREMRANGEBYLEX", "$14\r\nZREMRANGEBYLEX\r\n";
    ONE = "1", "$1\r\n1\r\n";
    MINUS = "-", "$1\r\n-\r\n";
    F_ID = "id", "$2\r\nid\r\n";
    F_FROM = "from", "$4\r\nfrom\r\n";
    F_QOS = "qos", "$3\r\nqos\r\n";
    F_TOPIC = "topic", "$5\r\ntopic\r\n";
    F_RETAIN = "retain", "$6\r\nretain\r\n";
    F_PAYLOAD = "payload", "$7\r\npayload\r\n";
    F_TS = "ts", "$2\r\nts\r\n";
}

/// The decimal digits of `n`, in the tail of `out`.
pub(crate) fn decimal(mut n: u64, out: &mut [u8; 20]) -> &[u8] {
    // Most numbers written are argument lengths, below 100.
    if n < 10 {
        out[19] = b'0' + n as u8;
        return &out[19..];
    }
    if n < 100 {
        out[18] = b'0' + (n / 10) as u8;
        out[19] = b'0' + (n % 10) as u8;
        return &out[18..];
    }
    let mut at = out.len();
    loop {
        at -= 1;
        out[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &out[at..];
        }
    }
}

/// Commands encoded in RESP, ready to write, with where each starts (to
/// send again from one of them) and how many queued commands each carries
/// (more than one once coalesced).
#[derive(Debug, Default, Clone)]
pub(crate) struct RespBuf {
    bytes: Vec<u8>,
    starts: Vec<usize>,
    carries: Vec<u32>,
}

impl RespBuf {
    /// An empty buffer.
    pub(crate) fn new() -> RespBuf {
        RespBuf::default()
    }

    /// The encoded commands.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many commands it holds.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether it holds none.
    pub(crate) fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// Makes room for `bytes` more bytes.
    pub(crate) fn reserve(&mut self, bytes: usize) {
        self.bytes.reserve(bytes);
    }

    /// Queued commands carried by the first `count` commands.
    pub(crate) fn carried(&self, count: usize) -> usize {
        let count = count.min(self.carries.len());
        self.carries[..count].iter().map(|&c| c as usize).sum()
    }

    /// Starts a command of `argc` arguments that carries `carries` queued
    /// commands.
    pub(crate) fn begin_carrying(&mut self, argc: usize, carries: u32) {
        self.starts.push(self.bytes.len());
        self.carries.push(carries);
        self.header(b'*', argc);
    }

    /// Appends arguments already encoded, after [`RespBuf::begin_carrying`].
    pub(crate) fn raw(&mut self, encoded: &[u8]) {
        self.bytes.extend_from_slice(encoded);
    }

    /// Drops every command but the last `len() - first`.
    pub(crate) fn keep_from(&mut self, first: usize) {
        if first == 0 {
            return;
        }
        if first >= self.starts.len() {
            self.clear();
            return;
        }
        let offset = self.starts[first];
        self.bytes.drain(..offset);
        self.starts.drain(..first);
        self.carries.drain(..first);
        for start in &mut self.starts {
            *start -= offset;
        }
    }

    /// Empties it, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.starts.clear();
        self.carries.clear();
    }

    /// The name of command `index`, for log lines.
    pub(crate) fn command_name(&self, index: usize) -> String {
        let Some(&start) = self.starts.get(index) else {
            return String::new();
        };
        let mut scanner = &self.bytes[start..];
        // *N\r\n$len\r\nNAME\r\n
        let skip_line = |s: &mut &[u8]| {
            if let Some(end) = s.windows(2).position(|w| w == b"\r\n") {
                *s = &s[end + 2..];
            }
        };
        skip_line(&mut scanner);
        skip_line(&mut scanner);
        let end = scanner.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
        String::from_utf8_lossy(&scanner[..end]).into_owned()
    }

    fn header(&mut self, kind: u8, n: usize) {
        self.bytes.push(kind);
        let mut digits = [0u8; 20];
        self.bytes.extend_from_slice(decimal(n as u64, &mut digits));
        self.bytes.extend_from_slice(b"\r\n");
    }
}

impl CommandSink for RespBuf {
    fn begin(&mut self, argc: usize) {
        self.begin_carrying(argc, 1);
    }

    fn word(&mut self, word: Word) {
        self.bytes.extend_from_slice(word.encoded);
    }

    fn arg(&mut self, bytes: &[u8]) {
        self.header(b'$', bytes.len());
        self.bytes.extend_from_slice(bytes);
        self.bytes.extend_from_slice(b"\r\n");
    }

    fn arg2(&mut self, prefix: &[u8], rest: &[u8]) {
        self.header(b'$', prefix.len() + rest.len());
        self.bytes.extend_from_slice(prefix);
        self.bytes.extend_from_slice(rest);
        self.bytes.extend_from_slice(b"\r\n");
    }
}

/// Commands as `redis::Cmd`s.
#[derive(Default)]
pub(crate) struct CmdList {
    /// The commands, in order.
    pub(crate) cmds: Vec<Cmd>,
}

impl CommandSink for CmdList {
    fn begin(&mut self, argc: usize) {
        self.cmds.push(Cmd::with_capacity(argc, 64));
    }

    fn arg(&mut self, bytes: &[u8]) {
        if let Some(cmd) = self.cmds.last_mut() {
            cmd.arg(bytes);
        }
    }

    fn arg2(&mut self, prefix: &[u8], rest: &[u8]) {
        let mut joined = Vec::with_capacity(prefix.len() + rest.len());
        joined.extend_from_slice(prefix);
        joined.extend_from_slice(rest);
        self.arg(&joined);
    }
}

/// An error reply: its code (`WRONGTYPE`, `READONLY`) and the rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReplyError {
    /// Which command of the batch.
    pub(crate) index: usize,
    /// The first word.
    pub(crate) code: String,
    /// The rest of the line.
    pub(crate) detail: String,
}

/// Walks a stream of replies, counting them and keeping the errors.
#[derive(Debug, Default)]
pub(crate) struct ReplyScanner {
    /// Replies complete so far.
    pub(crate) done: usize,
    /// Error replies among them.
    pub(crate) errors: Vec<ReplyError>,
}

/// What the next bytes hold.
enum Step {
    /// More bytes are needed.
    Incomplete,
    /// One element of `len` bytes, which opens `children` more.
    Element { len: usize, children: usize },
}

impl ReplyScanner {
    /// Consumes whole replies from the front of `input`; returns how many
    /// bytes it used (a partial reply is left for the next call). An
    /// `Err` means the bytes are not RESP: the connection is unusable.
    pub(crate) fn scan(&mut self, input: &[u8]) -> Result<usize, String> {
        let mut used = 0;
        loop {
            // One whole reply, however nested, or nothing.
            let mut at = used;
            let mut pending = 1usize;
            let mut error = None;
            while pending > 0 {
                match element(&input[at..])? {
                    Step::Incomplete => return Ok(used),
                    Step::Element { len, children } => {
                        if pending == 1 && at == used && input[at] == b'-' {
                            error = Some(parse_error(&input[at + 1..at + len - 2]));
                        }
                        at += len;
                        pending = pending - 1 + children;
                    }
                }
            }
            if let Some((code, detail)) = error {
                self.errors.push(ReplyError {
                    index: self.done,
                    code,
                    detail,
                });
            }
            self.done += 1;
            used = at;
        }
    }
}

fn parse_error(line: &[u8]) -> (String, String) {
    let text = String::from_utf8_lossy(line);
    match text.split_once(' ') {
        Some((code, detail)) => (code.to_owned(), detail.to_owned()),
        None => (text.into_owned(), String::new()),
    }
}

/// The first element at the start of `input`.
fn element(input: &[u8]) -> Result<Step, String> {
    let Some(end) = input.windows(2).position(|w| w == b"\r\n") else {
        return Ok(Step::Incomplete);
    };
    if end == 0 {
        return Err("an empty line where a reply should start".to_owned());
    }
    let line = end + 2;
    let number = || -> Result<i64, String> {
        std::str::from_utf8(&input[1..end])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                format!(
                    "bad length in a reply: {:?}",
                    String::from_utf8_lossy(&input[..end])
                )
            })
    };
    let step = match input[0] {
        // Simple string, error, integer; RESP3 null, double, boolean,
        // big number.
        b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => Step::Element {
            len: line,
            children: 0,
        },
        // Bulk string (and RESP3 blob error, verbatim string).
        b'$' | b'!' | b'=' => {
            let n = number()?;
            if n < 0 {
                Step::Element {
                    len: line,
                    children: 0,
                }
            } else {
                let len = line + n as usize + 2;
                if input.len() < len {
                    return Ok(Step::Incomplete);
                }
                Step::Element { len, children: 0 }
            }
        }
        // Array (and RESP3 set, push); a map has two children per entry.
        b'*' | b'~' | b'>' => Step::Element {
            len: line,
            children: number()?.max(0) as usize,
        },
        b'%' | b'|' => Step::Element {
            len: line,
            children: number()?.max(0) as usize * 2,
        },
        other => return Err(format!("unexpected reply type byte {other:#04x}")),
    };
    Ok(step)
}

/// The words of a command, lossily as text, for tests to compare.
#[cfg(test)]
pub(crate) fn words(cmd: &Cmd) -> Vec<String> {
    cmd.args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => "0".to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_encoded_as_written() {
        for word in ALL_WORDS {
            let text = std::str::from_utf8(word.text).unwrap();
            let encoded = format!("${}\r\n{text}\r\n", text.len());
            assert_eq!(word.encoded, encoded.as_bytes(), "{text}");
        }
    }

    #[test]
    fn decimal_writes_every_width() {
        for n in [0, 7, 9, 10, 42, 99, 100, 101, 3600, u64::MAX] {
            let mut digits = [0u8; 20];
            assert_eq!(decimal(n, &mut digits), n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn commands_are_encoded_as_resp_arrays_of_bulk_strings() {
        let mut buf = RespBuf::new();
        buf.begin(3);
        buf.arg(b"SET");
        buf.arg2(b"mqtt:msg:", b"id1");
        buf.arg_u64(1481685802);
        buf.begin(1);
        buf.arg(b"PING");
        assert_eq!(
            buf.bytes(),
            b"*3\r\n$3\r\nSET\r\n$12\r\nmqtt:msg:id1\r\n$10\r\n1481685802\r\n*1\r\n$4\r\nPING\r\n"
        );
        assert_eq!(buf.len(), 2);
        assert_eq!(buf.command_name(0), "SET");
        assert_eq!(buf.command_name(1), "PING");
        buf.keep_from(1);
        assert_eq!(buf.bytes(), b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(buf.len(), 1);
    }

    #[test]
    fn the_same_command_as_a_cmd() {
        let mut list = CmdList::default();
        list.begin(3);
        list.arg(b"SET");
        list.arg2(b"mqtt:msg:", b"id1");
        list.arg_u64(0);
        assert_eq!(words(&list.cmds[0]), ["SET", "mqtt:msg:id1", "0"]);
        let mut buf = RespBuf::new();
        buf.begin(3);
        buf.arg(b"SET");
        buf.arg2(b"mqtt:msg:", b"id1");
        buf.arg_u64(0);
        assert_eq!(list.cmds[0].get_packed_command(), buf.bytes());
    }

    #[test]
    fn replies_are_counted_and_errors_kept() {
        let replies = b"+OK\r\n:1\r\n-WRONGTYPE Operation against a key\r\n$5\r\nhello\r\n$-1\r\n*2\r\n$1\r\na\r\n*1\r\n:3\r\n-READONLY You can't write\r\n";
        let mut scanner = ReplyScanner::default();
        assert_eq!(scanner.scan(replies), Ok(replies.len()));
        assert_eq!(scanner.done, 7);
        assert_eq!(
            scanner.errors,
            [
                ReplyError {
                    index: 2,
                    code: "WRONGTYPE".into(),
                    detail: "Operation against a key".into()
                },
                ReplyError {
                    index: 6,
                    code: "READONLY".into(),
                    detail: "You can't write".into()
                },
            ]
        );
    }

    #[test]
    fn partial_replies_wait_for_more_bytes() {
        let replies = b":1\r\n*2\r\n$5\r\nhello\r\n$5\r\nwor";
        let mut scanner = ReplyScanner::default();
        let used = scanner.scan(replies).unwrap();
        assert_eq!((used, scanner.done), (4, 1));
        let rest = [&replies[used..], b"ld\r\n+OK\r\n".as_slice()].concat();
        assert_eq!(scanner.scan(&rest), Ok(rest.len()));
        assert_eq!(scanner.done, 3);
        // Split inside a line, too.
        let mut scanner = ReplyScanner::default();
        assert_eq!(scanner.scan(b":12"), Ok(0));
        assert_eq!(scanner.done, 0);
    }

    #[test]
    fn garbage_is_an_error() {
        assert!(ReplyScanner::default().scan(b"\r\n").is_err());
        assert!(ReplyScanner::default().scan(b":1\r\n\r\n").is_err());
        assert!(ReplyScanner::default().scan(b"hello\r\n").is_err());
        assert!(ReplyScanner::default().scan(b"$x\r\n").is_err());
    }
}

//! Commands waiting to be written, as one arena in the protocol.
//!
//! Hooks write their commands straight into a pool's arena (see
//! [`super::queue`]): no owned copy of the event, no job object, nothing
//! for the writer to free one by one. Each argument is stored already in
//! the protocol (`$len\r\nbytes\r\n`), so a command that goes out as it
//! came is one copy of one contiguous span, and the arena keeps no more
//! than where each command starts: the coalescer reads the few arguments
//! it looks at (names, keys, members) back from the bytes.

use std::ops::Range;

use crate::resp::{decimal, CommandSink};

/// One argument of a command read back: where its `$` header starts and
/// where its content is, in the arena.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgSpan {
    /// The header's first byte.
    pub(crate) head: u32,
    /// The content.
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl ArgSpan {
    /// The whole argument as encoded: header, content, `\r\n`.
    pub(crate) fn encoded(&self) -> Range<usize> {
        self.head as usize..self.end as usize + 2
    }
}

/// Commands in one arena.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    /// Each command's first byte and argument count.
    cmds: Vec<(u32, u32)>,
}

/// Where an arena was before a push, to undo it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    bytes: usize,
    cmds: usize,
}

/// Offsets are `u32`: an arena stops taking commands before this.
pub(crate) const MAX_ARENA_BYTES: usize = u32::MAX as usize;

impl CommandSink for Batch {
    fn begin(&mut self, _argc: usize) {
        self.cmds.push((self.bytes.len() as u32, 0));
    }

    fn arg(&mut self, bytes: &[u8]) {
        self.arg2(bytes, b"");
    }

    fn arg2(&mut self, prefix: &[u8], rest: &[u8]) {
        let len = prefix.len() + rest.len();
        self.bytes.reserve(len + 24);
        let mut digits = [0u8; 20];
        self.bytes.push(b'$');
        self.bytes.extend_from_slice(decimal(len as u64, &mut digits));
        self.bytes.extend_from_slice(b"\r\n");
        self.bytes.extend_from_slice(prefix);
        self.bytes.extend_from_slice(rest);
        self.bytes.extend_from_slice(b"\r\n");
        if let Some(cmd) = self.cmds.last_mut() {
            cmd.1 += 1;
        }
    }
}

impl Batch {
    /// Commands held.
    pub(crate) fn len(&self) -> usize {
        self.cmds.len()
    }

    /// Whether it holds none.
    pub(crate) fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Bytes held, arguments as encoded.
    pub(crate) fn byte_len(&self) -> usize {
        self.bytes.len()
    }

    /// Where it is now.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            bytes: self.bytes.len(),
            cmds: self.cmds.len(),
        }
    }

    /// Drops everything written since `mark`.
    pub(crate) fn truncate(&mut self, mark: Mark) {
        self.bytes.truncate(mark.bytes);
        self.cmds.truncate(mark.cmds);
    }

    /// Empties it. A burst's memory is kept for the next one, unless it is
    /// far beyond what a batch needs.
    pub(crate) fn clear(&mut self) {
        const KEEP_BYTES: usize = 16 << 20;
        self.bytes.clear();
        self.cmds.clear();
        if self.bytes.capacity() > KEEP_BYTES {
            self.bytes.shrink_to(KEEP_BYTES);
            self.cmds.shrink_to(KEEP_BYTES / 256);
        }
    }

    /// Command `index`'s bytes in the arena (its arguments, encoded).
    pub(crate) fn command_bytes(&self, index: usize) -> Range<usize> {
        let start = self.cmds[index].0 as usize;
        let end = self
            .cmds
            .get(index + 1)
            .map_or(self.bytes.len(), |next| next.0 as usize);
        start..end
    }

    /// Command `index`'s argument count.
    pub(crate) fn argc(&self, index: usize) -> usize {
        self.cmds[index].1 as usize
    }

    /// Reads command `index`'s arguments back into `spans`.
    pub(crate) fn parse(&self, index: usize, spans: &mut Vec<ArgSpan>) {
        spans.clear();
        let range = self.command_bytes(index);
        let mut at = range.start;
        while at < range.end {
            // `$` digits `\r\n` content `\r\n`, as `arg2` wrote it.
            let mut len = 0usize;
            let mut i = at + 1;
            while let Some(&digit) = self.bytes.get(i).filter(|b| b.is_ascii_digit()) {
                len = len * 10 + usize::from(digit - b'0');
                i += 1;
            }
            let start = i + 2;
            let end = start + len;
            if end + 2 > range.end {
                return;
            }
            spans.push(ArgSpan {
                head: at as u32,
                start: start as u32,
                end: end as u32,
            });
            at = end + 2;
        }
    }

    /// Bytes of the arena.
    pub(crate) fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.bytes[range]
    }

    /// An argument's content.
    pub(crate) fn content(&self, span: ArgSpan) -> &[u8] {
        &self.bytes[span.start as usize..span.end as usize]
    }

    /// Bytes the commands `cmds` take, as encoded.
    pub(crate) fn bytes_of(&self, cmds: Range<usize>) -> usize {
        if cmds.is_empty() {
            return 0;
        }
        self.command_bytes(cmds.end - 1).end - self.command_bytes(cmds.start).start
    }

    /// Writes commands `cmds` again into another sink (a cluster link's
    /// commands, a test's list).
    pub(crate) fn replay(&self, cmds: Range<usize>, out: &mut impl CommandSink) {
        let mut spans = Vec::new();
        for index in cmds {
            self.parse(index, &mut spans);
            out.begin(spans.len());
            for span in &spans {
                out.arg(self.content(*span));
            }
        }
    }

    /// The first `max_commands` commands from `from` (at least one), fewer
    /// if they would pass `max_bytes`.
    pub(crate) fn chunk(&self, from: usize, max_commands: usize, max_bytes: usize) -> Range<usize> {
        let end = self.len().min(from.saturating_add(max_commands.max(1)));
        if from >= end {
            return from..from;
        }
        let start_byte = self.cmds[from].0 as usize;
        // The last command that starts within max_bytes of the first.
        let mut last = from + 1;
        while last < end {
            if self.cmds[last].0 as usize - start_byte >= max_bytes {
                break;
            }
            last += 1;
        }
        from..last
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::{words, CmdList};

    fn batch(commands: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for command in commands {
            let words: Vec<&str> = command.split(' ').collect();
            batch.begin(words.len());
            for word in words {
                batch.arg(word.as_bytes());
            }
        }
        batch
    }

    #[test]
    fn arguments_are_stored_as_the_protocol_writes_them() {
        let batch = batch(&["SET k value", "DEL k"]);
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.argc(0), 3);
        assert_eq!(
            batch.slice(batch.command_bytes(0)),
            b"$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
        );
        let mut spans = Vec::new();
        batch.parse(0, &mut spans);
        let args: Vec<&[u8]> = spans.iter().map(|s| batch.content(*s)).collect();
        assert_eq!(args, [&b"SET"[..], b"k", b"value"]);
        assert_eq!(batch.slice(spans[1].encoded()), b"$1\r\nk\r\n");
        assert_eq!(batch.bytes_of(0..2), batch.byte_len());
    }

    #[test]
    fn a_push_can_be_undone() {
        let mut batch = batch(&["SET a 1"]);
        let mark = batch.mark();
        batch.begin(2);
        batch.arg(b"DEL");
        batch.arg2(b"mqtt:", b"a");
        assert_eq!(batch.len(), 2);
        batch.truncate(mark);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.command_bytes(0).len(), batch.byte_len());
    }

    #[test]
    fn chunks_respect_both_limits_and_take_at_least_one() {
        let batch = batch(&["SET a 1", "SET b 2", "SET c 3", "SET d 4"]);
        assert_eq!(batch.chunk(0, 3, usize::MAX), 0..3);
        assert_eq!(batch.chunk(3, 3, usize::MAX), 3..4);
        assert_eq!(batch.chunk(4, 3, usize::MAX), 4..4);
        let one = batch.bytes_of(0..1);
        assert_eq!(batch.chunk(0, 10, one), 0..1);
        assert_eq!(batch.chunk(1, 10, 1), 1..2);
        assert_eq!(batch.chunk(0, 10, one * 2 + 1), 0..3);
    }

    #[test]
    fn replay_gives_the_commands_back() {
        let batch = batch(&["HMSET h f v", "EXPIRE h 10"]);
        let mut list = CmdList::default();
        batch.replay(1..2, &mut list);
        assert_eq!(words(&list.cmds[0]), ["EXPIRE", "h", "10"]);
    }
}

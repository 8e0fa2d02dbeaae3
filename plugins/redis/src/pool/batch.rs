//! Commands waiting to be written, as one arena of RESP-encoded arguments.
//!
//! Hooks write their commands straight into a pool's arena (see
//! [`super::queue`]): no owned copy of the event, no job object, nothing
//! for the writer to free one by one. Each argument is stored already in
//! the protocol (`$len\r\nbytes\r\n`), so a command that goes out as it
//! came is one copy of one contiguous span; what the coalescer needs to
//! look at (names, keys, members) is found through the argument index.

use std::ops::Range;

use crate::resp::{decimal, CommandSink};

/// One argument: where its `$` header starts and where its content is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgSpan {
    head: u32,
    start: u32,
    end: u32,
}

/// Commands as arguments in one arena.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    args: Vec<ArgSpan>,
    /// Each command's first argument and argument count.
    cmds: Vec<(u32, u32)>,
}

/// Where an arena was before a push, to undo it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    bytes: usize,
    args: usize,
    cmds: usize,
}

/// Offsets are `u32`: an arena stops taking commands before this.
pub(crate) const MAX_ARENA_BYTES: usize = u32::MAX as usize;

impl CommandSink for Batch {
    fn begin(&mut self, _argc: usize) {
        self.cmds.push((self.args.len() as u32, 0));
    }

    fn arg(&mut self, bytes: &[u8]) {
        self.arg2(bytes, b"");
    }

    fn arg2(&mut self, prefix: &[u8], rest: &[u8]) {
        let head = self.bytes.len();
        let mut digits = [0u8; 20];
        self.bytes.push(b'$');
        self.bytes
            .extend_from_slice(decimal((prefix.len() + rest.len()) as u64, &mut digits));
        self.bytes.extend_from_slice(b"\r\n");
        let start = self.bytes.len();
        self.bytes.extend_from_slice(prefix);
        self.bytes.extend_from_slice(rest);
        let end = self.bytes.len();
        self.bytes.extend_from_slice(b"\r\n");
        // Past MAX_ARENA_BYTES these wrap; the queue undoes such a push.
        self.args.push(ArgSpan {
            head: head as u32,
            start: start as u32,
            end: end as u32,
        });
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
            args: self.args.len(),
            cmds: self.cmds.len(),
        }
    }

    /// Drops everything written since `mark`.
    pub(crate) fn truncate(&mut self, mark: Mark) {
        self.bytes.truncate(mark.bytes);
        self.args.truncate(mark.args);
        self.cmds.truncate(mark.cmds);
    }

    /// Empties it. A burst's memory is kept for the next one, unless it is
    /// far beyond what a batch needs.
    pub(crate) fn clear(&mut self) {
        const KEEP_BYTES: usize = 16 << 20;
        self.bytes.clear();
        self.args.clear();
        self.cmds.clear();
        if self.bytes.capacity() > KEEP_BYTES {
            self.bytes.shrink_to(KEEP_BYTES);
            self.args.shrink_to(KEEP_BYTES / 64);
            self.cmds.shrink_to(KEEP_BYTES / 256);
        }
    }

    /// Command `index`'s arguments, as a range of argument indexes.
    pub(crate) fn command(&self, index: usize) -> Range<u32> {
        let (first, count) = self.cmds[index];
        first..first + count
    }

    /// Argument `index`'s content.
    pub(crate) fn arg_at(&self, index: u32) -> &[u8] {
        let span = self.args[index as usize];
        &self.bytes[span.start as usize..span.end as usize]
    }

    /// Arguments `args`, as encoded: one contiguous span.
    pub(crate) fn encoded(&self, args: Range<u32>) -> &[u8] {
        if args.is_empty() {
            return &[];
        }
        let first = self.args[args.start as usize];
        let last = self.args[args.end as usize - 1];
        &self.bytes[first.head as usize..last.end as usize + 2]
    }

    /// Bytes the commands `cmds` take, as encoded.
    pub(crate) fn bytes_of(&self, cmds: Range<usize>) -> usize {
        if cmds.is_empty() {
            return 0;
        }
        let first = self.command(cmds.start).start;
        let last = self.command(cmds.end - 1).end;
        self.encoded(first..last).len()
    }

    /// Writes commands `cmds` again into another sink (a cluster link's
    /// commands, a test's list).
    pub(crate) fn replay(&self, cmds: Range<usize>, out: &mut impl CommandSink) {
        for index in cmds {
            let args = self.command(index);
            out.begin(args.len());
            for arg in args {
                out.arg(self.arg_at(arg));
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
        let start_byte = self.args[self.cmds[from].0 as usize].head as usize;
        // The last command that starts within max_bytes of the first.
        let mut last = from + 1;
        while last < end {
            let head = self.args[self.cmds[last].0 as usize].head as usize;
            if head - start_byte >= max_bytes {
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
        assert_eq!(batch.arg_at(1), b"k");
        assert_eq!(
            batch.encoded(batch.command(0)),
            b"$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
        );
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
        assert_eq!(batch.encoded(batch.command(0)).len(), batch.byte_len());
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

//! Commands waiting to be written, as one arena in the protocol.
//!
//! Hooks write their commands straight into a pool's arena (see
//! [`super::queue`]): no owned copy of the event, no job object, nothing
//! for the writer to free one by one. Each argument is stored already in
//! the protocol (`$len\r\nbytes\r\n`), so a command that goes out as it
//! came is one copy of one contiguous span, and the arena keeps no more
//! than where each command is: the coalescer reads the few arguments it
//! looks at (names, keys, members) back from the bytes.
//!
//! The arena is a list of blocks, not one growing vector: a backlog (Redis
//! slower than the broker) then never copies what it holds to grow, and
//! the blocks of a batch the writer is done with are kept for the next
//! ones instead of going back to the system and faulting in again.

use std::ops::Range;

use crate::resp::{decimal, CommandSink, RespBuf, Word};

/// A block's size; a command larger than that gets a block of its own.
const BLOCK: usize = 256 << 10;
/// Blocks kept for reuse once emptied (the rest are freed).
const KEEP_BLOCKS: usize = 64;

/// Bytes of one block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loc {
    block: u32,
    start: u32,
    end: u32,
}

impl Loc {
    /// Its length.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// The bytes from `from` (an offset within the same block) to its end.
    pub(crate) fn from(&self, from: u32) -> Loc {
        Loc {
            block: self.block,
            start: from.clamp(self.start, self.end),
            end: self.end,
        }
    }

    /// Its last `n` bytes before the last `skip`.
    pub(crate) fn tail(&self, n: usize, skip: usize) -> Loc {
        let end = self.end.saturating_sub(skip as u32).max(self.start);
        Loc {
            block: self.block,
            start: end.saturating_sub(n as u32).max(self.start),
            end,
        }
    }
}

/// One argument of a command read back: where its `$` header starts and
/// where its content is, within the command's block.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ArgSpan {
    block: u32,
    /// The header's first byte.
    pub(crate) head: u32,
    start: u32,
    end: u32,
}

impl ArgSpan {
    /// The whole argument as encoded: header, content, `\r\n`.
    #[cfg(test)]
    pub(crate) fn encoded(&self) -> Loc {
        Loc {
            block: self.block,
            start: self.head,
            end: self.end + 2,
        }
    }
}

/// One command: where its encoded arguments are, and how many.
#[derive(Debug, Clone, Copy)]
struct Cmd {
    block: u32,
    start: u32,
    end: u32,
    argc: u32,
    /// Queued commands it stands for: more than one once the writer has
    /// joined the message path's (see [`super::unpack`]).
    carries: u32,
}

/// Commands in one arena.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    blocks: Vec<Vec<u8>>,
    cmds: Vec<Cmd>,
    /// Emptied blocks, for reuse.
    spare: Vec<Vec<u8>>,
    /// Bytes held.
    len: usize,
}

/// Where an arena was before a push, to undo it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    blocks: usize,
    last_len: usize,
    cmds: usize,
    len: usize,
}

/// Offsets within a block are `u32`: no command may pass this.
pub(crate) const MAX_COMMAND_BYTES: usize = u32::MAX as usize;

/// The argument count that marks an entry as a packed event (see
/// [`super::record`]) rather than a command.
const RECORD: u32 = u32::MAX;

impl CommandSink for Batch {
    fn begin(&mut self, _argc: usize) {
        let block = self.blocks.len().saturating_sub(1) as u32;
        let at = self.blocks.last().map_or(0, Vec::len) as u32;
        self.cmds.push(Cmd {
            block,
            start: at,
            end: at,
            argc: 0,
            carries: 1,
        });
    }

    #[inline]
    fn arg(&mut self, bytes: &[u8]) {
        self.arg2(bytes, b"");
    }

    #[inline]
    fn word(&mut self, word: Word) {
        self.room(word.encoded.len());
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        block.extend_from_slice(word.encoded);
        let end = block.len();
        self.len += word.encoded.len();
        if let Some(cmd) = self.cmds.last_mut() {
            cmd.end = end as u32;
            cmd.argc += 1;
        }
    }

    #[inline]
    fn arg2(&mut self, prefix: &[u8], rest: &[u8]) {
        let len = prefix.len() + rest.len();
        let need = len + 24;
        self.room(need);
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        let before = block.len();
        let mut digits = [0u8; 20];
        block.push(b'$');
        block.extend_from_slice(decimal(len as u64, &mut digits));
        block.extend_from_slice(b"\r\n");
        block.extend_from_slice(prefix);
        block.extend_from_slice(rest);
        block.extend_from_slice(b"\r\n");
        let end = block.len();
        self.len += end - before;
        if let Some(cmd) = self.cmds.last_mut() {
            cmd.end = end as u32;
            cmd.argc += 1;
        }
    }
}

impl Batch {
    /// Makes sure the current command can grow by `need` bytes without its
    /// block growing: else it moves to a new block.
    #[inline]
    fn room(&mut self, need: usize) {
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= need);
        if !fits {
            self.new_block(need);
        }
    }

    /// Moves the current command to a new block with room for `need` more
    /// bytes.
    fn new_block(&mut self, need: usize) {
        // The command so far moves along: a command is never split.
        let (so_far, start) = match (self.cmds.last(), self.blocks.last()) {
            (Some(cmd), Some(block)) if cmd.block as usize + 1 == self.blocks.len() => {
                (block.len() - cmd.start as usize, cmd.start as usize)
            }
            _ => (0, 0),
        };
        // A command outgrowing a block (the joined adds of a batch) gets
        // room to double, not just the next argument's: else it would
        // move again at every argument.
        let size = if so_far > 0 {
            BLOCK.max((so_far + need).saturating_mul(2))
        } else {
            BLOCK.max(need)
        };
        let mut block = match self.spare.pop() {
            Some(b) if b.capacity() >= size => b,
            _ => Vec::with_capacity(size),
        };
        block.clear();
        if so_far > 0 {
            if let Some(old) = self.blocks.last_mut() {
                block.extend_from_slice(&old[start..]);
                old.truncate(start);
            }
        }
        self.blocks.push(block);
        if let Some(cmd) = self.cmds.last_mut() {
            if so_far > 0 || cmd.start == cmd.end {
                cmd.block = (self.blocks.len() - 1) as u32;
                cmd.start = 0;
                cmd.end = so_far as u32;
            }
        }
    }

    /// Stores a packed event (see [`super::record`]): `parts`, one after
    /// another, as one entry.
    pub(crate) fn record(&mut self, parts: &[&[u8]]) {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        self.begin(0);
        self.room(len);
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        for part in parts {
            block.extend_from_slice(part);
        }
        let end = block.len();
        self.len += len;
        if let Some(cmd) = self.cmds.last_mut() {
            cmd.end = end as u32;
            cmd.argc = RECORD;
        }
    }

    /// Entry `index`'s packed event, or None when it is a command.
    pub(crate) fn record_bytes(&self, index: usize) -> Option<&[u8]> {
        let cmd = self.cmds.get(index)?;
        (cmd.argc == RECORD).then(|| self.bytes(&self.command_bytes(index)))
    }

    /// Appends command `index` of `from` (a command, not a packed event).
    pub(crate) fn copy_command(&mut self, from: &Batch, index: usize) {
        let Some(cmd) = from.cmds.get(index) else {
            return;
        };
        let bytes = from.bytes(&from.command_bytes(index));
        self.begin(0);
        self.room(bytes.len());
        let Some(block) = self.blocks.last_mut() else {
            return;
        };
        block.extend_from_slice(bytes);
        let end = block.len();
        self.len += bytes.len();
        if let Some(last) = self.cmds.last_mut() {
            last.end = end as u32;
            last.argc = cmd.argc;
            last.carries = cmd.carries;
        }
    }

    /// Commands held (entries, packed events included).
    pub(crate) fn len(&self) -> usize {
        self.cmds.len()
    }

    /// Whether it holds none.
    pub(crate) fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    /// Bytes held, arguments as encoded.
    pub(crate) fn byte_len(&self) -> usize {
        self.len
    }

    /// Where it is now.
    pub(crate) fn mark(&self) -> Mark {
        Mark {
            blocks: self.blocks.len(),
            last_len: self.blocks.last().map_or(0, Vec::len),
            cmds: self.cmds.len(),
            len: self.len,
        }
    }

    /// Drops everything written since `mark`.
    pub(crate) fn truncate(&mut self, mark: Mark) {
        while self.blocks.len() > mark.blocks {
            if let Some(block) = self.blocks.pop() {
                self.keep(block);
            }
        }
        if let Some(last) = self.blocks.last_mut() {
            last.truncate(mark.last_len);
        }
        self.cmds.truncate(mark.cmds);
        self.len = mark.len;
    }

    fn keep(&mut self, mut block: Vec<u8>) {
        if self.spare.len() < KEEP_BLOCKS && block.capacity() <= BLOCK * 4 {
            block.clear();
            self.spare.push(block);
        }
    }

    /// Empties it, keeping its blocks (up to a bound) for the next
    /// commands.
    pub(crate) fn clear(&mut self) {
        let blocks = std::mem::take(&mut self.blocks);
        for block in blocks {
            self.keep(block);
        }
        self.cmds.clear();
        if self.cmds.capacity() > BLOCK {
            self.cmds.shrink_to(BLOCK);
        }
        self.len = 0;
    }

    /// Where command `index`'s arguments are, encoded.
    pub(crate) fn command_bytes(&self, index: usize) -> Loc {
        let cmd = self.cmds[index];
        Loc {
            block: cmd.block,
            start: cmd.start,
            end: cmd.end,
        }
    }

    /// Each command from `from` on stands for `carries` queued commands.
    pub(crate) fn set_carries_from(&mut self, from: usize, carries: usize) {
        let carries = u32::try_from(carries).unwrap_or(u32::MAX);
        for cmd in self.cmds.iter_mut().skip(from) {
            cmd.carries = carries;
        }
    }

    /// Queued commands command `index` stands for.
    pub(crate) fn carries(&self, index: usize) -> u32 {
        self.cmds.get(index).map_or(0, |c| c.carries)
    }

    /// Queued commands commands `cmds` stand for.
    pub(crate) fn carried(&self, cmds: Range<usize>) -> usize {
        self.cmds
            .get(cmds)
            .unwrap_or_default()
            .iter()
            .map(|c| c.carries as usize)
            .sum()
    }

    /// Command `index`'s argument count.
    pub(crate) fn argc(&self, index: usize) -> usize {
        self.cmds[index].argc as usize
    }

    /// Bytes of the arena.
    pub(crate) fn bytes(&self, loc: &Loc) -> &[u8] {
        self.blocks
            .get(loc.block as usize)
            .and_then(|b| b.get(loc.start as usize..loc.end as usize))
            .unwrap_or_default()
    }

    /// Reads command `index`'s first `max` arguments back into `spans`.
    pub(crate) fn parse(&self, index: usize, max: usize, spans: &mut Vec<ArgSpan>) {
        spans.clear();
        let loc = self.command_bytes(index);
        let bytes = self.bytes(&loc);
        let base = loc.start as usize;
        let mut at = 0;
        while at < bytes.len() && spans.len() < max {
            // `$` digits `\r\n` content `\r\n`, as `arg2` wrote it.
            let mut len = 0usize;
            let mut i = at + 1;
            while let Some(&digit) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
                len = len * 10 + usize::from(digit - b'0');
                i += 1;
            }
            let start = i + 2;
            let end = start + len;
            if end + 2 > bytes.len() {
                return;
            }
            spans.push(ArgSpan {
                block: loc.block,
                head: (base + at) as u32,
                start: (base + start) as u32,
                end: (base + end) as u32,
            });
            at = end + 2;
        }
    }

    /// An argument's content.
    pub(crate) fn content(&self, span: ArgSpan) -> &[u8] {
        self.bytes(&Loc {
            block: span.block,
            start: span.start,
            end: span.end,
        })
    }

    /// Bytes the commands `cmds` take, as encoded.
    pub(crate) fn bytes_of(&self, cmds: Range<usize>) -> usize {
        self.cmds
            .get(cmds)
            .unwrap_or_default()
            .iter()
            .map(|c| (c.end - c.start) as usize)
            .sum()
    }

    /// Encodes commands `cmds` as they are into `out`.
    pub(crate) fn encode_into(&self, cmds: Range<usize>, out: &mut RespBuf) {
        out.reserve(self.bytes_of(cmds.clone()) + cmds.len() * 8);
        for cmd in self.cmds.get(cmds).unwrap_or_default() {
            out.begin_carrying(cmd.argc as usize, cmd.carries);
            out.raw(self.bytes(&Loc {
                block: cmd.block,
                start: cmd.start,
                end: cmd.end,
            }));
        }
    }

    /// Writes commands `cmds` again into another sink (a cluster link's
    /// commands, a test's list).
    pub(crate) fn replay(&self, cmds: Range<usize>, out: &mut impl CommandSink) {
        let mut spans = Vec::new();
        for index in cmds {
            self.parse(index, usize::MAX, &mut spans);
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
        let mut bytes = 0;
        let mut last = from;
        while last < end {
            bytes += (self.cmds[last].end - self.cmds[last].start) as usize;
            last += 1;
            if bytes >= max_bytes {
                break;
            }
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
            batch.bytes(&batch.command_bytes(0)),
            b"$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n"
        );
        let mut spans = Vec::new();
        batch.parse(0, usize::MAX, &mut spans);
        let args: Vec<&[u8]> = spans.iter().map(|s| batch.content(*s)).collect();
        assert_eq!(args, [&b"SET"[..], b"k", b"value"]);
        assert_eq!(batch.bytes(&spans[1].encoded()), b"$1\r\nk\r\n");
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
    fn commands_never_straddle_blocks_and_blocks_are_reused() {
        let mut batch = Batch::default();
        let value = vec![b'v'; 1000];
        for i in 0..1000 {
            batch.begin(3);
            batch.arg(b"SET");
            batch.arg(format!("key{i}").as_bytes());
            batch.arg(&value);
        }
        let big = vec![b'b'; BLOCK * 5];
        batch.begin(2);
        batch.arg(b"SET");
        batch.arg(&big);
        assert!(batch.blocks.len() > 4);
        let mut spans = Vec::new();
        for i in 0..1000 {
            batch.parse(i, usize::MAX, &mut spans);
            assert_eq!(spans.len(), 3);
            assert_eq!(batch.content(spans[1]), format!("key{i}").as_bytes());
            assert_eq!(batch.content(spans[2]), &value[..]);
        }
        batch.parse(1000, 2, &mut spans);
        assert_eq!(batch.content(spans[1]).len(), BLOCK * 5);
        let total: usize = (0..batch.len()).map(|i| batch.command_bytes(i).len()).sum();
        assert_eq!(total, batch.byte_len());

        let blocks = batch.blocks.len();
        batch.clear();
        assert!(batch.is_empty());
        assert_eq!(
            batch.spare.len(),
            blocks - 1,
            "all but the oversized block kept"
        );
        batch.begin(1);
        batch.arg(b"PING");
        assert_eq!(batch.spare.len(), blocks - 2);
    }

    #[test]
    fn an_undone_push_leaves_the_blocks_as_they_were() {
        let mut batch = Batch::default();
        let value = vec![b'v'; BLOCK - 100];
        batch.begin(2);
        batch.arg(b"SET");
        batch.arg(&value);
        let mark = batch.mark();
        batch.begin(2);
        batch.arg(b"SET");
        batch.arg(&value);
        assert_eq!(batch.blocks.len(), 2);
        batch.truncate(mark);
        assert_eq!((batch.len(), batch.blocks.len()), (1, 1));
        assert_eq!(batch.bytes_of(0..1), batch.byte_len());
        batch.begin(1);
        batch.arg(b"PING");
        let mut spans = Vec::new();
        batch.parse(1, usize::MAX, &mut spans);
        assert_eq!(batch.content(spans[0]), b"PING");
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

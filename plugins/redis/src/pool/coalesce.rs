//! Coalescing a batch before it goes to one server: `DEL`s become one
//! `DEL` of many keys, and `ZADD`s (or `ZREM`s) on one sorted set become
//! one `ZADD` (`ZREM`) of many members.
//!
//! Redis spends about half a microsecond on every command beyond its work
//! (parsing, dispatch, the reply), as much as a `DEL` itself, and one
//! Redis is what bounds the plugin: storing and consuming a QoS 1 message
//! is five commands, three of which coalesce across the messages of a
//! batch.
//!
//! A command joins an earlier one only if nothing between them touches
//! what it touches, so per key the order of effects is unchanged (a
//! message's ack never lands before its store): a `DEL` of `k` joins the
//! open `DEL` when no later command touched `k`; a `ZADD k s m` joins the
//! open `ZADD` on `k` when no later command touched `k` as a whole (an
//! `EXPIRE k`, a `DEL k`) or member `m` (a `ZREM k m`). Adds and removes of
//! different members commute, so they may pass each other. A command whose
//! keys we cannot tell (any name not known here) closes every open command.
//! Only for single and sentinel pools: on a cluster a multi-key `DEL` must
//! stay within one slot.

use std::hash::{BuildHasher, RandomState};

use crate::resp::{CommandSink, RespBuf};

/// A batch's commands as arguments in one arena, to coalesce before
/// encoding.
#[derive(Default)]
pub(crate) struct Batch {
    bytes: Vec<u8>,
    /// Each argument's range in `bytes`.
    args: Vec<(u32, u32)>,
    /// Each command's first argument and argument count.
    cmds: Vec<(u32, u32)>,
    /// Kept from batch to batch for its memory.
    touched: Touched,
}

impl CommandSink for Batch {
    fn begin(&mut self, _argc: usize) {
        self.cmds.push((self.args.len() as u32, 0));
    }

    fn arg(&mut self, bytes: &[u8]) {
        self.arg2(bytes, b"");
    }

    fn arg2(&mut self, prefix: &[u8], rest: &[u8]) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(prefix);
        self.bytes.extend_from_slice(rest);
        self.args.push((start, self.bytes.len() as u32));
        if let Some(cmd) = self.cmds.last_mut() {
            cmd.1 += 1;
        }
    }
}

/// What a command does to the keys it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    /// `DEL`/`UNLINK`: every argument is a key, removed whole.
    Del,
    /// `ZADD key score member ...` without options.
    ZAdd,
    /// `ZREM key member ...`.
    ZRem,
    /// A command on its first argument's key as a whole.
    Keyed,
    /// Anything else: its keys are not known here.
    Unknown,
}

/// Commands known to name one key, first, and nothing else.
const KEYED: &[&[u8]] = &[
    b"APPEND",
    b"DECR",
    b"DECRBY",
    b"EXPIRE",
    b"EXPIREAT",
    b"GETDEL",
    b"GETSET",
    b"HDEL",
    b"HINCRBY",
    b"HMSET",
    b"HSET",
    b"HSETNX",
    b"INCR",
    b"INCRBY",
    b"LPUSH",
    b"LREM",
    b"LTRIM",
    b"PERSIST",
    b"PEXPIRE",
    b"PEXPIREAT",
    b"RPUSH",
    b"SADD",
    b"SET",
    b"SETEX",
    b"SETNX",
    b"SREM",
    b"ZINCRBY",
    b"ZREMRANGEBYLEX",
    b"ZREMRANGEBYRANK",
    b"ZREMRANGEBYSCORE",
];

fn shape(args: &[&[u8]]) -> Shape {
    let Some(name) = args.first() else {
        return Shape::Unknown;
    };
    // What the functions write, spelled as they spell it, first.
    match *name {
        b"HMSET" | b"EXPIRE" | b"ZREMRANGEBYLEX" if args.len() >= 2 => return Shape::Keyed,
        b"DEL" if args.len() >= 2 => return Shape::Del,
        b"ZREM" if args.len() >= 3 => return Shape::ZRem,
        _ => {}
    }
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    if (is(b"DEL") || is(b"UNLINK")) && args.len() >= 2 {
        Shape::Del
    } else if is(b"ZADD") && args.len() >= 4 && args.len().is_multiple_of(2) && is_score(args[2]) {
        Shape::ZAdd
    } else if is(b"ZREM") && args.len() >= 3 {
        Shape::ZRem
    } else if args.len() >= 2 && KEYED.iter().any(|k| is(k)) {
        Shape::Keyed
    } else {
        Shape::Unknown
    }
}

/// A plain number, not an option such as `NX` (or `inf`, kept apart).
fn is_score(arg: &[u8]) -> bool {
    matches!(arg.first(), Some(b'0'..=b'9' | b'-' | b'+' | b'.'))
}

/// Who touched what last, by 64-bit hash: keys, and sorted-set members
/// (hashed with their key). Two names with one hash look like one, which
/// only keeps a command from joining: never wrong, and with a seed drawn
/// per batch from std's random source, keys chosen by clients cannot be
/// made to collide on purpose. Open addressing over a flat array, sized
/// for the batch: this runs for every command the plugin writes.
#[derive(Default)]
struct Touched {
    slots: Vec<Slot>,
    mask: usize,
    /// Slots taken.
    len: usize,
    seed: u64,
}

/// What a name's last commands were, as indexes into the output.
#[derive(Clone, Copy)]
struct Slot {
    /// The name's hash; 0 marks an empty slot.
    hash: u64,
    /// The last command on it (for a member: on that member).
    any: u32,
    /// The last command on the key as a whole, not on members.
    whole: u32,
    /// The open `ZADD` and `ZREM` on the key.
    zadd: u32,
    zrem: u32,
}

const NONE: u32 = u32::MAX;
const EMPTY: Slot = Slot {
    hash: 0,
    any: NONE,
    whole: NONE,
    zadd: NONE,
    zrem: NONE,
};
const MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

fn mix(state: u64, word: u64) -> u64 {
    let product = u128::from(state ^ word) * u128::from(MULTIPLIER);
    (product as u64) ^ ((product >> 64) as u64)
}

impl Touched {
    /// Empties it for a batch of about `names` names.
    fn reset(&mut self, names: usize) {
        let size = (names * 2).next_power_of_two().max(64);
        self.slots.clear();
        self.slots.resize(size, EMPTY);
        self.mask = size - 1;
        self.len = 0;
        self.seed = RandomState::new().hash_one(0x6d71_686f_7374u64);
    }

    /// Twice the slots, when half are taken.
    fn grow(&mut self) {
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; (self.mask + 1) * 2]);
        self.mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| s.hash != 0) {
            let mut at = slot.hash as usize & self.mask;
            while self.slots[at].hash != 0 {
                at = (at + 1) & self.mask;
            }
            self.slots[at] = slot;
        }
    }

    fn hash(&self, bytes: &[u8], within: u64) -> u64 {
        let mut state = mix(self.seed, within ^ bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            state = mix(state, u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        let mut word = [0u8; 8];
        word[..rest.len()].copy_from_slice(rest);
        mix(state, u64::from_le_bytes(word)) | 1
    }

    /// The slot of a key.
    fn key(&mut self, key: &[u8]) -> &mut Slot {
        let hash = self.hash(key, 0);
        self.slot(hash)
    }

    /// The slot of a sorted-set member.
    fn member(&mut self, key: &[u8], member: &[u8]) -> &mut Slot {
        let within = self.hash(key, 0);
        let hash = self.hash(member, within);
        self.slot(hash)
    }

    fn slot(&mut self, hash: u64) -> &mut Slot {
        if self.len * 2 >= self.slots.len() {
            self.grow();
        }
        let mut at = hash as usize & self.mask;
        while self.slots[at].hash != hash && self.slots[at].hash != 0 {
            at = (at + 1) & self.mask;
        }
        if self.slots[at].hash == 0 {
            self.len += 1;
        }
        let slot = &mut self.slots[at];
        slot.hash = hash;
        slot
    }
}

/// One command as it will go out: a source command, then the arguments
/// of the commands that joined it.
struct Out {
    cmd: usize,
    joined: Vec<u32>,
    /// Commands it carries.
    carries: u32,
}

impl Batch {
    /// Empties it, keeping its memory.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.args.clear();
        self.cmds.clear();
    }

    /// Encodes the batch, coalesced, into `out`.
    pub(crate) fn encode(&mut self, out: &mut RespBuf) {
        let Batch {
            bytes,
            args: ranges,
            cmds,
            touched,
        } = self;
        let arg = |index: u32| {
            let (start, end) = ranges[index as usize];
            &bytes[start as usize..end as usize]
        };
        let n = cmds.len();
        let mut outs: Vec<Out> = Vec::with_capacity(n);
        // A key a command, and a few members.
        touched.reset(n + n / 2);
        // Output commands before this one may not be joined: a command
        // whose keys are unknown went out here.
        let mut barrier = 0u32;
        let mut open_del = NONE;
        let mut args: Vec<&[u8]> = Vec::new();
        for (index, &(first, count)) in cmds.iter().enumerate() {
            args.clear();
            args.extend((first..first + count).map(arg));
            let next = outs.len() as u32;
            match shape(&args) {
                Shape::Unknown => {
                    outs.push(Out::of(index));
                    barrier = next + 1;
                    open_del = NONE;
                }
                Shape::Keyed => {
                    outs.push(Out::of(index));
                    let slot = touched.key(args[1]);
                    slot.any = next;
                    slot.whole = next;
                }
                Shape::Del => {
                    let joins = open_del != NONE
                        && args[1..].iter().all(|k| {
                            let any = touched.key(k).any;
                            any == NONE || any <= open_del
                        });
                    let target = if joins {
                        outs[open_del as usize].join(first + 1..first + count);
                        open_del
                    } else {
                        outs.push(Out::of(index));
                        open_del = next;
                        next
                    };
                    for key in &args[1..] {
                        let slot = touched.key(key);
                        slot.any = target;
                        slot.whole = target;
                    }
                }
                shape @ (Shape::ZAdd | Shape::ZRem) => {
                    let key = args[1];
                    // ZADD's members follow their scores.
                    let step = if shape == Shape::ZAdd { 2 } else { 1 };
                    let members = args[2..].iter().skip(step - 1).step_by(step);
                    let state = *touched.key(key);
                    let open = if shape == Shape::ZAdd {
                        state.zadd
                    } else {
                        state.zrem
                    };
                    let joins = open != NONE
                        && open >= barrier
                        && (state.whole == NONE || state.whole < open)
                        && members.clone().all(|m| {
                            let any = touched.member(key, m).any;
                            any == NONE || any <= open
                        });
                    let target = if joins {
                        outs[open as usize].join(first + 2..first + count);
                        open
                    } else {
                        outs.push(Out::of(index));
                        next
                    };
                    for member in members {
                        touched.member(key, member).any = target;
                    }
                    let slot = touched.key(key);
                    slot.any = if slot.any == NONE {
                        target
                    } else {
                        slot.any.max(target)
                    };
                    if shape == Shape::ZAdd {
                        slot.zadd = target;
                    } else {
                        slot.zrem = target;
                    }
                }
            }
        }
        out.reserve(bytes.len() + ranges.len() * 16);
        for o in &outs {
            let (first, count) = cmds[o.cmd];
            out.begin_carrying(count as usize + o.joined.len(), o.carries);
            for a in first..first + count {
                out.arg(arg(a));
            }
            for &a in &o.joined {
                out.arg(arg(a));
            }
        }
    }
}

impl Out {
    fn of(cmd: usize) -> Out {
        Out {
            cmd,
            joined: Vec::new(),
            carries: 1,
        }
    }

    fn join(&mut self, args: std::ops::Range<u32>) {
        self.joined.extend(args);
        self.carries += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The commands of a RESP buffer, arguments as text.
    fn commands(buf: &RespBuf) -> Vec<String> {
        let text = String::from_utf8(buf.bytes().to_vec()).unwrap();
        let mut lines = text.split("\r\n");
        let mut out = Vec::new();
        while let Some(header) = lines.next().filter(|l| !l.is_empty()) {
            let argc: usize = header[1..].parse().unwrap();
            let words: Vec<&str> = (0..argc)
                .map(|_| {
                    lines.next().unwrap();
                    lines.next().unwrap()
                })
                .collect();
            out.push(words.join(" "));
        }
        out
    }

    fn coalesce(input: &[&str]) -> (Vec<String>, usize) {
        let mut batch = Batch::default();
        for command in input {
            let words: Vec<&str> = command.split(' ').collect();
            batch.begin(words.len());
            for word in words {
                batch.arg(word.as_bytes());
            }
        }
        let mut buf = RespBuf::new();
        batch.encode(&mut buf);
        (commands(&buf), buf.carried(buf.len()))
    }

    #[test]
    fn stores_and_acks_of_a_batch_coalesce_in_key_order() {
        let (out, carried) = coalesce(&[
            "HMSET mqtt:msg:1 id 1 payload a",
            "EXPIRE mqtt:msg:1 3600",
            "ZADD mqtt:msg:t 1 1",
            "HMSET mqtt:msg:2 id 2 payload b",
            "EXPIRE mqtt:msg:2 3600",
            "ZADD mqtt:msg:t 1 2",
            "DEL mqtt:msg:1",
            "ZREM mqtt:msg:t 1",
            "DEL mqtt:msg:2",
            "ZREM mqtt:msg:t 2",
        ]);
        assert_eq!(
            out,
            [
                "HMSET mqtt:msg:1 id 1 payload a",
                "EXPIRE mqtt:msg:1 3600",
                "ZADD mqtt:msg:t 1 1 1 2",
                "HMSET mqtt:msg:2 id 2 payload b",
                "EXPIRE mqtt:msg:2 3600",
                "DEL mqtt:msg:1 mqtt:msg:2",
                "ZREM mqtt:msg:t 1 2",
            ]
        );
        assert_eq!(carried, 10);
    }

    #[test]
    fn a_delete_never_passes_a_write_of_its_key() {
        let (out, _) = coalesce(&["DEL a", "HMSET b f v", "DEL b", "DEL c"]);
        assert_eq!(out, ["DEL a", "HMSET b f v", "DEL b c"]);
    }

    #[test]
    fn a_member_added_again_after_its_removal_stays_after_it() {
        let (out, _) = coalesce(&["ZADD t 1 a", "ZREM t a", "ZADD t 1 a"]);
        assert_eq!(out, ["ZADD t 1 a", "ZREM t a", "ZADD t 1 a"]);
    }

    #[test]
    fn adds_and_removes_of_other_members_pass_each_other() {
        let (out, _) = coalesce(&["ZADD t 1 a", "ZREM t a", "ZADD t 1 b", "ZREM t c"]);
        assert_eq!(out, ["ZADD t 1 a 1 b", "ZREM t a c"]);
    }

    #[test]
    fn a_command_on_the_whole_set_keeps_members_on_their_side() {
        let (out, _) = coalesce(&["ZADD t 1 a", "EXPIRE t 10", "ZADD t 1 b"]);
        assert_eq!(out, ["ZADD t 1 a", "EXPIRE t 10", "ZADD t 1 b"]);
        let (out, _) = coalesce(&["ZADD t 1 a", "DEL x", "DEL t", "ZADD t 1 b", "DEL y"]);
        assert_eq!(out, ["ZADD t 1 a", "DEL x t y", "ZADD t 1 b"]);
    }

    #[test]
    fn a_command_with_unknown_keys_closes_everything_before_it() {
        let (out, _) = coalesce(&["DEL a", "ZADD t 1 a", "EVAL x 0", "DEL b", "ZADD t 1 b"]);
        assert_eq!(
            out,
            ["DEL a", "ZADD t 1 a", "EVAL x 0", "DEL b", "ZADD t 1 b"]
        );
    }

    #[test]
    fn raw_commands_in_any_case_coalesce_and_options_do_not() {
        let (out, _) = coalesce(&["del a", "Del b", "ZADD t NX 1 a", "ZADD t 1 b"]);
        assert_eq!(out, ["del a b", "ZADD t NX 1 a", "ZADD t 1 b"]);
    }

    #[test]
    fn large_batches_grow_the_table() {
        let input: Vec<String> = (0..5000)
            .flat_map(|i| [format!("HMSET m{i} f v"), format!("ZADD t 1 m{i}")])
            .chain((0..5000).flat_map(|i| [format!("DEL m{i}"), format!("ZREM t m{i}")]))
            .collect();
        let refs: Vec<&str> = input.iter().map(String::as_str).collect();
        let (out, carried) = coalesce(&refs);
        assert_eq!(carried, 20_000);
        // Every store, one ZADD, one DEL, one ZREM.
        assert_eq!(out.len(), 5000 + 3);
    }
}

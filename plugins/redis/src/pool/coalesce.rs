//! Coalescing a batch before it goes to one server: `DEL`s become one
//! `DEL` of many keys, `ZADD`s (or `ZREM`s) on one sorted set become one
//! `ZADD` (`ZREM`) of many members, and of the `EXPIRE`s (or index trims)
//! of one key only the last is sent.
//!
//! Redis spends about half a microsecond on every command beyond its work
//! (parsing, dispatch, the reply), as much as a `DEL` itself, and one
//! Redis is what bounds the plugin: storing and consuming a QoS 1 message
//! is seven commands, five of which coalesce across the messages of a
//! batch.
//!
//! A command joins an earlier one only if nothing between them touches
//! what it touches, so per key the order of effects is unchanged (a
//! message's ack never lands before its store): a `DEL` of `k` joins the
//! open `DEL` when no later command touched `k`; a `ZADD k s m` joins the
//! open `ZADD` on `k` when no later command touched `k` as a whole (a
//! `DEL k`, an `HMSET k`) or member `m` (a `ZREM k m`). Adds and removes of
//! different members commute, so they may pass each other, and they may
//! pass an `EXPIRE k` or a trim of `k`: each `ZADD` is followed by its own
//! `EXPIRE`, so the key still gets its time to live after its last
//! creation, and a trim only removes ids whose hashes have expired, which
//! the index must not keep anyway.
//!
//! An `EXPIRE k n` makes an earlier `EXPIRE k` of the batch pointless when
//! nothing but members were written to `k` in between: the earlier one is
//! dropped (its reply counted with the later). So is an index trim
//! (`ZREMRANGEBYLEX mqtt:msg:<topic> - (<id>`) followed by one whose
//! cutoff is not earlier.
//!
//! A command whose keys we cannot tell (any name not known here) closes
//! every open command. Only for single and sentinel pools: on a cluster a
//! multi-key `DEL` must stay within one slot.

use std::hash::{BuildHasher, RandomState};
use std::ops::Range;

use super::batch::{ArgSpan, Batch, Loc};
use crate::resp::RespBuf;

/// What a command does to the keys it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Shape {
    /// `DEL`/`UNLINK`: every argument is a key, removed whole.
    Del,
    /// `ZADD key score member ...` without options.
    ZAdd,
    /// `ZREM key member ...`.
    ZRem,
    /// `EXPIRE key seconds`, without options.
    Expire,
    /// `ZREMRANGEBYLEX mqtt:msg:<topic> - (<id>`: the index trim.
    Trim,
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

/// Arguments [`shape`] looks at.
const SHAPE_ARGS: usize = 4;

/// The index trim's cutoff: `(` and a 22-character id.
const TRIM_CUTOFF_LEN: usize = 23;

/// The shape of a command of `argc` arguments, of which `args` holds at
/// least the first [`SHAPE_ARGS`].
fn shape(batch: &Batch, argc: usize, args: &[ArgSpan]) -> Shape {
    if args.len() < argc.min(SHAPE_ARGS) {
        return Shape::Unknown;
    }
    let Some(&name) = args.first() else {
        return Shape::Unknown;
    };
    let name = batch.content(name);
    let arg = |i: usize| batch.content(args[i]);
    // What the functions write, spelled as they spell it, first.
    match name {
        b"HMSET" if argc >= 2 => return Shape::Keyed,
        b"EXPIRE" if argc == 3 && is_count(arg(2)) => return Shape::Expire,
        b"ZREMRANGEBYLEX" if argc == 4 && is_trim(arg(1), arg(2), arg(3)) => return Shape::Trim,
        b"DEL" if argc >= 2 => return Shape::Del,
        b"ZREM" if argc >= 3 => return Shape::ZRem,
        _ => {}
    }
    let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
    if (is(b"DEL") || is(b"UNLINK")) && argc >= 2 {
        Shape::Del
    } else if is(b"ZADD") && argc >= 4 && argc.is_multiple_of(2) && is_score(arg(2)) {
        Shape::ZAdd
    } else if is(b"ZREM") && argc >= 3 {
        Shape::ZRem
    } else if argc >= 2 && KEYED.iter().any(|k| is(k)) {
        Shape::Keyed
    } else {
        Shape::Unknown
    }
}

/// A plain number, not an option such as `NX` (or `inf`, kept apart).
fn is_score(arg: &[u8]) -> bool {
    matches!(arg.first(), Some(b'0'..=b'9' | b'-' | b'+' | b'.'))
}

/// Digits only.
fn is_count(arg: &[u8]) -> bool {
    !arg.is_empty() && arg.iter().all(u8::is_ascii_digit)
}

/// The index trim the publish function writes, and nothing like it.
fn is_trim(key: &[u8], min: &[u8], max: &[u8]) -> bool {
    key.starts_with(crate::functions::message::MSG_PREFIX)
        && min == b"-"
        && max.len() == TRIM_CUTOFF_LEN
        && max[0] == b'('
        && max[1..].iter().all(u8::is_ascii_alphanumeric)
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
    /// The last command on the key as a whole, not on members (an
    /// `EXPIRE` or a trim aside).
    whole: u32,
    /// The open `ZADD` and `ZREM` on the key.
    zadd: u32,
    zrem: u32,
    /// The last `EXPIRE` and trim of the key.
    expire: u32,
    trim: u32,
}

const NONE: u32 = u32::MAX;
const EMPTY: Slot = Slot {
    hash: 0,
    any: NONE,
    whole: NONE,
    zadd: NONE,
    zrem: NONE,
    expire: NONE,
    trim: NONE,
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

    /// The slot of a sorted-set member of the key whose hash is `key`.
    fn member(&mut self, key: u64, member: &[u8]) -> &mut Slot {
        let hash = self.hash(member, key);
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
    /// The source command's arguments, encoded, in the arena.
    bytes: Loc,
    /// Arguments in all.
    argc: u32,
    /// Source commands it carries.
    carries: u32,
    /// The first and last of its joins (indexes into `joins`).
    first_join: u32,
    last_join: u32,
    /// Made pointless by a later command, which carries it.
    dropped: bool,
}

/// Arguments joined to an output command, and the next join of that
/// command: a list per command in one vector, so a batch allocates
/// nothing once its vectors have grown.
struct Join {
    /// The arguments, encoded, in the arena.
    bytes: Loc,
    next: u32,
}

/// Coalesces batches; keeps its memory from batch to batch.
#[derive(Default)]
pub(crate) struct Coalescer {
    touched: Touched,
    outs: Vec<Out>,
    joins: Vec<Join>,
    /// The arguments of the command at hand.
    spans: Vec<ArgSpan>,
}

impl Out {
    fn of(bytes: Loc, argc: usize, carries: u32) -> Out {
        Out {
            argc: argc as u32,
            bytes,
            carries,
            first_join: NONE,
            last_join: NONE,
            dropped: false,
        }
    }
}

impl Coalescer {
    /// Appends arguments `args` of the command at hand to output command
    /// `target`.
    fn join(
        &mut self,
        target: u32,
        spans: &[ArgSpan],
        args: Range<usize>,
        command: &Loc,
        carries: u32,
    ) {
        let at = self.joins.len() as u32;
        let count = args.len() as u32;
        let bytes = match spans.get(args.start) {
            Some(first) => command.from(first.head),
            None => command.from(u32::MAX),
        };
        self.joins.push(Join { bytes, next: NONE });
        let out = &mut self.outs[target as usize];
        if out.last_join == NONE {
            out.first_join = at;
        } else {
            self.joins[out.last_join as usize].next = at;
        }
        out.last_join = at;
        out.argc += count;
        out.carries += carries;
    }

    /// Output command `earlier` is superseded by `later`, which now carries
    /// it.
    fn drop_for(&mut self, earlier: u32, later: u32) {
        let carried = {
            let out = &mut self.outs[earlier as usize];
            out.dropped = true;
            out.carries
        };
        self.outs[later as usize].carries += carried;
    }

    /// Encodes commands `cmds` of `batch`, coalesced, into `out`.
    pub(crate) fn encode(&mut self, batch: &Batch, cmds: Range<usize>, out: &mut RespBuf) {
        let n = cmds.len();
        self.outs.clear();
        self.joins.clear();
        let mut spans = std::mem::take(&mut self.spans);
        // About a key or a member for every third command (a stored and
        // acked message is seven commands on two keys and a member).
        self.touched.reset(n / 3 + 1);
        // Output commands before this one may not be joined: a command
        // whose keys are unknown went out here.
        let mut barrier = 0u32;
        let mut open_del = NONE;
        for index in cmds.clone() {
            // A stored message's HMSET has sixteen arguments, of which
            // only the name and key matter here.
            batch.parse(index, SHAPE_ARGS, &mut spans);
            let argc = batch.argc(index);
            let mut shape = shape(batch, argc, &spans);
            if matches!(shape, Shape::Del | Shape::ZAdd | Shape::ZRem) {
                if argc > spans.len() {
                    batch.parse(index, argc, &mut spans);
                }
                if spans.len() != argc {
                    shape = Shape::Unknown;
                }
            }
            let bytes = batch.command_bytes(index);
            let carries = batch.carries(index);
            let arg = |i: usize| batch.content(spans[i]);
            let next = self.outs.len() as u32;
            match shape {
                Shape::Unknown => {
                    self.outs.push(Out::of(bytes, argc, carries));
                    barrier = next + 1;
                    open_del = NONE;
                }
                Shape::Keyed => {
                    self.outs.push(Out::of(bytes, argc, carries));
                    let slot = self.touched.key(arg(1));
                    slot.any = next;
                    slot.whole = next;
                }
                shape @ (Shape::Expire | Shape::Trim) => {
                    self.outs.push(Out::of(bytes.clone(), argc, carries));
                    let key = self.touched.hash(arg(1), 0);
                    let slot = *self.touched.slot(key);
                    let last = if shape == Shape::Expire {
                        slot.expire
                    } else {
                        slot.trim
                    };
                    let supersedes = last != NONE
                        && last >= barrier
                        && (slot.whole == NONE || slot.whole < last)
                        && (shape == Shape::Expire || {
                            // A trim's cutoff ends its bytes, before `\r\n`.
                            let earlier = &self.outs[last as usize].bytes;
                            arg(3) >= batch.bytes(&earlier.tail(TRIM_CUTOFF_LEN, 2))
                        });
                    if supersedes {
                        self.drop_for(last, next);
                    }
                    let slot = self.touched.slot(key);
                    slot.any = next;
                    if shape == Shape::Expire {
                        slot.expire = next;
                    } else {
                        slot.trim = next;
                    }
                }
                Shape::Del => {
                    let joins = open_del != NONE
                        && (1..argc).all(|k| {
                            let any = self.touched.key(arg(k)).any;
                            any == NONE || any <= open_del
                        });
                    let target = if joins {
                        self.join(open_del, &spans, 1..argc, &bytes, carries);
                        open_del
                    } else {
                        self.outs.push(Out::of(bytes, argc, carries));
                        open_del = next;
                        next
                    };
                    for k in 1..argc {
                        let slot = self.touched.key(arg(k));
                        slot.any = target;
                        slot.whole = target;
                    }
                }
                shape @ (Shape::ZAdd | Shape::ZRem) => {
                    // One hash of the key, for it and its members.
                    let key = self.touched.hash(arg(1), 0);
                    // ZADD's members follow their scores.
                    let step = if shape == Shape::ZAdd { 2 } else { 1 };
                    let members = (1 + step..argc).step_by(step);
                    let state = *self.touched.slot(key);
                    let open = if shape == Shape::ZAdd {
                        state.zadd
                    } else {
                        state.zrem
                    };
                    let joins = open != NONE
                        && open >= barrier
                        && (state.whole == NONE || state.whole < open)
                        && members.clone().all(|m| {
                            let any = self.touched.member(key, arg(m)).any;
                            any == NONE || any <= open
                        });
                    let target = if joins {
                        self.join(open, &spans, 2..argc, &bytes, carries);
                        open
                    } else {
                        self.outs.push(Out::of(bytes, argc, carries));
                        next
                    };
                    for m in members {
                        self.touched.member(key, arg(m)).any = target;
                    }
                    let slot = self.touched.slot(key);
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
        self.spans = spans;
        out.reserve(batch.bytes_of(cmds) + self.outs.len() * 8);
        for o in self.outs.iter().filter(|o| !o.dropped) {
            out.begin_carrying(o.argc as usize, o.carries);
            out.raw(batch.bytes(&o.bytes));
            let mut join = o.first_join;
            while join != NONE {
                let j = &self.joins[join as usize];
                out.raw(batch.bytes(&j.bytes));
                join = j.next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resp::CommandSink;

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
        Coalescer::default().encode(&batch, 0..batch.len(), &mut buf);
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
        let (out, _) = coalesce(&["ZADD t 1 a", "HSET t f v", "ZADD t 1 b"]);
        assert_eq!(out, ["ZADD t 1 a", "HSET t f v", "ZADD t 1 b"]);
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
    fn members_pass_the_time_to_live_and_only_the_last_one_is_sent() {
        let (out, carried) = coalesce(&[
            "ZADD t 1 a",
            "EXPIRE t 10",
            "ZADD t 1 b",
            "EXPIRE t 20",
            "ZREM t a",
            "EXPIRE t 30",
        ]);
        assert_eq!(out, ["ZADD t 1 a 1 b", "ZREM t a", "EXPIRE t 30"]);
        assert_eq!(carried, 6);
    }

    #[test]
    fn a_time_to_live_is_kept_across_a_write_of_the_whole_key() {
        let (out, _) = coalesce(&["EXPIRE k 10", "DEL k", "EXPIRE k 20"]);
        assert_eq!(out, ["EXPIRE k 10", "DEL k", "EXPIRE k 20"]);
        let (out, _) = coalesce(&["EXPIRE k 10", "EVAL x 0", "EXPIRE k 20"]);
        assert_eq!(out, ["EXPIRE k 10", "EVAL x 0", "EXPIRE k 20"]);
        let (out, _) = coalesce(&["EXPIRE k 10", "EXPIRE k 20 NX", "EXPIRE j 5"]);
        assert_eq!(out, ["EXPIRE k 10", "EXPIRE k 20 NX", "EXPIRE j 5"]);
    }

    #[test]
    fn a_later_index_trim_covers_an_earlier_one() {
        let early = "(0000000000000000000001";
        let late = "(0000000000000000000002";
        let (out, carried) = coalesce(&[
            &format!("ZREMRANGEBYLEX mqtt:msg:t - {early}"),
            "ZADD mqtt:msg:t 1 0000000000000000000009",
            &format!("ZREMRANGEBYLEX mqtt:msg:t - {late}"),
        ]);
        assert_eq!(
            out,
            [
                "ZADD mqtt:msg:t 1 0000000000000000000009".to_owned(),
                format!("ZREMRANGEBYLEX mqtt:msg:t - {late}"),
            ]
        );
        assert_eq!(carried, 3);
        // An earlier cutoff, another key, or a trim the functions do not
        // write stays.
        let (out, _) = coalesce(&[
            &format!("ZREMRANGEBYLEX mqtt:msg:t - {late}"),
            &format!("ZREMRANGEBYLEX mqtt:msg:t - {early}"),
            &format!("ZREMRANGEBYLEX other:t - {early}"),
            &format!("ZREMRANGEBYLEX other:t - {late}"),
        ]);
        assert_eq!(out.len(), 4);
    }

    #[test]
    fn a_publish_and_ack_stream_becomes_two_commands_a_message() {
        let mut input = Vec::new();
        for i in 0..100 {
            let id = format!("{i:022}");
            input.push(format!("HMSET mqtt:msg:{id} id {id} payload x"));
            input.push(format!("EXPIRE mqtt:msg:{id} 3600"));
            input.push(format!("ZADD mqtt:msg:t 1 {id}"));
            input.push(format!("ZREMRANGEBYLEX mqtt:msg:t - ({id}"));
            input.push("EXPIRE mqtt:msg:t 3600".to_string());
            if i >= 10 {
                let acked = format!("{:022}", i - 10);
                input.push(format!("DEL mqtt:msg:{acked}"));
                input.push(format!("ZREM mqtt:msg:t {acked}"));
            }
        }
        let refs: Vec<&str> = input.iter().map(String::as_str).collect();
        let (out, carried) = coalesce(&refs);
        assert_eq!(carried, input.len());
        // HMSET and EXPIRE of each hash; one ZADD, ZREM, trim and EXPIRE
        // of the index; a DEL for the acks of each ten messages (an ack
        // cannot pass the store of its message).
        let count = |prefix: &str| out.iter().filter(|c| c.starts_with(prefix)).count();
        assert_eq!(count("HMSET "), 100);
        assert_eq!(count("EXPIRE mqtt:msg:0"), 100);
        assert_eq!(count("ZADD "), 1);
        assert_eq!(count("ZREM "), 1);
        assert_eq!(count("ZREMRANGEBYLEX "), 1);
        assert_eq!(count("EXPIRE mqtt:msg:t "), 1);
        assert!(count("DEL ") <= 10, "{out:#?}");
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

//! Sessions that move between nodes: a client that connects here with
//! Clean Start 0 takes its session from the node that has it, queue and
//! messages in flight included; with Clean Start 1, that node discards it.
//!
//! No node keeps where sessions are: at `session.resuming` this node asks
//! every other node up, on each one's handover channel, and waits for the
//! answers (at most [`WAIT`]): the node that has the session takes it out
//! of its broker (`take_session`: its connection ends with 0x8E) and
//! sends it back as bytes; the others say they have none. The first
//! session that comes is put into this broker (`put_session`) before the
//! client's CONNACK. A node that does not answer in time (dead, not yet
//! seen down) costs the wait, and the client starts without the session.
//! Asking costs one `PUBLISH` per other node and connect, nothing per
//! message; keeping a directory of sessions in Redis would cost writes
//! at every session's start and end, and go stale when a node dies.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mqhost_plugin_api::{Decision, Reply};
use tokio::sync::oneshot;

use crate::{lock, Shared};

/// How long a connecting client waits for the other nodes' answers.
pub(crate) const WAIT: Duration = Duration::from_secs(2);

/// How long a question given up on is remembered, for a session that
/// comes after the wait.
const REMEMBER: Duration = Duration::from_secs(60);

/// Questions this node asked and waits on, by number.
#[derive(Default)]
pub(crate) struct Asked {
    next: u64,
    waiting: HashMap<u64, Waiting>,
    /// Questions given up on: their client, and when.
    late: HashMap<u64, (String, Instant)>,
}

struct Waiting {
    /// Nodes that have not answered yet.
    left: usize,
    answer: oneshot::Sender<Option<Vec<u8>>>,
}

impl Asked {
    /// Gives up on question `id` about `client`, remembering it a while.
    fn give_up(&mut self, id: u64, client: &str) {
        if self.waiting.remove(&id).is_some() {
            let now = Instant::now();
            self.late
                .retain(|_, (_, at)| now.duration_since(*at) < REMEMBER);
            self.late.insert(id, (client.to_owned(), now));
        }
    }
}

/// One message on a handover channel.
#[derive(Debug, PartialEq, Eq)]
enum Note<'a> {
    /// `from` asks for `client`'s session (to discard it, with `clean`).
    Ask {
        from: &'a str,
        id: u64,
        clean: bool,
        client: &'a str,
    },
    /// The answer to question `id`: the session, or None.
    Answer { id: u64, session: Option<&'a [u8]> },
}

fn ask_note(from: &str, id: u64, clean: bool, client: &str) -> Vec<u8> {
    format!("?{from}\n{id}\n{}\n{client}", u8::from(clean)).into_bytes()
}

fn answer_note(id: u64, session: Option<&[u8]>) -> Vec<u8> {
    let mut out = match session {
        Some(_) => format!("!{id}\n").into_bytes(),
        None => format!("-{id}\n").into_bytes(),
    };
    out.extend_from_slice(session.unwrap_or_default());
    out
}

/// Reads a note; None for anything else (another version, garbage).
fn read_note(payload: &[u8]) -> Option<Note<'_>> {
    let (&kind, rest) = payload.split_first()?;
    match kind {
        b'?' => {
            let text = std::str::from_utf8(rest).ok()?;
            let mut parts = text.splitn(4, '\n');
            let from = parts.next()?;
            let id = parts.next()?.parse().ok()?;
            let clean = parts.next()? == "1";
            let client = parts.next()?;
            Some(Note::Ask {
                from,
                id,
                clean,
                client,
            })
        }
        b'!' | b'-' => {
            let at = rest.iter().position(|&b| b == b'\n')?;
            let id = std::str::from_utf8(&rest[..at]).ok()?.parse().ok()?;
            let session = (kind == b'!').then_some(&rest[at + 1..]);
            Some(Note::Answer { id, session })
        }
        _ => None,
    }
}

/// `session.resuming`: brings the client's session here from the node
/// that has it, or has that node discard it (Clean Start 1). Either way
/// the client's CONNACK waits for the answers, so that the old session
/// and its connection are gone before the new one starts.
pub(crate) fn resuming(shared: &Arc<Shared>, client: &str, clean: bool, reply: Reply) -> Decision {
    if shared.host.session_room(client).is_ok() {
        return Decision::IGNORE; // here already
    }
    let up = shared.up.borrow().clone();
    if up.is_empty() {
        return Decision::IGNORE;
    }
    let (tx, rx) = oneshot::channel();
    let id = {
        let mut asked = lock(&shared.asked);
        asked.next += 1;
        let id = asked.next;
        asked.waiting.insert(
            id,
            Waiting {
                left: up.len(),
                answer: tx,
            },
        );
        id
    };
    let note = ask_note(&shared.node, id, clean, client);
    let shared_task = Arc::clone(shared);
    let client = client.to_owned();
    shared.runtime.spawn(async move {
        let shared = shared_task;
        for node in &up {
            let _ = publish(&shared, &shared.keys.handover(node), &note).await;
        }
        let answer = tokio::time::timeout(WAIT, rx).await;
        lock(&shared.asked).give_up(id, &client);
        let status = &shared.status.bus;
        match answer {
            Ok(Ok(Some(bytes))) => match shared.host.put_session(&client, &bytes) {
                Ok(()) => {
                    status.sessions_moved_in.fetch_add(1, Ordering::Relaxed);
                }
                Err(error) => shared.host.warn(&format!(
                    "the session of client {client:?} from another node was not kept: {error}"
                )),
            },
            Ok(_) => {}
            Err(_) => {
                status.handovers_unanswered.fetch_add(1, Ordering::Relaxed);
                shared.host.warn(&format!(
                    "not every node answered for client {client:?}'s session within {}s: it starts here without it",
                    WAIT.as_secs()
                ));
            }
        }
        reply.send(Decision::IGNORE);
    });
    Decision::PENDING
}

/// A message on this node's handover channel.
pub(crate) fn on_note(shared: &Arc<Shared>, payload: &[u8]) {
    match read_note(payload) {
        Some(Note::Ask {
            from,
            id,
            clean,
            client,
        }) => {
            let task = give(
                Arc::clone(shared),
                from.to_owned(),
                id,
                clean,
                client.to_owned(),
            );
            shared.runtime.spawn(task);
        }
        Some(Note::Answer { id, session }) => {
            let mut asked = lock(&shared.asked);
            let Some(waiting) = asked.waiting.get_mut(&id) else {
                let late = asked.late.remove(&id);
                drop(asked);
                match (late, session) {
                    (Some((client, _)), Some(bytes)) => kept_late(shared, &client, bytes),
                    (None, Some(_)) => shared.host.warn(
                        "a second node had a session for a client that took one already: discarded",
                    ),
                    _ => {}
                }
                return;
            };
            waiting.left = waiting.left.saturating_sub(1);
            if session.is_some() || waiting.left == 0 {
                if let Some(waiting) = asked.waiting.remove(&id) {
                    let _ = waiting.answer.send(session.map(<[u8]>::to_vec));
                }
            }
        }
        None => {}
    }
}

/// A session that came after its client stopped waiting: kept here
/// unless the client has a new session already (then it is lost, and
/// said so).
fn kept_late(shared: &Shared, client: &str, bytes: &[u8]) {
    match shared.host.put_session(client, bytes) {
        Ok(()) => {
            shared
                .status
                .bus
                .sessions_moved_in
                .fetch_add(1, Ordering::Relaxed);
            shared.host.warn(&format!(
                "the session of client {client:?} came after the wait; kept here for its return"
            ));
        }
        Err(error) => shared.host.error(&format!(
            "the session of client {client:?} came after the wait and is lost: {error}"
        )),
    }
}

/// Answers node `from`'s question `id`: the session of `client` if it is
/// here (taken out of this broker; discarded with `clean`), else none.
async fn give(shared: Arc<Shared>, from: String, id: u64, clean: bool, client: String) {
    let channel = shared.keys.handover(&from);
    let connected = shared.host.is_connected(&client);
    let taken = take(&shared, &client).await;
    if connected && taken.is_some() {
        shared.status.bus.taken_over.fetch_add(1, Ordering::Relaxed);
        shared.host.info(&format!(
            "client {client:?} connected to node {from}: its connection here ends (0x8E)"
        ));
    }
    let session = taken.flatten();
    let sent = match (&session, clean) {
        (Some(bytes), false) => publish(&shared, &channel, &answer_note(id, Some(bytes))).await,
        _ => publish(&shared, &channel, &answer_note(id, None)).await,
    };
    let Some(bytes) = session else { return };
    if clean {
        shared.host.info(&format!(
            "client {client:?} connected to node {from} with a clean start: its session here is discarded"
        ));
        return;
    }
    match sent {
        Ok(receivers) if receivers > 0 => {
            shared
                .status
                .bus
                .sessions_moved_out
                .fetch_add(1, Ordering::Relaxed);
            shared.host.info(&format!(
                "the session of client {client:?} moved to node {from}"
            ));
        }
        _ => {
            // Nobody took it: it stays here rather than be lost.
            let kept = shared.host.put_session(&client, &bytes);
            shared.host.warn(&format!(
                "the session of client {client:?} could not reach node {from}; kept here: {kept:?}"
            ));
        }
    }
}

/// Takes `client`'s session out of this broker, if it has one (None
/// when it has not); its routes go with it. Some(None): a session that
/// was to end with its connection, ended with nothing to move.
async fn take(shared: &Shared, client: &str) -> Option<Option<Vec<u8>>> {
    if shared.host.session_room(client).is_err() {
        return None;
    }
    let (tx, rx) = oneshot::channel();
    shared
        .host
        .take_session(client, move |taken| {
            let _ = tx.send(taken);
        })
        .ok()?;
    // The session's task answers as soon as it handles the order.
    let taken = tokio::time::timeout(WAIT, rx).await.ok()?.ok()?.ok();
    let mut local = lock(&shared.local_routes);
    let changes = local.end_session(client);
    let count = local.len();
    drop(local);
    for change in changes {
        shared.route_changed(Some(change), count);
    }
    Some(taken)
}

/// `PUBLISH channel payload`: how many nodes got it.
async fn publish(shared: &Shared, channel: &str, payload: &[u8]) -> Result<u64, String> {
    let (generation, mut conn) = shared.conn().await?;
    let mut cmd = redis::cmd("PUBLISH");
    cmd.arg(channel).arg(payload);
    shared
        .status
        .bus
        .redis_commands
        .fetch_add(1, Ordering::Relaxed);
    match conn.query(&cmd).await {
        Ok(value) => Ok(redis::from_redis_value(value).unwrap_or(0)),
        Err(error) => {
            shared.cell.invalidate(Some(generation)).await;
            Err(error.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_read_back() {
        let ask = ask_note("n2", 7, false, "client\nwith a newline");
        assert_eq!(
            read_note(&ask),
            Some(Note::Ask {
                from: "n2",
                id: 7,
                clean: false,
                client: "client\nwith a newline"
            })
        );
        let bytes = [0u8, b'\n', 255];
        assert_eq!(
            read_note(&answer_note(7, Some(&bytes))),
            Some(Note::Answer {
                id: 7,
                session: Some(&bytes[..])
            })
        );
        assert_eq!(
            read_note(&answer_note(8, None)),
            Some(Note::Answer {
                id: 8,
                session: None
            })
        );
    }

    #[test]
    fn garbage_is_no_note() {
        for junk in [
            &b""[..],
            b"?",
            b"?n1\nx\n1\nc",
            b"!12",
            b"!x\n",
            b"Z1\n",
            b"?n1\n1",
        ] {
            assert_eq!(read_note(junk), None, "{junk:?}");
        }
    }
}

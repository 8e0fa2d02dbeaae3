//! The restart scenario's load: persistent sessions, each with messages
//! queued for it while it is away; and, once the broker is back, one of
//! them reconnecting to prove that the broker kept what it acknowledged.

use std::time::{Duration, Instant};

use mqhost_codec::{Disconnect, Packet, PubAck, QoS};
use tokio::sync::watch;

use crate::client::{drive, Conn, Error, Session};
use crate::load::{connect_all, Publisher};
use crate::scenarios::WINDOW;
use crate::transport::Endpoint;

/// Client id prefix of the stored sessions.
const PREFIX: &str = "bench-restart-";
/// The longest a phase may take before the round fails.
const PHASE_LIMIT: Duration = Duration::from_secs(300);

/// Session `i`'s own topic.
fn topic(i: usize) -> String {
    format!("bench/restart/{i}")
}

/// Gives the broker `sessions` persistent sessions, each subscribed at
/// QoS 1 to a topic of its own and then gone, and `per_session` QoS 1
/// messages queued in each (every one acknowledged by the broker); how
/// long that took.
pub async fn fill(
    endpoint: &Endpoint,
    sessions: usize,
    per_session: u64,
) -> Result<Duration, Error> {
    let started = Instant::now();
    let mut subscribers =
        connect_all(endpoint, PREFIX, sessions, 0, None, Session::Persistent).await?;
    for (i, conn) in subscribers.iter_mut().enumerate() {
        conn.subscribe(&[topic(i)], QoS::AtLeastOnce).await?;
    }
    // Gone in order, so that the messages queue rather than fly.
    for conn in &mut subscribers {
        conn.send(&Packet::Disconnect(Disconnect::default()))
            .await?;
    }
    drop(subscribers);
    let publisher = Conn::connect(endpoint, "bench-restart-pub", 0, None).await?;
    let total = sessions as u64 * per_session;
    let topics = (0..sessions).map(topic).collect();
    let mut role = Publisher::cycling(0, topics, QoS::AtLeastOnce, total, WINDOW);
    let (_keep, stop) = watch::channel(false);
    tokio::time::timeout(PHASE_LIMIT, drive(publisher, &mut role, stop))
        .await
        .map_err(|_| {
            format!("the broker did not take {total} messages within {PHASE_LIMIT:?}")
        })??;
    Ok(started.elapsed())
}

/// The first session reconnecting after the restart: fails unless the
/// broker says it kept the session (Session Present) and delivers the
/// `per_session` messages queued for it.
pub async fn check(endpoint: &Endpoint, per_session: u64) -> Result<(), Error> {
    let id = format!("{PREFIX}0");
    let (mut conn, present) =
        Conn::connect_session(endpoint, &id, 0, None, Session::Persistent).await?;
    if !present {
        return Err(format!(
            "{id}: the broker lost the session (Session Present 0)"
        ));
    }
    let wanted = topic(0);
    let mut received = 0;
    tokio::time::timeout(Duration::from_secs(30), async {
        while received < per_session {
            match conn.recv().await? {
                Packet::Publish(p) if p.topic == wanted => {
                    received += 1;
                    if p.qos != QoS::AtMostOnce {
                        let ack = PubAck {
                            packet_id: p.packet_id,
                            reason: 0,
                            properties: Default::default(),
                        };
                        conn.send(&Packet::PubAck(ack)).await?;
                    }
                }
                other => return Err(format!("{id}: unexpected {}", other.name())),
            }
        }
        Ok(())
    })
    .await
    .map_err(|_| format!("{id}: {received} of {per_session} queued messages after the restart"))?
}

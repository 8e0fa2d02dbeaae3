//! One session as bytes, to move it to another broker of a cluster: the
//! log's header, the length of what follows (u64 LE, so that bytes cut
//! between two records are not taken for a smaller session), then the
//! records that rebuild the session (each with its length and CRC,
//! message bodies before the records that name them), as compaction
//! writes them. Reading them back is recovery's reading, made
//! strict: the bytes come from the network, so anything but exactly one
//! whole session of the expected client is refused, with a sentence.

use std::sync::Arc;

use super::format::{self, Header, HEADER_LEN};
use super::image::{Image, SessionImage};
use super::live;
use super::record;

/// `session` of `client` as bytes for [`decode`].
pub fn encode(client: &Arc<str>, session: SessionImage) -> Vec<u8> {
    let mut one = Image::default();
    one.sessions.insert(Arc::clone(client), session);
    let mut out = format::header().to_vec();
    out.extend_from_slice(&[0; 8]);
    let mut written = Image::default();
    for record in one.records() {
        live::append(&record, &mut written, &mut out);
    }
    let len = (out.len() - HEADER_LEN - 8) as u64;
    out[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&len.to_le_bytes());
    out
}

/// The session of `client` that [`encode`] wrote into `bytes`. Never
/// reads or allocates past `bytes`; refuses a cut or damaged record, a
/// newer format, records of another client or of retained messages, and
/// records that name what is not there.
pub fn decode(client: &str, bytes: &[u8]) -> Result<SessionImage, String> {
    match format::check(bytes) {
        Ok(Header::Readable) => {}
        Ok(Header::Missing) => return Err("cut short before its header".to_owned()),
        Err(format::HeaderError::Foreign) => return Err("not a session".to_owned()),
        Err(format::HeaderError::Newer(version)) => {
            return Err(format!(
                "written in format {version}, newer than this broker's"
            ))
        }
    }
    let announced = bytes
        .get(HEADER_LEN..HEADER_LEN + 8)
        .and_then(|len| <[u8; 8]>::try_from(len).ok())
        .map(u64::from_le_bytes)
        .ok_or_else(|| "cut short in its header".to_owned())?;
    let mut rest = &bytes[HEADER_LEN + 8..];
    if announced != rest.len() as u64 {
        return Err(format!(
            "{} bytes of records where {announced} were announced",
            rest.len()
        ));
    }
    let mut image = Image::default();
    while !rest.is_empty() {
        let (body, used) = record::frame(rest).map_err(|e| e.to_string())?;
        let record = record::decode(body, &|id| image.message(id)).map_err(|e| e.to_string())?;
        image.apply(&record);
        rest = &rest[used..];
    }
    if image.orphans > 0 || !image.retained.is_empty() {
        return Err("records that belong to no session".to_owned());
    }
    let session = image
        .sessions
        .remove(client)
        .ok_or_else(|| format!("no session of client {client:?} in it"))?;
    if !image.sessions.is_empty() {
        return Err("sessions of other clients in it".to_owned());
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use mqhost_codec::{QoS, SubscriptionOptions};

    use super::*;
    use crate::broker::message::Message;
    use crate::broker::session::Delivery;
    use crate::persist::Stage;

    fn message(id: u128, topic: &str, payload: &[u8]) -> Arc<Message> {
        Arc::new(crate::test_support::message(
            id,
            topic,
            bytes::Bytes::copy_from_slice(payload),
        ))
    }

    fn session() -> SessionImage {
        let options = SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            no_local: true,
            retain_as_published: false,
            retain_handling: 0,
        };
        let mut deliveries = BTreeMap::new();
        for (seq, stage) in [
            (1, Stage::Sent(7)),
            (2, Stage::Released(8)),
            (3, Stage::Queued),
        ] {
            let delivery =
                Delivery::new(message(seq, "a/b", b"x"), QoS::ExactlyOnce, false, vec![4]);
            deliveries.insert(seq as u64, (delivery, stage));
        }
        SessionImage {
            username: Some(Arc::from("alice")),
            expiry: 3600,
            detached_ms: 99,
            subscriptions: [(Arc::from("a/#"), (options, Some(4)))]
                .into_iter()
                .collect(),
            deliveries,
            qos2_in: [3, 5].into_iter().collect(),
            will: Some((1234, message(9, "will", b"bye"))),
        }
    }

    #[test]
    fn a_session_reads_back_whole() {
        let bytes = encode(&Arc::from("c1"), session());
        let back = decode("c1", &bytes).unwrap();
        assert_eq!(back.username.as_deref(), Some("alice"));
        assert_eq!((back.expiry, back.detached_ms), (3600, 99));
        assert_eq!(back.subscriptions.len(), 1);
        let stages: Vec<Stage> = back.deliveries.values().map(|(_, s)| *s).collect();
        assert_eq!(stages, [Stage::Sent(7), Stage::Released(8), Stage::Queued]);
        assert_eq!(back.deliveries[&1].0.subscription_ids, [4]);
        assert_eq!(back.qos2_in.len(), 2);
        assert_eq!(back.will.map(|(at, m)| (at, m.id.0)), Some((1234, 9)));
    }

    #[test]
    fn another_clients_session_is_refused() {
        let bytes = encode(&Arc::from("c1"), session());
        assert!(decode("c2", &bytes).unwrap_err().contains("no session"));
    }

    #[test]
    fn cut_flipped_or_foreign_bytes_are_refused_never_a_panic() {
        let bytes = encode(&Arc::from("c1"), session());
        for cut in 0..bytes.len() {
            assert!(decode("c1", &bytes[..cut]).is_err(), "cut at {cut}");
        }
        for at in (0..bytes.len()).step_by(3) {
            let mut flipped = bytes.clone();
            flipped[at] ^= 0x40;
            // A flip in a reserved header byte changes nothing read.
            let _ = decode("c1", &flipped);
        }
        assert!(decode("c1", b"GET / HTTP/1.1\r\n\r\n").is_err());
        let mut huge = format::header().to_vec();
        huge.extend_from_slice(&8u64.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&[0; 4]);
        assert!(decode("c1", &huge).is_err());
    }
}

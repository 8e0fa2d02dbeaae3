//! Limits on what a client can make the broker do: what its chosen strings
//! do to the log, and how long a half-sent packet may hold a connection.

use std::time::Duration;

use mqhost_codec::ProtocolVersion;
use mqhost_tests::raw::RawClient;
use mqhost_tests::Broker;

/// A client id holding a newline and a terminal escape shows up escaped
/// on one log line: it cannot forge a line nor reach the terminal.
#[tokio::test]
async fn a_client_id_cannot_forge_log_lines() {
    let broker = Broker::start();
    // Short enough to be shown whole.
    let id = "forged\n2026-01-01T00:00:00Z  INFO mqhost: hi\x1b[2J";
    let client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, id).await;
    client.disconnect().await;
    let escaped = "client_id=forged\\n2026-01-01T00:00:00Z  INFO mqhost: hi\\x1b[2J ";
    for what in ["client connected", "client disconnected"] {
        let line = broker
            .wait_for_log(&format!("{what} {escaped}"), Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no escaped {what} line in {:#?}", broker.logs()));
        assert!(!line.contains('\x1b'), "{line}");
    }
    for line in broker.logs() {
        assert!(!line.contains('\x1b'), "raw ESC in {line:?}");
        assert!(!line.starts_with("2026-01-01"), "forged line {line:?}");
    }
}

/// A long client id is cut in the log, with a mark that it was.
#[tokio::test]
async fn a_long_client_id_is_cut_in_the_log() {
    let broker = Broker::start();
    let id = format!("{}{}", "a".repeat(64), "b".repeat(200));
    let client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, &id).await;
    let line = broker
        .wait_for_log("client connected client_id=", Duration::from_secs(5))
        .expect("connect line");
    assert!(
        line.contains(&format!("client_id={}… ", "a".repeat(64))),
        "{line}"
    );
    assert!(!line.contains("ab"), "{line}");
    client.disconnect().await;
}

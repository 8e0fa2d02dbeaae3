//! The shared connections against real Redis: a single server with a
//! user, database and password; TLS with a client certificate, through
//! the redis crate and as a plain stream; a connection made again after
//! the server restarted; the master a sentinel names; a cluster.

use std::time::Duration;

use mqhost_redis_link::{
    connect, open_stream, open_stream_marked, parse_servers, server_address, Conn, ConnCell,
    LinkConfig, PoolKind, Secret, Tls,
};
use mqhost_tests::certs::TestCerts;
use mqhost_tests::redis::{wait_until, RedisCluster, RedisSentinel, RedisServer, MASTER_NAME};
use redis::{cmd, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A single link to `addr`.
fn single(addr: &str) -> LinkConfig {
    LinkConfig {
        servers: parse_servers(addr).unwrap(),
        ..LinkConfig::default()
    }
}

fn text(value: Value) -> String {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes).unwrap(),
        Value::SimpleString(text) => text,
        Value::VerbatimString { text, .. } => text,
        Value::Okay => "OK".to_owned(),
        other => panic!("not a string: {other:?}"),
    }
}

async fn get(conn: &mut Conn, key: &str) -> Value {
    conn.query(cmd("GET").arg(key)).await.unwrap()
}

#[tokio::test]
async fn a_single_link_logs_in_as_its_user_in_its_database() {
    let server = RedisServer::start();
    let mut admin = server.client();
    let _: () = cmd("ACL")
        .arg(&["SETUSER", "mq", "on", ">s3cret", "~*", "+@all"][..])
        .query(&mut admin)
        .unwrap();
    let mut link = single(&server.addr());
    link.username = Some("mq".into());
    link.password = Some(Secret("s3cret".into()));
    link.database = 3;

    let (mut conn, peer) = connect(&link).await.unwrap();
    assert_eq!(peer, server.addr());
    let info = text(conn.query(cmd("CLIENT").arg("INFO")).await.unwrap());
    assert!(
        info.contains(" db=3 ") && info.contains(" user=mq "),
        "{info}"
    );
    // Several commands, answered in order.
    let replies = conn
        .query_many(vec![
            cmd("SET").arg("k").arg("v").clone(),
            cmd("GET").arg("k").clone(),
            cmd("HGET").arg("k").arg("f").clone(),
        ])
        .await
        .unwrap();
    assert_eq!(text(replies[1].clone()), "v");
    // A refusal is a reply, not a broken connection.
    match &replies[2] {
        Value::ServerError(error) => assert_eq!(error.code(), "WRONGTYPE"),
        other => panic!("expected WRONGTYPE, got {other:?}"),
    }
    let mut db3 = server.client_db(3);
    let stored: String = cmd("GET").arg("k").query(&mut db3).unwrap();
    assert_eq!(stored, "v");

    // The wrong password: no connection.
    link.password = Some(Secret("wrong".into()));
    let error = connect(&link).await.err().expect("a wrong password");
    assert_eq!(
        error.kind(),
        redis::ErrorKind::AuthenticationFailed,
        "{error}"
    );
}

#[tokio::test]
async fn tls_links_check_the_server_and_show_a_client_certificate() {
    let certs = TestCerts::generate();
    let server = RedisServer::start_tls(&certs);
    let mut link = single(&server.tls_addr());
    link.ssl = true;
    link.tls = Tls {
        cafile: Some(certs.ca.display().to_string()),
        certfile: Some(certs.client_cert.display().to_string()),
        keyfile: Some(certs.client_key.display().to_string()),
    };

    let (mut conn, _) = connect(&link).await.unwrap();
    let _ = conn.query(cmd("SET").arg("k").arg("tls")).await.unwrap();
    assert_eq!(text(get(&mut conn, "k").await), "tls");

    // The same settings give a plain stream for protocol code of one's own.
    let port = server.tls_port().unwrap();
    let mut stream = open_stream(&link, "127.0.0.1", port).await.unwrap();
    // With no low-water mark: the TLS layer may hold part of what comes.
    let (_, mark) = open_stream_marked(&link, "127.0.0.1", port).await.unwrap();
    assert!(mark.is_none());
    stream
        .write_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        .await
        .unwrap();
    let mut reply = [0u8; 9];
    stream.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"$3\r\ntls\r\n");

    // Without the CA the server's certificate is not trusted.
    link.tls.cafile = None;
    assert!(connect(&link).await.is_err());
    assert!(open_stream(&link, "127.0.0.1", port).await.is_err());
}

#[tokio::test]
async fn a_plain_stream_wakes_its_reader_only_past_its_low_water_mark() {
    let server = RedisServer::start();
    let link = single(&server.addr());
    let port: u16 = server.addr().rsplit(':').next().unwrap().parse().unwrap();
    let (mut stream, mark) = open_stream_marked(&link, "127.0.0.1", port).await.unwrap();
    let mut mark = mark.expect("a plain stream has a mark");

    // Two PINGs answer 14 bytes: a mark of 15 keeps the reader waiting.
    mark.set(15).unwrap();
    stream
        .write_all(b"*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPING\r\n")
        .await
        .unwrap();
    let mut input = Vec::new();
    let waited =
        tokio::time::timeout(Duration::from_millis(300), stream.read_buf(&mut input)).await;
    assert!(waited.is_err(), "woken with {input:?}");
    // A third brings the waiting bytes past it: one read gets all three.
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), stream.read_buf(&mut input))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(input, b"+PONG\r\n".repeat(3));
}

#[tokio::test]
async fn a_cell_connects_again_after_the_server_restarted() {
    let mut server = RedisServer::start();
    let link = single(&server.addr());
    let cell = ConnCell::new();

    let (first, mut conn) = cell.get(|| link.clone()).await.unwrap();
    let _ = conn.query(cmd("SET").arg("k").arg("1")).await.unwrap();
    // Shared: a second get is the same connection.
    let (again, _) = cell
        .get(|| unreachable!("connected already"))
        .await
        .unwrap();
    assert_eq!(again, first);

    server.restart();
    let error = conn.query(&cmd("PING")).await.err();
    assert!(error.is_some(), "the old connection is gone");
    cell.invalidate(Some(first)).await;
    let (second, mut conn) = cell.get(|| link.clone()).await.unwrap();
    assert_ne!(second, first);
    assert_eq!(
        conn.query(&cmd("PING")).await.unwrap(),
        Value::SimpleString("PONG".into())
    );
    // A late failure report about the first connection keeps the second.
    cell.invalidate(Some(first)).await;
    let (kept, _) = cell.get(|| unreachable!("still connected")).await.unwrap();
    assert_eq!(kept, second);
}

#[tokio::test]
async fn a_sentinel_link_reaches_the_master_it_names() {
    let topology = RedisSentinel::start();
    let link = LinkConfig {
        kind: PoolKind::Sentinel,
        servers: parse_servers(&topology.sentinel.addr()).unwrap(),
        sentinel: Some(MASTER_NAME.to_owned()),
        ..LinkConfig::default()
    };
    assert_eq!(
        server_address(&link).await.unwrap(),
        ("127.0.0.1".to_owned(), topology.master.port())
    );
    let (mut conn, peer) = connect(&link).await.unwrap();
    assert_eq!(peer, topology.master.addr());
    let _ = conn.query(cmd("SET").arg("k").arg("m")).await.unwrap();
    let mut master = topology.master.client();
    let stored: String = cmd("GET").arg("k").query(&mut master).unwrap();
    assert_eq!(stored, "m");
}

#[tokio::test]
async fn a_cluster_link_routes_by_key_and_scans_every_master() {
    let cluster = RedisCluster::start();
    let link = LinkConfig {
        kind: PoolKind::Cluster,
        servers: parse_servers(&cluster.servers()).unwrap(),
        ..LinkConfig::default()
    };
    let (mut conn, _) = connect(&link).await.unwrap();
    let keys: Vec<String> = (0..30).map(|i| format!("scan:{i}")).collect();
    let sets = keys
        .iter()
        .map(|key| cmd("SET").arg(key).arg(key).clone())
        .collect();
    conn.query_many(sets).await.unwrap();
    // The keys live on more than one master.
    let owners: std::collections::BTreeSet<usize> =
        keys.iter().map(|key| cluster.master_of(key)).collect();
    assert!(owners.len() > 1, "{owners:?}");

    let gets = keys.iter().map(|key| cmd("GET").arg(key).clone()).collect();
    let values: Vec<String> = conn
        .query_many(gets)
        .await
        .unwrap()
        .into_iter()
        .map(text)
        .collect();
    assert_eq!(values, keys);
    // SCAN asks one node which nodes are masters: wait until the news of
    // the replicas has reached every node.
    assert!(
        wait_until(Duration::from_secs(30), || three_masters_everywhere(
            &cluster
        )),
        "the nodes do not agree on three masters"
    );
    let mut found: Vec<String> = conn
        .scan("scan:*")
        .await
        .unwrap()
        .into_iter()
        .map(|key| String::from_utf8(key).unwrap())
        .collect();
    found.sort();
    let mut expected = keys.clone();
    expected.sort();
    assert_eq!(found, expected);
}

/// Whether every node's `CLUSTER NODES` names three masters.
fn three_masters_everywhere(cluster: &RedisCluster) -> bool {
    cluster.nodes.iter().all(|node| {
        let nodes: String = cmd("CLUSTER")
            .arg("NODES")
            .query(&mut node.client())
            .unwrap_or_default();
        nodes
            .lines()
            .filter(|line| line.split(' ').nth(2).is_some_and(|f| f.contains("master")))
            .count()
            == 3
    })
}

#[tokio::test]
async fn a_bounded_scan_keeps_the_first_matches_and_counts_the_rest() {
    let server = RedisServer::start();
    let mut admin = server.client();
    let mut pipe = redis::pipe();
    // Several SCAN pages' worth of keys, a third of them rejected by the
    // caller's own test.
    for i in 0..3000 {
        pipe.cmd("SET").arg(format!("scan:{i}")).arg(i).ignore();
    }
    pipe.cmd("SET").arg("other").arg(0).ignore();
    let _: () = pipe.query(&mut admin).unwrap();
    let (mut conn, _) = connect(&single(&server.addr())).await.unwrap();
    let found = conn
        .scan_bounded("scan:*", |key| !key.ends_with(b"0"), 100)
        .await
        .unwrap();
    assert_eq!(found.keys.len(), 100);
    assert!(found.keys.iter().all(|k| k.starts_with(b"scan:")));
    assert!(found.keys.iter().all(|k| !k.ends_with(b"0")));
    assert_eq!(found.beyond, 2700 - 100);
}

#[tokio::test]
async fn a_cluster_scan_passes_over_a_master_without_slots() {
    let cluster = RedisCluster::start();
    // A seventh node joins as a master and is given no slots.
    let dir = mqhost_tests::plugins::TempDir::new();
    let empty = RedisServer::start_in(
        dir.path(),
        &[
            "--cluster-enabled",
            "yes",
            "--cluster-node-timeout",
            "10000",
        ],
        true,
    );
    let joined = std::process::Command::new("redis-cli")
        .args([
            "--cluster",
            "add-node",
            &empty.addr(),
            &cluster.nodes[0].addr(),
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(joined.status.success(), "{joined:?}");
    let empty_port = format!(":{}@", empty.port());
    let knows_it = |node: &RedisServer| {
        let nodes: String = cmd("CLUSTER")
            .arg("NODES")
            .query(&mut node.client())
            .unwrap_or_default();
        nodes
            .lines()
            .any(|l| l.contains(&empty_port) && l.contains("master") && l.contains("connected"))
    };
    assert!(
        wait_until(Duration::from_secs(30), || cluster
            .nodes
            .iter()
            .all(knows_it)),
        "the nodes do not know the new master"
    );
    let link = LinkConfig {
        kind: PoolKind::Cluster,
        servers: parse_servers(&cluster.servers()).unwrap(),
        ..LinkConfig::default()
    };
    let (mut conn, _) = connect(&link).await.unwrap();
    let sets = (0..30)
        .map(|i| cmd("SET").arg(format!("scan:{i}")).arg(i).clone())
        .collect();
    conn.query_many(sets).await.unwrap();
    let found = conn.scan("scan:*").await.unwrap();
    assert_eq!(found.len(), 30);
}

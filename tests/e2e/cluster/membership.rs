//! Joining, leaving, dying and coming back; one name per live node.

use std::process::Command;
use std::time::{Duration, Instant};

use mqhost_tests::mqhost_binary;
use mqhost_tests::redis::RedisServer;

use super::*;

#[tokio::test]
async fn three_nodes_see_each_other_and_a_killed_one_goes_down() {
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let [n1, n2, mut n3] = three_nodes(&text).await;
    wait_seen(&n3.broker, &ALL_UP).await;
    wait_seen(&n2.broker, &ALL_UP).await;
    let status = status(&n2.broker).await;
    assert_eq!(status["cluster"], "c1");
    assert_eq!(status["node"], "n2");
    assert_eq!(status["nodes_up"], 3);
    // The shell sees it too.
    let (ok, out, err) = n2.broker.ctl(&["cluster", "status"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("n2 (this node)") && out.contains("n3"),
        "{out}"
    );
    // SIGKILL: nothing is said to Redis; the heartbeat runs out.
    let killed = Instant::now();
    n3.broker.kill();
    wait_seen(&n1.broker, &[("n1", "up"), ("n2", "up"), ("n3", "down")]).await;
    assert!(
        killed.elapsed() < Duration::from_secs(10),
        "{:?}",
        killed.elapsed()
    );
    assert!(n1
        .broker
        .wait_for_log("cluster node n3 is down", WAIT)
        .is_some());
    // Restarted under its name, it is up again.
    let _n3 = start_node("n3", &text);
    wait_seen(&n1.broker, &ALL_UP).await;
}

#[tokio::test]
async fn a_node_that_stops_in_order_leaves_the_list() {
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let n1 = start_node("n1", &text);
    let mut n2 = start_node("n2", &text);
    wait_seen(&n1.broker, &[("n1", "up"), ("n2", "up")]).await;
    assert!(n2.broker.stop().success());
    let deadline = tokio::time::Instant::now() + WAIT;
    while seen(&n1.broker).await != [("n1".to_owned(), "up".to_owned())] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "n2 still listed; its log:\n{}",
            n2.broker.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn clusters_with_other_names_on_one_redis_do_not_meet() {
    let redis = RedisServer::start();
    let a = start_node("n1", &config(&redis.addr(), "a", ""));
    let b = start_node("n1", &config(&redis.addr(), "b", ""));
    wait_seen(&a.broker, &[("n1", "up")]).await;
    wait_seen(&b.broker, &[("n1", "up")]).await;
    assert_eq!(status(&b.broker).await["cluster"], "b");
}

/// A second live node with a name already taken is refused, and with
/// `plugin.required = on` the broker does not start: it says why.
#[tokio::test]
async fn a_second_live_node_with_the_same_name_is_refused() {
    let redis = RedisServer::start();
    let text = config(&redis.addr(), "c1", "");
    let first = start_node("n1", &text);
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-cluster"));
    dirs.write_config("cluster", &text);
    let output = Command::new(mqhost_binary())
        .args(["--config", "/dev/null"])
        .args(["--set", "listener.tcp.default=127.0.0.1:0"])
        .args(["--set", "admin.listener=off", "--set", "node.name=n1"])
        // Not the store beside /dev/null, which other tests may hold.
        .args(["--set", "persistence=off"])
        .args(["--set", &format!("plugins.dir={}", dirs.plugins.display())])
        .args(["--set", &format!("plugins.etc_dir={}", dirs.etc.display())])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("node.name \"n1\" is already taken in cluster \"c1\""),
        "{stderr}"
    );
    assert!(stderr.contains("plugin.required"), "{stderr}");
    // The first is unharmed.
    wait_seen(&first.broker, &[("n1", "up")]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_seen(&first.broker, &[("n1", "up")]).await;
}

#[tokio::test]
async fn without_the_plugin_the_cluster_route_says_so() {
    let broker = Broker::start();
    let (code, body) = broker.admin_request("GET", "/api/v1/cluster").await;
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("cluster plugin"), "{body}");
}

#[tokio::test]
async fn an_unreachable_redis_is_named_when_the_plugin_will_not_start() {
    let port = mqhost_tests::redis::free_port(false);
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-cluster"));
    dirs.write_config(
        "cluster",
        &format!("cluster.redis.server = 127.0.0.1:{port}\n"),
    );
    let broker = Broker::start_with_plugins(&dirs, &[("node.name", "n1")]);
    let line = broker
        .wait_for_log("plugin not started", WAIT)
        .expect("the plugin says why it did not start");
    assert!(
        line.contains(&format!(
            "cannot reach the cluster's Redis at 127.0.0.1:{port}"
        )),
        "{line}"
    );
}

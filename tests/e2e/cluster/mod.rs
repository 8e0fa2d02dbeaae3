//! The `cluster` plugin: several real mqhost nodes on loopback sharing a
//! real Redis (a private `redis-server`, or a Redis Cluster the test
//! starts), driven by real MQTT clients and the admin API.

mod failover;
mod failure;
mod handover;
mod membership;
mod routing;
mod shared;
mod takeover;

use std::time::Duration;

use mqhost_tests::plugins::{workspace_library, PluginDirs};
use mqhost_tests::Broker;
use serde_json::Value;

/// How long a node may take to start, join, or see a change.
pub const WAIT: Duration = Duration::from_secs(15);

/// One node: the running broker, and its plugin directories (kept while
/// it runs).
pub struct Node {
    pub broker: Broker,
    _dirs: PluginDirs,
}

/// The plugin's file for a cluster named `cluster` on Redis `servers`,
/// then `extra` lines.
pub fn config(servers: &str, cluster: &str, extra: &str) -> String {
    format!(
        "plugin.required = on\ncluster.name = {cluster}\ncluster.redis.server = {servers}\n{extra}"
    )
}

/// Starts node `name` with the plugin configured by `text`, and returns
/// once the plugin runs.
pub fn start_node(name: &str, text: &str) -> Node {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-cluster"));
    dirs.write_config("cluster", text);
    let broker = Broker::start_with_plugins(&dirs, &[("node.name", name)]);
    assert!(
        broker.wait_for_log("plugin started", WAIT).is_some(),
        "the cluster plugin did not start on {name}:\n{}",
        broker.logs().join("\n")
    );
    Node {
        broker,
        _dirs: dirs,
    }
}

/// What a cluster of the three nodes [`three_nodes`] starts looks like.
pub const ALL_UP: [(&str, &str); 3] = [("n1", "up"), ("n2", "up"), ("n3", "up")];

/// Nodes n1, n2 and n3 with the plugin configured by `text`, once n1
/// sees all three up.
pub async fn three_nodes(text: &str) -> [Node; 3] {
    let nodes = [
        start_node("n1", text),
        start_node("n2", text),
        start_node("n3", text),
    ];
    wait_seen(&nodes[0].broker, &ALL_UP).await;
    nodes
}

/// `GET /api/v1/cluster` on `node`.
pub async fn status(node: &Broker) -> Value {
    let (code, body) = node.admin_request("GET", "/api/v1/cluster").await;
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The status of each node `node` lists, by name.
pub async fn seen(node: &Broker) -> Vec<(String, String)> {
    status(node).await["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_owned(),
                n["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// Waits until `node` lists exactly `expected` (name, status) pairs.
pub async fn wait_seen(node: &Broker, expected: &[(&str, &str)]) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(n, s)| (n.to_string(), s.to_string()))
        .collect();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = seen(node).await;
        if now == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {expected:?}, the node lists {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

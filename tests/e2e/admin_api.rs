//! The admin API's routes against a real broker: every operation of
//! `docs/openapi.yaml` is called, and every JSON answer is validated
//! against the schema the file gives for its status, made strict (an
//! object may hold no field the file does not name), so that the file
//! and the broker cannot drift apart unnoticed. Then hostile input: ids,
//! topics and queries no one should send.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use mqhost_codec::{ProtocolVersion, QoS};
use mqhost_tests::plugins::{workspace_library, PluginDirs};
use mqhost_tests::raw::{login, publish, RawClient};
use mqhost_tests::Broker;
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(10);

/// The OpenAPI file as JSON.
fn openapi() -> Value {
    let path = mqhost_tests::plugins::repo_root().join("docs/openapi.yaml");
    let text = std::fs::read_to_string(&path).expect("docs/openapi.yaml");
    serde_norway::from_str(&text).expect("docs/openapi.yaml is YAML")
}

/// Every schema object that names its properties and says nothing of
/// others refuses others: an answer's field the file does not describe
/// fails the test (clients may still be told that fields get added).
fn strict(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), Value::Bool(false));
            }
            for value in map.values_mut() {
                strict(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strict),
        _ => {}
    }
}

/// The file's operations, `METHOD /path/{template}`.
fn operations(spec: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            if item.get(method).is_some() {
                found.insert(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    found
}

/// Checks answers against the file and remembers which operations were
/// called.
struct Checker {
    spec: Value,
    /// The file's `components`, strict, for `$ref`s to resolve in.
    components: Value,
    called: BTreeSet<String>,
}

impl Checker {
    fn new() -> Checker {
        let spec = openapi();
        let mut components = spec["components"].clone();
        strict(&mut components);
        Checker {
            spec,
            components,
            called: BTreeSet::new(),
        }
    }

    /// The JSON Schema the file gives for `status` of `METHOD template`,
    /// with the components beside it; None when the status has no JSON
    /// body.
    fn schema(&self, method: &str, template: &str, status: u16) -> Option<Value> {
        let operation = &self.spec["paths"][template][method.to_lowercase()];
        assert!(
            operation.is_object(),
            "{method} {template} is not in docs/openapi.yaml"
        );
        let mut response = operation["responses"][status.to_string()].clone();
        assert!(
            response.is_object(),
            "{method} {template}: status {status} is not in docs/openapi.yaml"
        );
        if let Some(reference) = response["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap();
            response = self.spec["components"]["responses"][name].clone();
        }
        let mut schema = response["content"]["application/json"]["schema"].clone();
        if schema.is_null() {
            return None;
        }
        strict(&mut schema);
        let mut root = json!({ "$schema": "https://json-schema.org/draft/2020-12/schema" });
        root["allOf"] = json!([schema]);
        root["components"] = self.components.clone();
        Some(root)
    }

    /// Validates `body` as the answer `status` of `METHOD template`.
    fn check_body(
        &self,
        method: &str,
        template: &str,
        status: u16,
        body: &str,
    ) -> Result<(), String> {
        match self.schema(method, template, status) {
            None => {
                if body.is_empty() {
                    Ok(())
                } else {
                    Err(format!("a body where the file has none: {body}"))
                }
            }
            Some(schema) => {
                let value: Value =
                    serde_json::from_str(body).map_err(|e| format!("not JSON ({e}): {body}"))?;
                let validator = jsonschema::validator_for(&schema)
                    .unwrap_or_else(|e| panic!("{method} {template} {status}: bad schema: {e}"));
                let errors: Vec<String> = validator
                    .iter_errors(&value)
                    .map(|e| format!("{} at {}", e, e.instance_path()))
                    .collect();
                if errors.is_empty() {
                    Ok(())
                } else {
                    Err(format!("{}\nin {value:#}", errors.join("\n")))
                }
            }
        }
    }

    /// Calls `METHOD path` (an instance of `template`) with `body`,
    /// expects `status`, validates the answer and returns it.
    async fn call(
        &mut self,
        broker: &Broker,
        method: &str,
        template: &str,
        path: &str,
        body: &str,
        status: u16,
    ) -> Value {
        let response = broker.admin_call(method, path, body).await;
        assert_eq!(
            response.status, status,
            "{method} {path}: {}",
            response.body
        );
        if let Err(e) = self.check_body(method, template, status, &response.body) {
            panic!("{method} {path} answered {status}, not as docs/openapi.yaml says:\n{e}");
        }
        self.called.insert(format!("{method} {template}"));
        if response.body.is_empty() {
            Value::Null
        } else {
            response.json()
        }
    }
}

/// Adds admin `name` to the broker's admins file through `mqhost admins`.
fn add_admin(broker: &Broker, dir: &Path, name: &str, password: &str) {
    let conf = dir.join("admins.conf");
    std::fs::write(
        &conf,
        format!(
            "admin.token_file = {}\n",
            broker.admin_token_file().display()
        ),
    )
    .unwrap();
    mqhost_tests::admin::add_admin(&conf, name, password);
}

/// A broker with the decider plugin (which checks its configuration) and
/// the probe (which cannot), a small maximum packet, and a 5.0 client
/// `api-client` of user `alice` subscribed to `api/in`.
async fn broker_with_a_client() -> (PluginDirs, Broker, RawClient) {
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-decider"));
    dirs.install(&workspace_library("mqhost-probe"));
    dirs.write_config(
        "decider",
        &format!("decider.file = {}\n", dirs.file("questions.log").display()),
    );
    dirs.write_config(
        "probe",
        &format!(
            "probe.file = {}\nprobe.tag = api\n",
            dirs.file("events.log").display()
        ),
    );
    let broker = Broker::start_with_plugins(&dirs, &[("mqtt.max_packet_size", "2KB")]);
    assert!(
        broker.wait_for_logs("plugin started", 2, WAIT),
        "{:#?}",
        broker.logs()
    );
    let (mut client, _) = RawClient::connect_with(
        broker.addr(),
        login(ProtocolVersion::V5, "api-client", Some("alice"), None),
    )
    .await;
    client.subscribe("api/in", QoS::AtLeastOnce).await;
    (dirs, broker, client)
}

/// Publishes a retained message on `topic` and waits until the store has it.
async fn retain(broker: &Broker, topic: &str, payload: &[u8]) {
    let mut publisher =
        RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "retainer").await;
    let mut packet = publish(topic, payload, QoS::AtLeastOnce, 1);
    packet.retain = true;
    publisher.send(mqhost_codec::Packet::Publish(packet)).await;
    publisher.recv().await;
    publisher.disconnect().await;
}

#[tokio::test]
async fn admin_api_answers_as_the_openapi_file_says() {
    let (dirs, broker, _client) = broker_with_a_client().await;
    retain(&broker, "api/kept", b"hello").await;
    let mut api = Checker::new();

    // The checker itself can fail: a client without its id is refused.
    let status = api
        .call(&broker, "GET", "/api/v1/status", "/api/v1/status", "", 200)
        .await;
    assert!(status["uptime"].is_u64());
    let mut client = api
        .call(
            &broker,
            "GET",
            "/api/v1/clients/{clientid}",
            "/api/v1/clients/api-client",
            "",
            200,
        )
        .await;
    client.as_object_mut().unwrap().remove("clientid");
    assert!(api
        .check_body(
            "GET",
            "/api/v1/clients/{clientid}",
            200,
            &client.to_string()
        )
        .is_err());
    client["clientid"] = "api-client".into();
    client["surprise"] = 1.into();
    assert!(api
        .check_body(
            "GET",
            "/api/v1/clients/{clientid}",
            200,
            &client.to_string()
        )
        .is_err());

    // Clients and sessions.
    let page = api
        .call(
            &broker,
            "GET",
            "/api/v1/clients",
            "/api/v1/clients?clientid=api&username=ali&ip_address=127.0.&limit=10",
            "",
            200,
        )
        .await;
    assert_eq!(page["meta"]["count"], 1, "{page}");
    let found = &page["data"][0];
    assert_eq!(found["clientid"], "api-client");
    assert_eq!(found["username"], "alice");
    assert_eq!(found["proto_ver"], 5);
    assert_eq!(found["connected"], true);
    assert_eq!(found["subscriptions_cnt"], 1);
    api.call(
        &broker,
        "GET",
        "/api/v1/clients",
        "/api/v1/clients?limit=0",
        "",
        400,
    )
    .await;
    api.call(
        &broker,
        "GET",
        "/api/v1/clients/{clientid}",
        "/api/v1/clients/nobody",
        "",
        404,
    )
    .await;
    let sessions = api
        .call(
            &broker,
            "GET",
            "/api/v1/sessions",
            "/api/v1/sessions",
            "",
            200,
        )
        .await;
    assert!(
        sessions["meta"]["count"].as_u64().unwrap() >= 1,
        "{sessions}"
    );
    api.call(
        &broker,
        "GET",
        "/api/v1/sessions",
        "/api/v1/sessions?clientId=x",
        "",
        400,
    )
    .await;

    // Subscriptions.
    let subs = api
        .call(
            &broker,
            "GET",
            "/api/v1/clients/{clientid}/subscriptions",
            "/api/v1/clients/api-client/subscriptions",
            "",
            200,
        )
        .await;
    assert_eq!(
        subs,
        json!([{"topic": "api/in", "qos": 1, "nl": 0, "rap": 0, "rh": 0, "subid": null}])
    );
    let added = api
        .call(
            &broker,
            "POST",
            "/api/v1/clients/{clientid}/subscribe",
            "/api/v1/clients/api-client/subscribe",
            r##"{"topic": "api/more/#", "qos": 2}"##,
            200,
        )
        .await;
    assert_eq!(added["new"], true);
    api.call(
        &broker,
        "POST",
        "/api/v1/clients/{clientid}/subscribe",
        "/api/v1/clients/api-client/subscribe",
        r#"{"topic": "a/#/b"}"#,
        400,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/clients/{clientid}/subscribe",
        "/api/v1/clients/nobody/subscribe",
        r#"{"topic": "a"}"#,
        404,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/clients/{clientid}/unsubscribe",
        "/api/v1/clients/api-client/unsubscribe",
        r##"{"topic": "api/more/#"}"##,
        200,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/clients/{clientid}/unsubscribe",
        "/api/v1/clients/api-client/unsubscribe",
        r##"{"topic": "api/more/#"}"##,
        404,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/clients/{clientid}/unsubscribe",
        "/api/v1/clients/api-client/unsubscribe",
        r#"{"topic": 7}"#,
        400,
    )
    .await;

    // Retained messages and publishing.
    let kept = api
        .call(
            &broker,
            "GET",
            "/api/v1/retained",
            "/api/v1/retained?topic=api/%2B",
            "",
            200,
        )
        .await;
    assert_eq!(kept["data"][0]["topic"], "api/kept", "{kept}");
    assert_eq!(kept["data"][0]["from_clientid"], "retainer");
    api.call(
        &broker,
        "GET",
        "/api/v1/retained",
        "/api/v1/retained?topic=a/%23/b",
        "",
        400,
    )
    .await;
    let message = api
        .call(
            &broker,
            "GET",
            "/api/v1/retained/{topic}",
            "/api/v1/retained/api%2Fkept",
            "",
            200,
        )
        .await;
    assert_eq!(message["payload_utf8"], "hello");
    assert_eq!(message["payload"], "aGVsbG8=");
    api.call(
        &broker,
        "GET",
        "/api/v1/retained/{topic}",
        "/api/v1/retained/api%2Fnone",
        "",
        404,
    )
    .await;
    api.call(
        &broker,
        "GET",
        "/api/v1/retained/{topic}",
        "/api/v1/retained/api%2F%2B",
        "",
        400,
    )
    .await;
    let published = api
        .call(&broker, "POST", "/api/v1/publish", "/api/v1/publish", r#"{"topic": "api/in", "payload": "AAEC", "encoding": "base64", "qos": 1, "retain": true}"#, 200)
        .await;
    assert_eq!(published["receivers"], 1);
    let binary = api
        .call(
            &broker,
            "GET",
            "/api/v1/retained/{topic}",
            "/api/v1/retained/api/in",
            "",
            200,
        )
        .await;
    assert_eq!(binary["payload"], "AAEC");
    assert_eq!(binary["from_clientid"], "");
    api.call(
        &broker,
        "POST",
        "/api/v1/publish",
        "/api/v1/publish",
        r#"{"topic": "$SYS/broker/x"}"#,
        403,
    )
    .await;
    let big = format!(
        r#"{{"topic": "api/in", "payload": "{}"}}"#,
        "x".repeat(3000)
    );
    api.call(
        &broker,
        "POST",
        "/api/v1/publish",
        "/api/v1/publish",
        &big,
        413,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/publish",
        "/api/v1/publish",
        r#"{"topic": "api/+"}"#,
        400,
    )
    .await;
    api.call(
        &broker,
        "DELETE",
        "/api/v1/retained/{topic}",
        "/api/v1/retained/api%2Fkept",
        "",
        204,
    )
    .await;
    api.call(
        &broker,
        "DELETE",
        "/api/v1/retained/{topic}",
        "/api/v1/retained/api%2Fkept",
        "",
        404,
    )
    .await;

    // Plugins and their files.
    let plugins = api
        .call(
            &broker,
            "GET",
            "/api/v1/plugins",
            "/api/v1/plugins",
            "",
            200,
        )
        .await;
    assert_eq!(plugins["plugins"].as_array().unwrap().len(), 2, "{plugins}");
    api.call(
        &broker,
        "POST",
        "/api/v1/plugins/{name}/{action}",
        "/api/v1/plugins/probe/reload",
        "",
        200,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/plugins/{name}/{action}",
        "/api/v1/plugins/nosuch/load",
        "",
        404,
    )
    .await;
    let file = api
        .call(
            &broker,
            "GET",
            "/api/v1/plugins/{name}/config",
            "/api/v1/plugins/decider/config",
            "",
            200,
        )
        .await;
    assert!(
        file["text"].as_str().unwrap().contains("decider.file"),
        "{file}"
    );
    assert_eq!(file["exists"], true);
    api.call(
        &broker,
        "GET",
        "/api/v1/plugins/{name}/config",
        "/api/v1/plugins/nosuch/config",
        "",
        404,
    )
    .await;
    let good = json!({ "text": format!("decider.file = {}\ndecider.users = bob:allow\n", dirs.file("questions.log").display()) });
    let checked = api
        .call(
            &broker,
            "POST",
            "/api/v1/plugins/{name}/config/validate",
            "/api/v1/plugins/decider/config/validate",
            &good.to_string(),
            200,
        )
        .await;
    assert_eq!(checked["ok"], true, "{checked}");
    let bad = json!({ "text": "plugin.priority = high\ndecider.users = bob\n" });
    let refused = api
        .call(
            &broker,
            "POST",
            "/api/v1/plugins/{name}/config/validate",
            "/api/v1/plugins/decider/config/validate",
            &bad.to_string(),
            200,
        )
        .await;
    assert_eq!(refused["ok"], false, "{refused}");
    assert_eq!(refused["errors"][0]["line"], 2, "{refused}");
    assert_eq!(refused["errors"][0]["key"], "decider.users", "{refused}");
    assert!(
        refused["warnings"][0]
            .as_str()
            .unwrap()
            .contains("plugin.priority"),
        "{refused}"
    );
    let cannot = api
        .call(
            &broker,
            "POST",
            "/api/v1/plugins/{name}/config/validate",
            "/api/v1/plugins/probe/config/validate",
            r#"{"text": "x = 1"}"#,
            200,
        )
        .await;
    assert_eq!(cannot["ok"], Value::Null, "{cannot}");
    // A refused text is not written; a checked one is, and taken.
    let before = std::fs::read_to_string(dirs.etc.join("decider.conf")).unwrap();
    let refusal = api
        .call(
            &broker,
            "PUT",
            "/api/v1/plugins/{name}/config",
            "/api/v1/plugins/decider/config",
            &bad.to_string(),
            422,
        )
        .await;
    assert!(refusal["error"].is_string());
    assert_eq!(
        std::fs::read_to_string(dirs.etc.join("decider.conf")).unwrap(),
        before
    );
    api.call(
        &broker,
        "PUT",
        "/api/v1/plugins/{name}/config",
        "/api/v1/plugins/probe/config",
        r#"{"text": "x = 1"}"#,
        501,
    )
    .await;
    let written = api
        .call(
            &broker,
            "PUT",
            "/api/v1/plugins/{name}/config",
            "/api/v1/plugins/decider/config",
            &good.to_string(),
            200,
        )
        .await;
    assert_eq!(written["state"], "running", "{written}");
    assert_eq!(written["last_config_error"], Value::Null, "{written}");
    assert_eq!(
        std::fs::read_to_string(dirs.etc.join("decider.conf")).unwrap(),
        good["text"].as_str().unwrap()
    );
    let huge = json!({ "text": "#".repeat(62 * 1024) });
    api.call(
        &broker,
        "POST",
        "/api/v1/plugins/{name}/config/validate",
        "/api/v1/plugins/decider/config/validate",
        &huge.to_string(),
        413,
    )
    .await;

    // What the broker runs with.
    let listeners = api
        .call(
            &broker,
            "GET",
            "/api/v1/listeners",
            "/api/v1/listeners",
            "",
            200,
        )
        .await;
    assert_eq!(listeners[0]["id"], "tcp:default", "{listeners}");
    assert_eq!(listeners[0]["bind"], broker.addr().to_string());
    assert!(listeners[0]["current_connections"].as_u64().unwrap() >= 1);
    // No cluster plugin here: the route says so.
    api.call(
        &broker,
        "GET",
        "/api/v1/cluster",
        "/api/v1/cluster",
        "",
        404,
    )
    .await;
    // The store (on by default) holds the retained message published above.
    let store = api
        .call(
            &broker,
            "GET",
            "/api/v1/persistence",
            "/api/v1/persistence",
            "",
            200,
        )
        .await;
    assert_eq!(store["state"], "ok", "{store}");
    assert!(store["retained_messages"].as_u64() >= Some(1), "{store}");
    let config = api
        .call(&broker, "GET", "/api/v1/config", "/api/v1/config", "", 200)
        .await;
    assert_eq!(config["mqtt.max_packet_size"], "2KB", "{config}");
    assert_eq!(
        config["admin.token_file"],
        broker.admin_token_file().display().to_string()
    );

    // Logging in and out.
    add_admin(&broker, dirs.root.path(), "ops", "a long passphrase");
    api.call(
        &broker,
        "POST",
        "/api/v1/login",
        "/api/v1/login",
        r#"{"username": "ops", "password": "wrong"}"#,
        401,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/login",
        "/api/v1/login",
        r#"{"username": "ops"}"#,
        400,
    )
    .await;
    api.call(
        &broker,
        "POST",
        "/api/v1/login",
        "/api/v1/login",
        r#"{"username": "ops", "password": "a long passphrase"}"#,
        200,
    )
    .await;
    api.call(&broker, "POST", "/api/v1/logout", "/api/v1/logout", "", 204)
        .await;

    // Kicked, the client is gone from the clients (its session with it:
    // it started clean).
    api.call(
        &broker,
        "DELETE",
        "/api/v1/clients/{clientid}",
        "/api/v1/clients/api-client",
        "",
        204,
    )
    .await;
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, _) = broker
            .admin_request("GET", "/api/v1/clients/api-client")
            .await;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the kicked client stays");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    api.call(
        &broker,
        "DELETE",
        "/api/v1/clients/{clientid}",
        "/api/v1/clients/api-client",
        "",
        404,
    )
    .await;

    // /metrics is served by the metrics module, in text.
    let metrics = broker.admin_call("GET", "/metrics", "").await;
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(
        metrics
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain")),
        "{:?}",
        metrics.headers
    );
    api.called.insert("GET /metrics".to_owned());

    let missed: Vec<String> = operations(&api.spec)
        .difference(&api.called)
        .cloned()
        .collect();
    assert!(
        missed.is_empty(),
        "operations of docs/openapi.yaml never called: {missed:?}"
    );
}

#[tokio::test]
async fn admin_api_takes_hostile_ids_topics_and_queries_without_harm() {
    let broker = Broker::start();
    // A client id holding a slash, a percent sign, a space and UTF-8.
    let id = "a/b %é+#";
    let encoded = "a%2Fb%20%25%C3%A9%2B%23";
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V5, id).await;
    client.subscribe("x/+", QoS::AtMostOnce).await;
    let (status, body) = broker
        .admin_request("GET", &format!("/api/v1/clients/{encoded}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let value: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["clientid"], id);
    let (status, body) = broker
        .admin_request("GET", &format!("/api/v1/clients/{encoded}/subscriptions"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("x/+"), "{body}");
    // Found by a part of it, the query encoded as forms encode it.
    let (status, body) = broker
        .admin_request("GET", "/api/v1/clients?clientid=b+%25%C3%A9")
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"count\":1"), "{body}");

    for (path, expected) in [
        // Broken escapes, not UTF-8, a NUL.
        ("/api/v1/clients/a%2", 400),
        ("/api/v1/clients/%FF", 400),
        ("/api/v1/clients/%C3/subscriptions", 400),
        ("/api/v1/clients?clientid=%zz", 400),
        ("/api/v1/retained/a%00b", 400),
        ("/api/v1/retained/%E2%82", 400),
        // Paging out of bounds.
        ("/api/v1/clients?page=0", 400),
        ("/api/v1/clients?limit=1001", 400),
        ("/api/v1/clients?page=-1", 400),
        ("/api/v1/clients?page=18446744073709551616", 400),
        ("/api/v1/clients?page=1&page=2", 400),
        ("/api/v1/sessions?ip_address=1.2.3.4%3B", 400),
        ("/api/v1/retained?topic=%23%2Fa", 400),
        // Nothing there.
        ("/api/v1/clients/", 404),
        ("/api/v1/clients/nobody/subscriptions", 404),
        ("/api/v1/plugins/..%2F..%2Fetc/config", 404),
        ("/api/v1/plugins/%2E%2E/config", 404),
        ("/api/v1/nothing", 404),
    ] {
        let (status, body) = broker.admin_request("GET", path).await;
        assert_eq!(status, expected, "GET {path}: {body}");
        let value: Value =
            serde_json::from_str(&body).unwrap_or_else(|_| panic!("GET {path}: {body}"));
        assert!(value["error"].is_string(), "GET {path}: {body}");
    }
    // A page far past the end is empty.
    let (status, body) = broker
        .admin_request(
            "GET",
            "/api/v1/clients?page=18446744073709551615&limit=1000",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"data\":[]"), "{body}");

    // Bodies that are not what they should be.
    for body in [
        "",
        "[]",
        "null",
        "{\"topic\": null}",
        "{\"topic\": \"a\", \"qos\": 3}",
        "{\"topic\": \"a\", \"qos\": 1.5}",
        "{",
    ] {
        let response = broker
            .admin_call(
                "POST",
                &format!("/api/v1/clients/{encoded}/subscribe"),
                body,
            )
            .await;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
    }
    for body in [
        "{\"topic\": \"t\", \"encoding\": \"rot13\"}",
        "{\"topic\": \"t\", \"retain\": \"yes\"}",
        "{\"topic\": \"t\", \"payload\": 5}",
    ] {
        let response = broker.admin_call("POST", "/api/v1/publish", body).await;
        assert_eq!(response.status, 400, "{body}: {}", response.body);
    }
    // A method a path does not take.
    let response = broker.admin_call("PUT", "/api/v1/clients", "{}").await;
    assert_eq!(response.status, 405, "{}", response.body);

    // The broker is still whole: the client still gets its messages.
    let response = broker
        .admin_call(
            "POST",
            "/api/v1/publish",
            r#"{"topic": "x/y", "payload": "still"}"#,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(&client.recv_publish().await.payload[..], b"still");
}

#[tokio::test]
async fn admin_api_lists_offline_sessions_with_their_expiry_and_subscribes_them() {
    let broker = Broker::start();
    let mut connect = login(ProtocolVersion::V5, "sleeper", None, None);
    connect.clean_start = false;
    connect.properties.session_expiry_interval = Some(600);
    let (client, _) = RawClient::connect_with(broker.addr(), connect).await;
    client.disconnect().await;
    let deadline = Instant::now() + WAIT;
    let session = loop {
        let (status, body) = broker
            .admin_request("GET", "/api/v1/sessions?clientid=sleeper")
            .await;
        assert_eq!(status, 200, "{body}");
        let value: Value = serde_json::from_str(&body).unwrap();
        if value["data"][0]["connected"] == false {
            break value["data"][0].clone();
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(session["session_expiry_interval"], 600);
    assert!(session["expires_at"].is_string(), "{session}");
    assert!(session["disconnected_at"].is_string(), "{session}");
    // Not a connected client.
    let (_, body) = broker
        .admin_request("GET", "/api/v1/clients?clientid=sleeper")
        .await;
    assert!(body.contains("\"count\":0"), "{body}");

    // Subscribed while away, it gets what was published meanwhile.
    let response = broker
        .admin_call(
            "POST",
            "/api/v1/clients/sleeper/subscribe",
            r#"{"topic": "news/#", "qos": 1}"#,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let response = broker
        .admin_call(
            "POST",
            "/api/v1/publish",
            r#"{"topic": "news/today", "payload": "hi", "qos": 1}"#,
        )
        .await;
    assert_eq!(response.status, 200, "{}", response.body);
    let deadline = Instant::now() + WAIT;
    loop {
        let (_, body) = broker.admin_request("GET", "/api/v1/clients/sleeper").await;
        if body.contains("\"mqueue_len\":1") {
            break;
        }
        assert!(Instant::now() < deadline, "{body}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut connect = login(ProtocolVersion::V5, "sleeper", None, None);
    connect.clean_start = false;
    let (mut back, _) = RawClient::connect_with(broker.addr(), connect).await;
    assert_eq!(&back.recv_publish().await.payload[..], b"hi");
}

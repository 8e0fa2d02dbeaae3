//! The web dashboard as a person uses it: a real headless Chromium
//! (Debian's `chromium`, through `chromedriver`) against a private broker,
//! logging in through the form, watching a real MQTT client appear and
//! kicking it, and editing a plugin's configuration. What the tests assert
//! is what the page shows; screenshots of each step are saved under
//! `target/dashboard-screenshots/<test>/` and their paths printed.
//!
//! Without chromium or chromedriver the browser tests say so and pass;
//! `.ci/run` installs both.

mod browser;

use std::time::{Duration, Instant};

use browser::Browser;
use fantoccini::Locator;
use mqhost_codec::{Disconnect, Packet, ProtocolVersion, QoS};
use mqhost_tests::admin::{add_admin, Response};
use mqhost_tests::plugins::{workspace_library, PluginDirs, TempDir};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::redis::{wait_until, RedisServer};
use mqhost_tests::Broker;
use redis::Commands;

const ADMIN: &str = "operator";
const PASSWORD: &str = "dashboard pass phrase";
/// A login costs 210,000 PBKDF2 rounds: seconds in a debug build, more on
/// a busy machine (the page itself waits up to two minutes).
const LOGIN_WAIT: Duration = Duration::from_secs(125);
/// The longest a whole browser test may take: nothing here may hang.
const TEST_LIMIT: Duration = Duration::from_secs(240);

/// Whether the browser tests can run; prints why not.
fn browser_or_skip(test: &str) -> bool {
    match browser::missing() {
        Some(reason) => {
            println!("skipping {test}: {reason}");
            false
        }
        None => true,
    }
}

/// A configuration file with admin [`ADMIN`] in `dir`, and the `--set`
/// that puts the broker's token (and so its admins file) beside it.
fn with_admin(dir: &TempDir) -> (String, String) {
    let conf = dir.path().join("mqhost.conf");
    std::fs::write(&conf, "").unwrap();
    add_admin(&conf, ADMIN, PASSWORD);
    (
        "admin.token_file".to_owned(),
        dir.path().join("data/admin.token").display().to_string(),
    )
}

/// The dashboard's address.
fn dashboard(broker: &Broker) -> String {
    format!("http://{}/", broker.admin_addr())
}

/// Opens the dashboard, logs in through its form and waits for the
/// overview.
async fn log_in(browser: &mut Browser, broker: &Broker) {
    browser.client.goto(&dashboard(broker)).await.unwrap();
    browser.find("#login-form").await;
    browser.screenshot("login").await;
    browser
        .find("#login-username")
        .await
        .send_keys(ADMIN)
        .await
        .unwrap();
    browser
        .find("#login-password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser.find("#login-submit").await.click().await.unwrap();
    // The overview, or the form's word on why not.
    let deadline = Instant::now() + LOGIN_WAIT;
    loop {
        if browser
            .client
            .find(Locator::Css("#page-overview"))
            .await
            .is_ok()
        {
            break;
        }
        if let Ok(error) = browser.client.find(Locator::Css("#login-error")).await {
            let said = error.text().await.unwrap_or_default();
            assert!(said.is_empty(), "the login failed: {said}");
        }
        assert!(
            Instant::now() < deadline,
            "no overview {LOGIN_WAIT:?} after logging in"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser
        .wait_text("#overview-cards", "Clients connected")
        .await;
    assert_eq!(browser.find("#who").await.text().await.unwrap(), ADMIN);
}

/// One request to the dashboard without a token or a cookie, `host` as
/// its Host.
async fn fetch(broker: &Broker, path: &str, host: &str, extra: &[(&str, &str)]) -> Response {
    let mut headers = vec![("Host", host)];
    headers.extend_from_slice(extra);
    broker.admin_send("GET", path, &headers, "").await
}

#[tokio::test]
async fn dashboard_page_and_assets_need_no_token_and_carry_a_strict_policy() {
    let broker = Broker::start();
    let host = broker.admin_addr().to_string();

    let page = fetch(&broker, "/", &host, &[]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    assert!(page
        .body
        .contains(r#"<script type="module" src="/assets/app.js">"#));
    let policy = page.header("content-security-policy").expect("a CSP");
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} missing: {policy}");
    }
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    // No inline script: every script is a file of this origin.
    assert!(!page.body.contains("<script>"), "{}", page.body);

    let script = fetch(&broker, "/assets/app.js", &host, &[]).await;
    assert_eq!(script.status, 200);
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));
    let etag = script.header("etag").expect("an ETag").to_owned();
    let again = fetch(
        &broker,
        "/assets/app.js",
        &host,
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(again.status, 304);
    let style = fetch(&broker, "/assets/style.css", &host, &[]).await;
    assert_eq!(
        style.header("content-type"),
        Some("text/css; charset=utf-8")
    );
    let module = fetch(&broker, "/assets/pages/plugins.js", &host, &[]).await;
    assert_eq!(module.status, 200);

    for missing in ["/assets/nosuch.js", "/assets/../Cargo.toml", "/assets/"] {
        let response = fetch(&broker, missing, &host, &[]).await;
        assert_eq!(response.status, 404, "{missing}: {}", response.body);
    }
    // The API behind the page still wants a token or a login, and any
    // other path too.
    for private in [
        "/api/v1/status",
        "/api/v1/plugins",
        "/index.html",
        "/metrics",
    ] {
        let response = fetch(&broker, private, &host, &[]).await;
        assert_eq!(response.status, 401, "{private}: {}", response.body);
    }
    // And the page is only served under the API's own names.
    let port = broker.admin_addr().port();
    let rebound = fetch(&broker, "/", &format!("rebind.example:{port}"), &[]).await;
    assert_eq!(rebound.status, 421, "{}", rebound.body);
}

/// MQTT 5.0 reason code 0x98, Administrative action.
const ADMINISTRATIVE_ACTION: u8 = 0x98;

#[tokio::test]
async fn dashboard_logs_in_shows_a_client_connect_and_kicks_it() {
    const TEST: &str = "dashboard_logs_in_shows_a_client_connect_and_kicks_it";
    if !browser_or_skip(TEST) {
        return;
    }
    let dir = TempDir::new();
    let (key, token_file) = with_admin(&dir);
    let broker = Broker::start_with(&[(key.as_str(), token_file.as_str())]);
    let mut browser = Browser::start(TEST, 1280, 900).await;
    tokio::time::timeout(TEST_LIMIT, async {
        log_in(&mut browser, &broker).await;
        // The charts have drawn something by the second sample.
        browser
            .wait_text("#page-overview", "Messages per second")
            .await;
        browser.find("canvas.chart").await;
        browser.screenshot("overview").await;

        let mut client =
            RawClient::connect(broker.addr(), ProtocolVersion::V5, "sensor/kitchen 1").await;
        client.subscribe("kitchen/#", QoS::AtLeastOnce).await;
        let mut publisher =
            RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "thermometer").await;
        let mut retained = publish("kitchen/temp", b"21.5 C", QoS::AtMostOnce, 0);
        retained.retain = true;
        publisher.send(Packet::Publish(retained)).await;
        publisher.disconnect().await;
        // The kitchen client takes it (and so it is stored).
        assert_eq!(&client.recv_publish().await.payload[..], b"21.5 C");
        browser
            .find("#nav a[data-page=clients]")
            .await
            .click()
            .await
            .unwrap();
        let row = r#"#clients-table tr[data-clientid="sensor/kitchen 1"]"#;
        let text = browser.wait_text(row, "sensor/kitchen 1").await;
        assert!(text.contains("5.0"), "{text}");
        assert!(text.contains("127.0.0.1"), "{text}");
        browser.screenshot("clients").await;

        // Searching narrows the list to it, and away from it.
        browser
            .find("#search-clientid")
            .await
            .send_keys("kitchen")
            .await
            .unwrap();
        browser.wait_text("#clients-list", "sensor/kitchen 1").await;
        browser
            .find("#search-clientid")
            .await
            .send_keys("-no-such")
            .await
            .unwrap();
        browser
            .wait_text("#clients-list", "No client connected matches")
            .await;
        browser
            .find("#search-clientid")
            .await
            .clear()
            .await
            .unwrap();
        browser.wait_text(row, "sensor/kitchen 1").await;

        // Its subscription, among everyone's.
        browser
            .find("#nav a[data-page=subscriptions]")
            .await
            .click()
            .await
            .unwrap();
        let subscription = browser.wait_text("#subscriptions-list", "kitchen/#").await;
        assert!(subscription.contains("sensor/kitchen 1"), "{subscription}");
        // The retained message, and what it says.
        browser
            .find("#nav a[data-page=retained]")
            .await
            .click()
            .await
            .unwrap();
        browser.wait_text("#retained-list", "kitchen/temp").await;
        browser
            .find("#retained-list a[href='#/retained/kitchen%2Ftemp']")
            .await
            .click()
            .await
            .unwrap();
        browser.wait_text("pre.payload", "21.5 C").await;
        browser.screenshot("retained").await;
        browser
            .find("#nav a[data-page=clients]")
            .await
            .click()
            .await
            .unwrap();

        // Its details, then the kick, confirmed by a second press.
        browser
            .find(&format!("{row} a.clientid"))
            .await
            .click()
            .await
            .unwrap();
        browser.wait_text("#client-facts", "127.0.0.1").await;
        browser
            .wait_text("#client-subscriptions", "kitchen/#")
            .await;
        browser.screenshot("client-details").await;
        let kick = browser.find("#client-kick").await;
        kick.click().await.unwrap();
        assert_eq!(kick.text().await.unwrap(), "Kick? Press again");
        kick.click().await.unwrap();
        assert_eq!(
            client.expect_closed().await,
            [Packet::Disconnect(Disconnect {
                reason: ADMINISTRATIVE_ACTION,
                properties: Default::default(),
            })]
        );
        browser.wait_text("#toast", "Kicked sensor/kitchen 1").await;
        browser.screenshot("kicked").await;

        // Gone from the list.
        browser
            .find("#nav a[data-page=clients]")
            .await
            .click()
            .await
            .unwrap();
        browser
            .wait_text("#clients-list", "No client connected matches")
            .await;
        browser.wait_gone(row).await;
        browser.screenshot("clients-after-kick").await;
    })
    .await
    .expect("the test took too long");
    browser.close().await;
}

/// The Redis backend's configuration: pool1 on `server`, and a rule
/// that pushes each message's id to `<list>:<topic>`, its command as
/// given.
fn redis_config(server: &str, command: &str) -> String {
    format!(
        "backend.redis.pool1.server = {server}\n\
         # where messages go\n\
         backend.redis.hook.message.publish.1 = \
         {{\"topic\": \"#\", \"action\": {{\"commands\": [\"{command}\"]}}, \"pool\": \"pool1\"}}\n"
    )
}

/// Replaces the editor's text with `text`, typed.
async fn type_config(browser: &Browser, text: &str) {
    let editor = browser.find("#config-text").await;
    editor.clear().await.unwrap();
    editor.send_keys(text).await.unwrap();
}

/// Publishes a QoS 0 message to `topic` as client `id`.
async fn publish_to(broker: &Broker, id: &str, topic: &str) {
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, id).await;
    client
        .send(Packet::Publish(publish(topic, b"x", QoS::AtMostOnce, 0)))
        .await;
    client.disconnect().await;
}

#[tokio::test]
async fn dashboard_edits_a_plugin_config_and_shows_the_error_on_its_line() {
    const TEST: &str = "dashboard_edits_a_plugin_config_and_shows_the_error_on_its_line";
    if !browser_or_skip(TEST) {
        return;
    }
    let dir = TempDir::new();
    let (key, token_file) = with_admin(&dir);
    let redis = RedisServer::start();
    let server = redis.addr();
    let mut conn = redis.client();
    let dirs = PluginDirs::new();
    dirs.install(&workspace_library("mqhost-redis"));
    dirs.write_config(
        "redis",
        &redis_config(&server, "RPUSH old:${topic} ${msgid}"),
    );
    let broker = Broker::start_with_plugins(&dirs, &[(key.as_str(), token_file.as_str())]);
    broker
        .wait_for_log("plugin started", browser::WAIT)
        .expect("the redis plugin started");
    publish_to(&broker, "before", "t").await;
    assert!(wait_until(browser::WAIT, || conn
        .llen::<_, u32>("old:t")
        .unwrap()
        == 1));

    let mut browser = Browser::start(TEST, 1280, 1000).await;
    tokio::time::timeout(TEST_LIMIT, async {
        log_in(&mut browser, &broker).await;
        browser
            .find("#nav a[data-page=plugins]")
            .await
            .click()
            .await
            .unwrap();
        let card = r#"article[data-plugin="redis"]"#;
        browser.wait_text(card, "running").await;
        browser.screenshot("plugins").await;
        browser
            .find(&format!("{card} a[href$='/config']"))
            .await
            .click()
            .await
            .unwrap();
        let editor = browser.find("#config-text").await;
        let deadline = Instant::now() + browser::WAIT;
        while !editor
            .prop("value")
            .await
            .unwrap()
            .unwrap_or_default()
            .contains("RPUSH old:")
        {
            assert!(Instant::now() < deadline, "the file never showed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }

        // A mistake on line 3: a placeholder the rule's hook point does
        // not have.
        type_config(
            &browser,
            &redis_config(&server, "RPUSH new:${topic} ${nosuch}"),
        )
        .await;
        browser
            .find("#config-validate")
            .await
            .click()
            .await
            .unwrap();
        let problem = browser
            .wait_text(
                "#config-problems li.error",
                "backend.redis.hook.message.publish.1",
            )
            .await;
        assert!(problem.starts_with("Line 3"), "{problem}");
        browser.wait_text("#config-status", "refuses").await;
        let marked = browser.find(".gutter div.error").await;
        assert_eq!(
            marked.attr("data-line").await.unwrap().as_deref(),
            Some("3")
        );
        assert_eq!(marked.text().await.unwrap(), "3");
        browser.screenshot("config-error").await;

        // Saving it is refused the same way, and nothing is written.
        browser.find("#config-save").await.click().await.unwrap();
        browser
            .wait_text("#config-status", "Nothing was written")
            .await;
        let on_disk = std::fs::read_to_string(dirs.etc.join("redis.conf")).unwrap();
        assert!(on_disk.contains("RPUSH old:"), "{on_disk}");

        // The fix, checked, saved and applied: messages go to new:.
        type_config(
            &browser,
            &redis_config(&server, "RPUSH new:${topic} ${msgid}"),
        )
        .await;
        browser
            .find("#config-validate")
            .await
            .click()
            .await
            .unwrap();
        browser.wait_text("#config-status", "accepts").await;
        browser.wait_gone(".gutter div.error").await;
        browser.find("#config-save").await.click().await.unwrap();
        browser
            .wait_text("#config-status", "Saved and applied")
            .await;
        browser
            .wait_text("#config-status", "redis is running")
            .await;
        browser.screenshot("config-saved").await;
        broker
            .wait_for_log("plugin configuration reloaded", browser::WAIT)
            .expect("the plugin took the new configuration");
        publish_to(&broker, "after", "t").await;
        assert!(wait_until(browser::WAIT, || conn
            .llen::<_, u32>("new:t")
            .unwrap()
            == 1));
        assert_eq!(conn.llen::<_, u32>("old:t").unwrap(), 1);

        // The plugins page shows it running, both messages counted, and
        // its figures unfold.
        browser
            .find("a[href='#/plugins']")
            .await
            .click()
            .await
            .unwrap();
        browser.wait_text(card, "running").await;
        let events = format!("{card} dd[data-field=events]");
        assert_eq!(browser.wait_text(&events, "2").await, "2");
        browser
            .find(&format!("{card} summary"))
            .await
            .click()
            .await
            .unwrap();
        browser.wait_text(&format!("{card} details"), "pools").await;
        browser.screenshot("plugins-after").await;
    })
    .await
    .expect("the test took too long");
    browser.close().await;
}

#[tokio::test]
async fn dashboard_mqtt_page_talks_over_the_websocket_listener() {
    const TEST: &str = "dashboard_mqtt_page_talks_over_the_websocket_listener";
    if !browser_or_skip(TEST) {
        return;
    }
    let dir = TempDir::new();
    let (key, token_file) = with_admin(&dir);
    let broker = Broker::start_with(&[
        (key.as_str(), token_file.as_str()),
        ("listener.ws.browser", "127.0.0.1:0"),
    ]);
    let ws = broker.listener("ws:browser");
    // The page may open a WebSocket to that port, and to nothing else
    // but its own origin.
    let host = broker.admin_addr().to_string();
    let page = fetch(&broker, "/", &host, &[]).await;
    let policy = page.header("content-security-policy").unwrap();
    assert!(
        policy.contains(&format!("connect-src 'self' ws://*:{};", ws.port())),
        "{policy}"
    );

    let mut watcher = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "watcher").await;
    watcher.subscribe("from/page", QoS::AtMostOnce).await;

    // A phone's screen.
    let mut browser = Browser::start(TEST, 390, 844).await;
    tokio::time::timeout(TEST_LIMIT, async {
        log_in(&mut browser, &broker).await;
        browser.screenshot("overview-phone").await;
        browser
            .find("#nav-mqtt:not([hidden])")
            .await
            .click()
            .await
            .unwrap();
        let url = browser.find("#mqtt-url").await;
        let deadline = Instant::now() + browser::WAIT;
        let expected = format!("ws://{ws}/mqtt");
        while url.prop("value").await.unwrap().unwrap_or_default() != expected {
            assert!(
                Instant::now() < deadline,
                "the URL of the listener never showed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        browser.find("#mqtt-connect").await.click().await.unwrap();
        browser.wait_text("#mqtt-state", "connected").await;

        browser
            .find("#mqtt-filter")
            .await
            .send_keys("to/page/#")
            .await
            .unwrap();
        browser.find("#mqtt-subscribe").await.click().await.unwrap();
        browser.wait_text("#mqtt-subscriptions", "to/page/#").await;
        let mut sender = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "sender").await;
        sender
            .send(Packet::Publish(publish(
                "to/page/1",
                "hello, page".as_bytes(),
                QoS::AtMostOnce,
                0,
            )))
            .await;
        browser.wait_text("#mqtt-log", "hello, page").await;

        browser
            .find("#mqtt-topic")
            .await
            .send_keys("from/page")
            .await
            .unwrap();
        browser
            .find("#mqtt-payload")
            .await
            .send_keys("hello, broker")
            .await
            .unwrap();
        browser.find("#mqtt-publish").await.click().await.unwrap();
        let message = watcher.recv_publish().await;
        assert_eq!(message.topic, "from/page");
        assert_eq!(&message.payload[..], b"hello, broker");
        browser.screenshot("mqtt-phone").await;
    })
    .await
    .expect("the test took too long");
    browser.close().await;
}

//! End-to-end tests of the plugin without a broker: events from the
//! plugin kit's builders, its recording `TestHost`, and the log file read
//! back through a small JSON reader.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mqhost_plugin_api::testing::{
    client_event, delivery_event, message_event, plugin_config, session_event, subscription_event,
    GuardedPlugin, TestHost,
};
use mqhost_plugin_api::{
    ClientEvent, HookSet, MessageEvent, MessageId, MqhostPlugin, PluginConfig, SubscriptionEvent,
    Verdict,
};

use crate::Audit;

/// A file in the temporary directory, removed when dropped.
pub(crate) struct TempFile {
    path: PathBuf,
}

impl TempFile {
    pub(crate) fn new(tag: &str) -> TempFile {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("mqhost-audit-{tag}-{}-{n}.jsonl", std::process::id());
        let path = std::env::temp_dir().join(name);
        let _ = std::fs::remove_file(&path);
        TempFile { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> String {
        std::fs::read_to_string(&self.path).unwrap_or_default()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn config(text: &str) -> PluginConfig<'_> {
    plugin_config(text)
        .name("audit")
        .source("etc/plugins/audit.conf")
        .build()
}

fn start(text: &str) -> (Audit, TestHost) {
    let test_host = TestHost::new();
    let audit = Audit::start(test_host.host(), &config(text)).unwrap();
    (audit, test_host)
}

fn file_conf(file: &TempFile, rest: &str) -> String {
    format!("audit.file = {}\n{rest}", file.path().display())
}

const NODE: &str = "mqhost@test";

fn client<'a>(client_id: &'a str, reason: &'a str) -> ClientEvent<'a> {
    client_event(client_id)
        .username("alice")
        .peer("127.0.0.1:50000")
        .protocol(5)
        .clean_start(true)
        .keep_alive(60)
        .node(NODE)
        .reason(reason)
        .build()
}

fn subscription(filter: &str) -> SubscriptionEvent<'_> {
    subscription_event("sub-1", filter)
        .qos(1)
        .is_new(true)
        .node(NODE)
        .build()
}

fn message<'a>(topic: &'a str, payload: &'a [u8]) -> MessageEvent<'a> {
    message_event(topic)
        .id(MessageId::from_u128(61))
        .payload(payload)
        .qos(2)
        .retain(true)
        .from("pub-1")
        .node(NODE)
        .build()
}

/// A JSON value, as read back from the log.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    String(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

impl Json {
    fn str(&self) -> &str {
        match self {
            Json::String(s) => s,
            other => panic!("expected a string, got {other:?}"),
        }
    }
}

/// A strict reader for one JSON document: enough to check that every line
/// the plugin writes is valid JSON and to read its fields back.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn parse(text: &str) -> Json {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            at: 0,
        };
        let value = reader.value();
        reader.space();
        assert_eq!(reader.at, text.len(), "trailing text in {text:?}");
        value
    }

    fn space(&mut self) {
        while matches!(self.bytes.get(self.at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, expected: &str) {
        assert!(
            self.bytes[self.at..].starts_with(expected.as_bytes()),
            "expected {expected:?} at {}",
            self.at
        );
        self.at += expected.len();
    }

    fn value(&mut self) -> Json {
        self.space();
        match self.bytes[self.at] {
            b'{' => {
                self.at += 1;
                let mut fields = BTreeMap::new();
                self.space();
                if self.bytes[self.at] == b'}' {
                    self.at += 1;
                    return Json::Object(fields);
                }
                loop {
                    self.space();
                    let key = self.string();
                    self.space();
                    self.eat(":");
                    let value = self.value();
                    assert!(
                        fields.insert(key.clone(), value).is_none(),
                        "duplicate {key}"
                    );
                    self.space();
                    if self.bytes[self.at] == b',' {
                        self.at += 1;
                    } else {
                        self.eat("}");
                        return Json::Object(fields);
                    }
                }
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.bytes[self.at] == b']' {
                    self.at += 1;
                    return Json::Array(items);
                }
                loop {
                    items.push(self.value());
                    self.space();
                    if self.bytes[self.at] == b',' {
                        self.at += 1;
                    } else {
                        self.eat("]");
                        return Json::Array(items);
                    }
                }
            }
            b'"' => Json::String(self.string()),
            b't' => {
                self.eat("true");
                Json::Bool(true)
            }
            b'f' => {
                self.eat("false");
                Json::Bool(false)
            }
            b'n' => {
                self.eat("null");
                Json::Null
            }
            _ => {
                let start = self.at;
                while matches!(
                    self.bytes.get(self.at),
                    Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                ) {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.bytes[start..self.at]).unwrap();
                Json::Number(
                    text.parse()
                        .unwrap_or_else(|_| panic!("bad number {text:?}")),
                )
            }
        }
    }

    fn hex4(&mut self) -> u32 {
        let text = std::str::from_utf8(&self.bytes[self.at..self.at + 4]).unwrap();
        self.at += 4;
        u32::from_str_radix(text, 16).unwrap()
    }

    fn string(&mut self) -> String {
        self.eat("\"");
        let mut out = String::new();
        loop {
            let byte = self.bytes[self.at];
            self.at += 1;
            match byte {
                b'"' => return out,
                b'\\' => {
                    let escape = self.bytes[self.at];
                    self.at += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let mut code = self.hex4();
                            if (0xd800..0xdc00).contains(&code) {
                                self.eat("\\u");
                                let low = self.hex4();
                                code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
                            }
                            out.push(char::from_u32(code).unwrap());
                        }
                        other => panic!("bad escape \\{}", char::from(other)),
                    }
                }
                0x00..=0x1f => panic!("raw control character {byte:#04x} in a string"),
                _ => {
                    // Copy one whole UTF-8 character.
                    let start = self.at - 1;
                    let len = match byte {
                        0xf0.. => 4,
                        0xe0.. => 3,
                        0xc0.. => 2,
                        _ => 1,
                    };
                    let text = std::str::from_utf8(&self.bytes[start..start + len]).unwrap();
                    out.push_str(text);
                    self.at = start + len;
                }
            }
        }
    }
}

/// Every line of the file as a JSON object.
fn read_lines(file: &TempFile) -> Vec<BTreeMap<String, Json>> {
    file.read()
        .lines()
        .map(|line| match Reader::parse(line) {
            Json::Object(fields) => fields,
            other => panic!("expected an object, got {other:?}"),
        })
        .collect()
}

fn keys(line: &BTreeMap<String, Json>) -> Vec<&str> {
    line.keys().map(String::as_str).collect()
}

#[test]
fn every_hook_writes_one_line_with_its_fields() {
    let file = TempFile::new("all-hooks");
    let (audit, host) = start(&file_conf(&file, "audit.payload = on\n"));
    assert_eq!(audit.hooks(), crate::config::all_hooks());

    let connected = client("dev-1", "");
    audit.on_client_connected(&connected);
    audit.on_session_created(&session_event("dev-1").node(NODE).build());
    audit.on_session_subscribed(&subscription("a/+"));
    let published = message("a/b", b"21.5");
    assert_eq!(audit.on_message_publish(&published), Verdict::CONTINUE);
    let delivery = delivery_event("sub-1", published).qos(1).build();
    audit.on_message_delivered(&delivery);
    audit.on_message_acked(&delivery);
    let mut unsubscribed = subscription("a/+");
    unsubscribed.qos = 0;
    unsubscribed.is_new = false;
    audit.on_session_unsubscribed(&unsubscribed);
    audit.on_client_disconnected(&client("dev-1", "keepalive_timeout"));
    audit.stop();

    let lines = read_lines(&file);
    let hooks: Vec<&str> = lines.iter().map(|l| l["hook"].str()).collect();
    assert_eq!(
        hooks,
        [
            "client.connected",
            "session.created",
            "session.subscribed",
            "message.publish",
            "message.delivered",
            "message.acked",
            "session.unsubscribed",
            "client.disconnected",
        ]
    );
    for line in &lines {
        assert_eq!(line["node"], Json::String(NODE.into()));
        let Json::Number(ts) = line["ts"] else {
            panic!("ts is not a number: {line:?}")
        };
        assert!(ts > 1.7e12, "{ts}");
    }

    let connected = &lines[0];
    assert_eq!(
        keys(connected),
        [
            "clean_start",
            "clientid",
            "hook",
            "keepalive",
            "node",
            "peer",
            "protocol",
            "ts",
            "username"
        ]
    );
    assert_eq!(connected["clientid"], Json::String("dev-1".into()));
    assert_eq!(connected["username"], Json::String("alice".into()));
    assert_eq!(connected["peer"], Json::String("127.0.0.1:50000".into()));
    assert_eq!(connected["protocol"], Json::Number(5.0));
    assert_eq!(connected["clean_start"], Json::Bool(true));
    assert_eq!(connected["keepalive"], Json::Number(60.0));

    let session = &lines[1];
    assert_eq!(
        keys(session),
        ["clientid", "hook", "node", "resumed", "ts", "username"]
    );
    assert_eq!(session["username"], Json::Null);
    assert_eq!(session["resumed"], Json::Bool(false));

    let subscribed = &lines[2];
    assert_eq!(
        keys(subscribed),
        ["clientid", "hook", "is_new", "node", "qos", "topic", "ts"]
    );
    assert_eq!(subscribed["topic"], Json::String("a/+".into()));
    assert_eq!(subscribed["qos"], Json::Number(1.0));
    assert_eq!(subscribed["is_new"], Json::Bool(true));

    let publish = &lines[3];
    assert_eq!(
        keys(publish),
        [
            "dropped",
            "from",
            "hook",
            "id",
            "node",
            "payload",
            "payload_size",
            "qos",
            "retain",
            "topic",
            "ts"
        ]
    );
    assert_eq!(publish["id"], Json::String("000000000000000000000z".into()));
    assert_eq!(publish["topic"], Json::String("a/b".into()));
    assert_eq!(publish["qos"], Json::Number(2.0));
    assert_eq!(publish["retain"], Json::Bool(true));
    assert_eq!(publish["from"], Json::String("pub-1".into()));
    assert_eq!(publish["payload_size"], Json::Number(4.0));
    assert_eq!(publish["payload"], Json::String("21.5".into()));
    assert_eq!(publish["dropped"], Json::Bool(false));

    for delivered in &lines[4..6] {
        assert_eq!(
            keys(delivered),
            ["clientid", "from", "hook", "id", "node", "qos", "topic", "ts"]
        );
        assert_eq!(delivered["clientid"], Json::String("sub-1".into()));
        assert_eq!(delivered["qos"], Json::Number(1.0));
        assert_eq!(delivered["from"], Json::String("pub-1".into()));
        assert_eq!(delivered["id"], publish["id"]);
    }

    assert_eq!(lines[6]["qos"], Json::Number(0.0));
    assert_eq!(lines[6]["is_new"], Json::Bool(false));
    assert_eq!(lines[7]["reason"], Json::String("keepalive_timeout".into()));

    let infos = host.infos();
    assert!(
        infos[0].contains(&file.path().display().to_string()),
        "{infos:?}"
    );
    assert!(
        infos.last().unwrap().contains("8 lines written"),
        "{infos:?}"
    );
}

#[test]
fn text_is_escaped_and_binary_payloads_are_base64() {
    let file = TempFile::new("escaping");
    let (audit, _host) = start(&file_conf(&file, "audit.payload = on\n"));
    let tricky = "quote\" back\\slash\nnew\u{1}ctl é 日本 🚀";
    audit.on_client_connected(&client(tricky, ""));
    audit.on_message_publish(&message("t/ü", b"\xff\x00mq"));
    audit.on_message_publish(&message("t/empty", b""));
    audit.stop();

    let lines = read_lines(&file);
    assert_eq!(lines[0]["clientid"], Json::String(tricky.into()));
    assert_eq!(lines[1]["topic"], Json::String("t/ü".into()));
    assert_eq!(lines[1]["payload_base64"], Json::String("/wBtcQ==".into()));
    assert!(!lines[1].contains_key("payload"));
    assert_eq!(lines[2]["payload"], Json::String(String::new()));
    // One event, one physical line: nothing in a value breaks the line.
    assert_eq!(file.read().lines().count(), 3);
}

#[test]
fn payload_is_left_out_by_default() {
    let file = TempFile::new("no-payload");
    let (audit, _host) = start(&file_conf(&file, ""));
    audit.on_message_publish(&message("a", b"secret"));
    audit.stop();
    let lines = read_lines(&file);
    assert_eq!(lines[0]["payload_size"], Json::Number(6.0));
    assert!(!lines[0].contains_key("payload"));
    assert!(!file.read().contains("secret"));
}

#[test]
fn drop_topics_drop_matching_messages_and_say_so() {
    let file = TempFile::new("drop");
    let conf = file_conf(&file, "audit.drop_topics = secret/#, +/private\n");
    let (audit, _host) = start(&conf);
    assert_eq!(
        audit.on_message_publish(&message("secret/x", b"1")),
        Verdict::DROP
    );
    assert_eq!(
        audit.on_message_publish(&message("u/private", b"2")),
        Verdict::DROP
    );
    assert_eq!(
        audit.on_message_publish(&message("u/public", b"3")),
        Verdict::CONTINUE
    );
    assert_eq!(
        audit.on_message_publish(&message("$SYS/private", b"4")),
        Verdict::CONTINUE
    );
    audit.stop();
    let dropped: Vec<(String, Json)> = read_lines(&file)
        .into_iter()
        .map(|l| (l["topic"].str().to_owned(), l["dropped"].clone()))
        .collect();
    assert_eq!(
        dropped,
        [
            ("secret/x".to_owned(), Json::Bool(true)),
            ("u/private".to_owned(), Json::Bool(true)),
            ("u/public".to_owned(), Json::Bool(false)),
            ("$SYS/private".to_owned(), Json::Bool(false)),
        ]
    );
}

#[test]
fn only_the_configured_hooks_are_recorded() {
    let file = TempFile::new("some-hooks");
    let (audit, _host) = start(&file_conf(&file, "audit.hooks = client.disconnected\n"));
    assert_eq!(audit.hooks(), HookSet::CLIENT_DISCONNECTED);
    audit.on_client_connected(&client("c", ""));
    assert_eq!(
        audit.on_message_publish(&message("a", b"")),
        Verdict::CONTINUE
    );
    audit.on_client_disconnected(&client("c", "normal"));
    audit.stop();
    let lines = read_lines(&file);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["hook"], Json::String("client.disconnected".into()));
}

#[test]
fn lines_reach_the_file_while_running() {
    let file = TempFile::new("running");
    let (audit, _host) = start(&file_conf(&file, ""));
    audit.on_client_connected(&client("c", ""));
    let deadline = Instant::now() + Duration::from_secs(5);
    while file.read().lines().count() < 1 {
        assert!(Instant::now() < deadline, "no line within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    // Appended to, never truncated: a second instance adds to the file.
    audit.stop();
    let (again, _host) = start(&file_conf(&file, ""));
    again.on_client_connected(&client("d", ""));
    again.stop();
    assert_eq!(read_lines(&file).len(), 2);
}

#[test]
fn reconfigure_swaps_file_and_hooks_or_keeps_the_old_settings() {
    let first = TempFile::new("reconf-first");
    let second = TempFile::new("reconf-second");
    let (audit, host) = start(&file_conf(&first, ""));
    audit.on_client_connected(&client("before", ""));

    // A new file and fewer hooks.
    let conf = file_conf(&second, "audit.hooks = message.publish\n");
    audit.reconfigure(&config(&conf)).unwrap();
    assert_eq!(audit.hooks(), HookSet::MESSAGE_PUBLISH);
    assert!(host.infos().last().unwrap().contains("reconfigured"));
    assert!(host
        .infos()
        .last()
        .unwrap()
        .contains(&second.path().display().to_string()));
    // The host asks hooks() again, but a call already on its way is skipped.
    audit.on_client_connected(&client("ignored", ""));
    audit.on_message_publish(&message("after", b""));

    // A bad file is refused whole: neither the hooks nor the file change.
    let bad = format!(
        "audit.hooks = client.connected\naudit.file = {}\naudit.hooks = nope\n",
        first.path().display()
    );
    let error = audit.reconfigure(&config(&bad)).unwrap_err();
    assert_eq!((error.line, error.key.as_str()), (3, "audit.hooks"));
    let missing_dir = "audit.file = /nonexistent-dir-for-mqhost-audit/a.jsonl\n";
    let error = audit.reconfigure(&config(missing_dir)).unwrap_err();
    assert_eq!((error.line, error.key.as_str()), (1, "audit.file"));
    assert!(error.message.contains("cannot open"), "{error}");
    assert_eq!(audit.hooks(), HookSet::MESSAGE_PUBLISH);
    audit.on_message_publish(&message("still-second", b""));

    let stats = audit.stats();
    assert!(
        stats.contains(&format!("\"file\":\"{}\"", second.path().display())),
        "{stats}"
    );
    audit.stop();

    let first_lines = read_lines(&first);
    assert_eq!(first_lines.len(), 1);
    assert_eq!(first_lines[0]["clientid"], Json::String("before".into()));
    let second_lines = read_lines(&second);
    let topics: Vec<&str> = second_lines.iter().map(|l| l["topic"].str()).collect();
    assert_eq!(topics, ["after", "still-second"]);
}

#[test]
fn start_refuses_a_bad_configuration() {
    let host = TestHost::new();
    let error = Audit::start(host.host(), &config("audit.payload = on\n"))
        .err()
        .unwrap();
    assert_eq!(error.key.as_str(), "audit.file");
    let text = "\n\naudit.file = /nonexistent-dir-for-mqhost-audit/a.jsonl\n";
    let error = Audit::start(host.host(), &config(text)).err().unwrap();
    assert_eq!((error.line, error.key.as_str()), (3, "audit.file"));
    assert!(error
        .with_file("etc/plugins/audit.conf")
        .starts_with("etc/plugins/audit.conf:3: audit.file: cannot open"));
    assert!(host.infos().is_empty());
}

#[test]
fn stats_is_a_json_object_of_counts_and_file() {
    let file = TempFile::new("stats");
    let (audit, _host) = start(&file_conf(&file, ""));
    for _ in 0..3 {
        audit.on_client_connected(&client("c", ""));
    }
    audit.stop();
    let Json::Object(stats) = Reader::parse(&audit.stats()) else {
        panic!("stats is not an object")
    };
    assert_eq!(stats["lines_written"], Json::Number(3.0));
    assert_eq!(stats["lines_dropped"], Json::Number(0.0));
    assert_eq!(stats["write_errors"], Json::Number(0.0));
    assert_eq!(
        stats["file"],
        Json::String(file.path().display().to_string())
    );
    // A hook after stop loses its line, and says so.
    audit.on_client_connected(&client("late", ""));
    assert!(audit.stats().contains("\"lines_dropped\":1"));
}

#[test]
fn works_through_the_abi_guard() {
    let file = TempFile::new("abi");
    let host = TestHost::new();
    let conf = file_conf(&file, "audit.drop_topics = x/#\n");
    let plugin = GuardedPlugin::start::<Audit>(&host, &config(&conf)).unwrap();
    assert_eq!(plugin.hooks().unwrap(), crate::config::all_hooks());
    assert_eq!(
        plugin.on_message_publish(&message("x/y", b"")).unwrap(),
        Verdict::DROP
    );
    let error = plugin
        .reconfigure(&config("audit.bogus = 1\n"))
        .unwrap()
        .unwrap_err();
    assert_eq!((error.line, error.key.as_str()), (1, "audit.bogus"));
    plugin.stop().unwrap();
    assert!(plugin.stats().unwrap().contains("\"lines_written\":1"));
    drop(plugin);
    assert_eq!(read_lines(&file).len(), 1);

    let conf = file_conf(&file, "audit.hooks = x\n");
    let error = GuardedPlugin::start::<Audit>(&host, &config(&conf))
        .err()
        .unwrap();
    assert_eq!(error.key.as_str(), "audit.hooks");
}

//! The built-in access sources (`mqhost::access`) held to Mosquitto, the
//! peer: password files made by `mosquitto_passwd` are read and checked by
//! `PasswordFile`, files made by `mqhost passwd` are accepted by Mosquitto,
//! and for one ACL file Mosquitto's decisions, probed over the network,
//! `AclFile::check`'s and mqhost's own (the same files, probed the same
//! way) agree row by row.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use mqhost::access::acl_file::AclFile;
use mqhost::access::password_file::{PasswordFile, PasswordHash, Scheme, Verdict, SALT_LEN};
use mqhost::access::{dollar_topic_denied, Access};
use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::mosquitto::Mosquitto;
use mqhost_tests::plugins::TempDir;
use mqhost_tests::raw::{connect_packet, publish, RawClient};
use mqhost_tests::{mqhost_binary, tool, Broker};

/// Mosquitto drops root privileges to its own user unless told not to,
/// and could then not read a private (0600) password file.
const STAY_ROOT: &str = "user root";

fn mosquitto_passwd(args: &[&str]) {
    let status = tool("mosquitto_passwd")
        .args(args)
        .status()
        .expect("run mosquitto_passwd");
    assert!(status.success(), "mosquitto_passwd {args:?}: {status}");
}

/// Runs `mqhost passwd ARGS` with `input` on standard input (not a
/// terminal, so the password is its first line).
fn mqhost_passwd(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(mqhost_binary())
        .arg("passwd")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mqhost passwd");
    // A command that does not read (-D) may exit before the write.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().expect("wait for mqhost passwd")
}

fn mqhost_passwd_ok(args: &[&str], input: &str) {
    let output = mqhost_passwd(args, input);
    assert!(
        output.status.success(),
        "mqhost passwd {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 temp path")
}

/// CONNECT (3.1.1) with these credentials; the CONNACK return code and
/// the connection.
async fn connect_as(
    addr: SocketAddr,
    client_id: &str,
    user: Option<&str>,
    password: Option<&str>,
) -> (RawClient, u8) {
    let mut connect = connect_packet(ProtocolVersion::V3_1_1, client_id);
    connect.username = user.map(str::to_owned);
    connect.password = password.map(|p| p.as_bytes().to_vec().into());
    let (client, ack) = RawClient::connect_with(addr, connect).await;
    (client, ack.reason)
}

#[test]
fn files_made_by_mosquitto_passwd_are_read_and_checked() {
    let dir = TempDir::new();
    let file = dir.path().join("passwords");
    let f = path_str(&file);
    mosquitto_passwd(&["-c", "-b", f, "alice", "first"]);
    mosquitto_passwd(&["-b", f, "bob", "b0b with spaces"]);
    mosquitto_passwd(&["-b", f, "de jong", "ünïcødé"]);
    mosquitto_passwd(&["-b", f, "a+b", "plus"]);
    mosquitto_passwd(&["-H", "sha512", "-b", f, "legacy", "old-style"]);
    mosquitto_passwd(&["-b", f, "alice", "second"]);

    let text = std::fs::read_to_string(&file).unwrap();
    let line = |user: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{user}:")))
            .unwrap_or_else(|| panic!("no line for {user} in {text}"))
            .to_owned()
    };
    assert!(line("alice").starts_with("alice:$7$101$"), "{text}");
    assert!(line("legacy").starts_with("legacy:$6$"), "{text}");

    let passwords = PasswordFile::parse(&text, f).unwrap();
    assert_eq!(passwords.len(), 5);
    let rows: [(&str, &str, &[&str]); 5] = [
        ("alice", "second", &["first", "Second", "second ", ""]),
        ("bob", "b0b with spaces", &["b0b", "b0b with spaces\n"]),
        ("de jong", "ünïcødé", &["unicode"]),
        ("a+b", "plus", &["minus"]),
        ("legacy", "old-style", &["old-style!"]),
    ];
    for (user, right, wrongs) in rows {
        assert_eq!(
            passwords.check(user, Some(right.as_bytes())),
            Verdict::Accepted,
            "{user}"
        );
        for wrong in wrongs {
            assert_eq!(
                passwords.check(user, Some(wrong.as_bytes())),
                Verdict::WrongPassword,
                "{user} with {wrong:?}"
            );
        }
        assert_eq!(passwords.check(user, None), Verdict::MissingPassword);
    }
    assert_eq!(
        passwords.check("carol", Some(b"second")),
        Verdict::UnknownUser
    );
}

#[tokio::test]
async fn files_made_by_mqhost_passwd_are_accepted_by_mosquitto() {
    let dir = TempDir::new();
    let file = dir.path().join("passwords");
    let f = path_str(&file);
    mqhost_passwd_ok(&["-c", f, "alice"], "first\n");
    mqhost_passwd_ok(&[f, "bob"], "bob's password\r\n");
    mqhost_passwd_ok(&[f, "carol"], "carol\n");
    mqhost_passwd_ok(&[f, "alice"], "second\nignored second line\n");
    mqhost_passwd_ok(&["-D", f, "carol"], "");
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Refusals leave the file as it was.
    let before = std::fs::read_to_string(&file).unwrap();
    let deleted_twice = mqhost_passwd(&["-D", f, "carol"], "");
    assert_eq!(deleted_twice.status.code(), Some(1));
    let empty = mqhost_passwd(&[f, "dave"], "\n");
    assert_eq!(empty.status.code(), Some(1));
    let colon = mqhost_passwd(&[f, "da:ve"], "x\n");
    assert_eq!(colon.status.code(), Some(2));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), before);

    // A $6$ line by the documented format: SHA-512 of password then salt.
    let salt: [u8; SALT_LEN] = *b"twelve bytes";
    let legacy = PasswordHash::compute(Scheme::Sha512, salt, b"old-style");
    std::fs::write(&file, format!("{before}legacy:{legacy}\n")).unwrap();
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("alice:$7$101$"), "{text}");
    assert!(!text.contains("carol"), "{text}");
    let passwords = PasswordFile::parse(&text, f).unwrap();

    let broker = Mosquitto::start_with(&[
        STAY_ROOT,
        "allow_anonymous false",
        &format!("password_file {f}"),
    ]);
    let rows = [
        (Some("alice"), Some("second"), true),
        (Some("alice"), Some("first"), false),
        (Some("alice"), None, false),
        (Some("bob"), Some("bob's password"), true),
        (Some("bob"), Some("bob's password\r"), false),
        (Some("carol"), Some("carol"), false),
        (Some("legacy"), Some("old-style"), true),
        (Some("legacy"), Some("old-style "), false),
        (None, None, false),
    ];
    for (user, password, accepted) in rows {
        let (_client, code) = connect_as(broker.addr(), "", user, password).await;
        assert_eq!(
            code == 0,
            accepted,
            "Mosquitto, {user:?} with {password:?}: CONNACK {code}"
        );
        if let Some(user) = user {
            let verdict = passwords.check(user, password.map(str::as_bytes));
            assert_eq!(
                verdict.is_accepted(),
                accepted,
                "PasswordFile, {user:?} with {password:?}: {verdict:?}"
            );
        }
    }
}

/// What a row of the ACL comparison does.
#[derive(Debug, Clone, Copy)]
enum Action<'a> {
    /// Publish to the topic: does a privileged watcher receive it?
    Publish,
    /// Subscribe to `filter`, then have a privileged client publish to the
    /// topic (a `$SYS` topic is the broker's retained message): received?
    Receive { filter: &'a str },
}

/// One probe: a client (user name or anonymous, client id) and an action
/// on a topic, with the outcome the ACL's rules call for.
#[derive(Debug)]
struct Row<'a> {
    user: Option<&'a str>,
    client: &'a str,
    action: Action<'a>,
    topic: &'a str,
    expected: bool,
}

/// The rows of [`ROWS`].
fn rows() -> Vec<Row<'static>> {
    ROWS.lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with("//"))
        .map(|line| {
            let [user, client, action, topic, expected] =
                line.split_whitespace().collect::<Vec<_>>()[..]
            else {
                panic!("a row has five columns: {line:?}")
            };
            Row {
                user: (user != "-").then_some(user),
                client,
                action: match action.strip_prefix("receive:") {
                    Some(filter) => Action::Receive { filter },
                    None if action == "publish" => Action::Publish,
                    None => panic!("unknown action in {line:?}"),
                },
                topic,
                expected: match expected {
                    "yes" => true,
                    "no" => false,
                    _ => panic!("expected yes or no in {line:?}"),
                },
            }
        })
        .collect()
}

/// The probes: user name (`-`: anonymous), client id, action (`publish`,
/// or `receive:FILTER`), topic, and whether the ACL allows it.
const ROWS: &str = "
// Anonymous lines: read, write, deny.
-      w1    publish                       anon/in                         yes
-      w2    publish                       public/news                     no
-      w3    publish                       public/secret                   no
-      r1    receive:public/#              public/news                     yes
-      r2    receive:public/#              public/secret                   no
-      r3    receive:#                     anon/in                         no
// A user's lines: wildcards in rules, deny before grants.
alice  w4    publish                       sensors/alice/temp              yes
alice  w5    publish                       sensors/bob/temp                no
alice  w6    publish                       shared/x/y                      yes
alice  w7    publish                       anon/in                         no
alice  r4    receive:sensors/#             sensors/kitchen/temp            yes
alice  r5    receive:sensors/#             sensors/secret/temp             no
alice  r6    receive:sensors/#             sensors/kitchen/humidity        no
alice  r7    receive:public/#              public/news                     no
bob    w8    publish                       bob/out                         yes
bob    w9    publish                       public/news                     no
bob    r8    receive:#                     anything/at/all                 yes
bob    r9    receive:users/#               users/alice/private             yes
// A user's own deny stops the patterns; with no own line they decide.
alice  r10   receive:users/#               users/alice/private             no
alice  r11   receive:users/#               users/alice/notes               yes
// Patterns: %c and %u, for named and anonymous clients.
alice  d1    publish                       dev/d1/cmd/alice                yes
alice  d1    publish                       dev/d2/cmd/alice                no
alice  d1    publish                       dev/d1/cmd/blocked              no
carol  c1    publish                       users/carol/x                   yes
carol  c1    publish                       users/alice/x                   no
-      d3    publish                       dev/d3/cmd/x                    no
carol  c1    receive:dev/c1/status         dev/c1/status                   yes
carol  c1    receive:dev/+/status          dev/c2/status                   no
carol  c1    receive:users/carol/#         users/carol/a/b                 yes
-      x1    receive:dev/x1/status         dev/x1/status                   yes
-      x2    receive:users/#               users/x2/y                      no
// CVE-2017-7650: a + or # in a user name or client id gets nothing from
// patterns, but keeps its own lines.
+      p1    publish                       users/alice/x                   no
carol  c#    publish                       users/carol/x                   no
a+b    ab1   publish                       ab/own                          yes
a+b    ab1   receive:ab/own                ab/own                          yes
a+b    ab1   receive:dev/ab1/status        dev/ab1/status                  no
-      +     receive:dev/+/status          dev/q/status                    no
-      q+    receive:public/#              public/news                     yes
// $SYS: never writable by clients (but for bridge state topics), and read
// only through rules that start with $.
admin  w10   publish                       $SYS/test                       no
alice  w11   publish                       $SYS/test                       no
admin  w12   publish                       $SYS/broker/connection/x/state  yes
alice  r12   receive:$SYS/broker/version   $SYS/broker/version             yes
bob    r13   receive:$SYS/#                $SYS/broker/version             no
-      r14   receive:$SYS/broker/version   $SYS/broker/version             no
";

/// Every client that receives can read `done/<client id>` (by its own lines
/// or the `done/%c` pattern): the marker proving an absence arrives there.
const ACL: &str = "\
# Anonymous clients
topic read public/#
topic deny public/secret
topic write anon/in
topic read done/#

pattern read dev/%c/status
pattern write dev/%c/cmd/%u
pattern deny dev/%c/cmd/blocked
pattern readwrite users/%u/#
pattern read done/%c

user admin
topic readwrite #
topic readwrite $SYS/#

user alice
topic read sensors/+/temp
topic write sensors/alice/#
topic deny sensors/secret/temp
topic readwrite shared/#
topic read $SYS/broker/version
topic deny users/alice/private

user bob
topic read #
topic write bob/out

user a+b
topic readwrite ab/own
topic read done/#
";

const USERS: [&str; 6] = ["admin", "alice", "bob", "carol", "a+b", "+"];

fn password_of(user: &str) -> String {
    format!("{user}-password")
}

/// Connects as `user` (with its password) or anonymously; asserts success.
async fn client(addr: SocketAddr, client_id: &str, user: Option<&str>) -> RawClient {
    let password = user.map(password_of);
    let (client, code) = connect_as(addr, client_id, user, password.as_deref()).await;
    assert_eq!(code, 0, "CONNACK for {client_id} as {user:?}");
    client
}

/// Reads until a PUBLISH on `marker`; true if one on `topic` (with
/// `payload`, when given) came before it.
async fn seen_before(
    client: &mut RawClient,
    topic: &str,
    payload: Option<&[u8]>,
    marker: &str,
) -> bool {
    let mut seen = false;
    loop {
        match client.recv().await {
            Some(Packet::Publish(p)) if p.topic == marker => return seen,
            Some(Packet::Publish(p)) => {
                seen |= p.topic == topic && payload.is_none_or(|want| p.payload[..] == *want)
            }
            Some(_) => {}
            None => panic!("connection closed while waiting for {marker}"),
        }
    }
}

/// A broker's decision for `row`, probed over the network at `addr`;
/// `admin` may publish anywhere, `watcher` (admin too) is subscribed to
/// everything.
async fn probed_decision(
    addr: SocketAddr,
    admin: &mut RawClient,
    watcher: &mut RawClient,
    index: usize,
    row: &Row<'_>,
) -> bool {
    let payload = format!("row {index}").into_bytes();
    let mut prober = client(addr, row.client, row.user).await;
    let seen = match row.action {
        Action::Publish => {
            // QoS 1: Mosquitto has routed the message (or refused it) when
            // the PUBACK comes, so the marker after it arrives after any copy.
            prober
                .send(Packet::Publish(publish(
                    row.topic,
                    &payload,
                    QoS::AtLeastOnce,
                    1,
                )))
                .await;
            match prober.recv().await {
                Some(Packet::PubAck(_)) => {}
                other => panic!("row {index}: expected PUBACK, got {other:?}"),
            }
            let marker = format!("published/{index}");
            admin
                .send(Packet::Publish(publish(&marker, b"", QoS::AtMostOnce, 0)))
                .await;
            seen_before(watcher, row.topic, Some(&payload), &marker).await
        }
        Action::Receive { filter } => {
            // A client id with a wildcard cannot name a topic; such
            // clients read done/# through their own lines.
            let marker = format!("done/{}", row.client.replace(['+', '#'], "_"));
            let codes = prober
                .subscribe_all(&[filter, &marker], QoS::AtMostOnce)
                .await;
            assert_eq!(codes, [0, 0], "row {index}: SUBACK");
            // A $SYS topic cannot be published by a client: the probe is
            // the broker's retained message, sent right after the SUBACK.
            let probe = (!row.topic.starts_with("$SYS")).then_some(payload.as_slice());
            if let Some(payload) = probe {
                admin
                    .send(Packet::Publish(publish(
                        row.topic,
                        payload,
                        QoS::AtMostOnce,
                        0,
                    )))
                    .await;
            }
            admin
                .send(Packet::Publish(publish(&marker, b"", QoS::AtMostOnce, 0)))
                .await;
            seen_before(&mut prober, row.topic, probe, &marker).await
        }
    };
    prober.disconnect().await;
    seen
}

/// `AclFile`'s decision for `row`, with the broker-wide `$` rule first as
/// Mosquitto applies it.
fn acl_file_decision(acl: &AclFile, row: &Row<'_>) -> bool {
    let allowed = |topic, access| {
        !dollar_topic_denied(topic, access) && acl.check(row.client, row.user, topic, access)
    };
    match row.action {
        Action::Publish => allowed(row.topic, Access::Write),
        Action::Receive { filter } => {
            allowed(filter, Access::Subscribe) && allowed(row.topic, Access::Read)
        }
    }
}

#[tokio::test]
async fn acl_file_decides_as_mosquitto_does() {
    let dir = TempDir::new();
    let passwords = dir.path().join("passwords");
    let acl_path = dir.path().join("acl");
    let p = path_str(&passwords);
    for (index, user) in USERS.iter().enumerate() {
        let create: &[&str] = if index == 0 { &["-c"] } else { &[] };
        let password = password_of(user);
        let args = [create, &["-b", p, user, &password]].concat();
        mosquitto_passwd(&args);
    }
    std::fs::write(&acl_path, ACL).unwrap();
    let acl = AclFile::parse(ACL, "acl").unwrap();

    let broker = Mosquitto::start_with(&[
        STAY_ROOT,
        &format!("password_file {p}"),
        &format!("acl_file {}", path_str(&acl_path)),
    ]);
    let rows = rows();
    let mosquitto = probe_all(broker.addr(), &rows, |_| true).await;
    drop(broker);

    // The same files, consulted by mqhost. Its own figures are under
    // $SYS/brokers/<node>/, not Mosquitto's $SYS/broker/: reading those
    // rows is left to the comparison with AclFile.
    let mqhost =
        Broker::start_with(&[("auth.password_file", p), ("acl.file", path_str(&acl_path))]);
    let ours = probe_all(mqhost.addr(), &rows, |row| {
        !(matches!(row.action, Action::Receive { .. }) && row.topic.starts_with("$SYS"))
    })
    .await;

    let mut disagreements = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let file = acl_file_decision(&acl, row);
        let mosquitto = mosquitto[index].expect("every row is probed on Mosquitto");
        let mqhost = ours[index].unwrap_or(mosquitto);
        if mosquitto != file || mosquitto != row.expected || mqhost != mosquitto {
            disagreements.push(format!(
                "row {index} {row:?}: Mosquitto {mosquitto}, AclFile {file}, mqhost {:?}",
                ours[index]
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "decisions differ:\n{}",
        disagreements.join("\n")
    );
}

/// Every row's decision on the broker at `addr` (`None` where `probed`
/// says the row is not probed there).
async fn probe_all(
    addr: SocketAddr,
    rows: &[Row<'_>],
    probed: impl Fn(&Row<'_>) -> bool,
) -> Vec<Option<bool>> {
    let mut admin = client(addr, "admin-publisher", Some("admin")).await;
    let mut watcher = client(addr, "admin-watcher", Some("admin")).await;
    assert_eq!(
        watcher
            .subscribe_all(&["#", "$SYS/#"], QoS::AtMostOnce)
            .await,
        [0, 0]
    );
    let mut decisions = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        decisions.push(if probed(row) {
            Some(probed_decision(addr, &mut admin, &mut watcher, index, row).await)
        } else {
            None
        });
    }
    decisions
}

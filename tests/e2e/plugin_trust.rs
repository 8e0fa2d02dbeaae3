//! Plugin libraries and other local users: each test is an attack that
//! must fail (a symbolic link planted where a copy would go, a plugins
//! directory or library someone else may write to or owns), or shows that
//! nothing is left on disk for one, with the `probe` test plugin.
//!
//! Tests that need a second user run the attacker as `nobody` when the
//! tests run as root (as CI does); run as another user, they plant the
//! same traps as that user, or skip what only a second user can show.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use mqhost_codec::{Packet, ProtocolVersion, QoS};
use mqhost_tests::plugins::{set_mode, workspace_library, PluginDirs, TempDir};
use mqhost_tests::raw::{publish, RawClient};
use mqhost_tests::Broker;

const WAIT: Duration = Duration::from_secs(5);
/// A mended refusal may wait for the periodic rescan (5 s) on a file
/// system that reports no event for a `chmod`.
const RESCAN_WAIT: Duration = Duration::from_secs(15);
/// The uid and gid of `nobody`.
const NOBODY: u32 = 65534;
/// Asks the broker for the private directory instead of a memfd.
const DIR_STORE: (&str, &str) = ("MQHOST_PLUGIN_COPY", "dir");

fn probe_config(dirs: &PluginDirs, tag: &str) -> String {
    format!(
        "probe.file = {}\nprobe.tag = {tag}\n",
        dirs.file("events.log").display()
    )
}

/// Plugin directories with the probe installed (mode `mode`) and enabled.
fn probe_dirs(tag: &str, mode: u32) -> PluginDirs {
    let dirs = PluginDirs::new();
    dirs.install_with_mode(&workspace_library("mqhost-probe"), mode);
    dirs.write_config("probe", &probe_config(&dirs, tag));
    dirs
}

/// Publishes one message and waits until the probe wrote a line for it.
async fn probe_sees_a_publish(broker: &Broker, dirs: &PluginDirs, topic: &str) {
    let mut client = RawClient::connect(broker.addr(), ProtocolVersion::V3_1_1, "publisher").await;
    client
        .send(Packet::Publish(publish(topic, b"x", QoS::AtLeastOnce, 1)))
        .await;
    client.recv().await;
    client.disconnect().await;
    let wanted = format!("message.publish {topic}");
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(dirs.file("events.log")).unwrap_or_default();
        if text.contains(&wanted) {
            return;
        }
        assert!(Instant::now() < deadline, "no {wanted:?} in:\n{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the tests run as root, who can act as another user.
fn running_as_root() -> bool {
    let dir = TempDir::new();
    let probe = dir.path().join("whoami");
    std::fs::write(&probe, b"").unwrap();
    std::fs::metadata(probe).unwrap().uid() == 0
}

/// Runs `script` with `sh` as the attacker: `nobody` when the tests run as
/// root, else the tests' own user. Whether it succeeded, and its errors.
fn attacker(script: &str) -> (bool, String) {
    let mut command = if running_as_root() {
        let mut command = Command::new("setpriv");
        command.args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "sh",
        ]);
        command
    } else {
        Command::new("sh")
    };
    let out = command
        .args(["-c", script])
        .output()
        .expect("run the attacker's shell");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A temporary directory anyone may create files in, as /tmp: sticky.
fn shared_tmp() -> TempDir {
    let tmp = TempDir::new();
    set_mode(tmp.path(), 0o1777);
    tmp
}

/// The private directories (`mqhost-plugins-*`) in `tmp`.
fn private_dirs(tmp: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(tmp)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("mqhost-plugins-"))
        })
        .collect();
    found.sort();
    found
}

/// Every file (not directory) under `dir`, at any depth.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files.extend(files_under(&entry.path()));
        } else {
            files.push(entry.path());
        }
    }
    files
}

/// The inodes of the probe's in-memory copies mapped in the broker.
fn mapped_memory_copies(broker: &Broker) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", broker.pid())).unwrap();
    let mut inodes: Vec<String> = maps
        .lines()
        .filter(|line| line.contains("/memfd:mqhost:libmqhost_probe.so"))
        .filter_map(|line| line.split_whitespace().nth(4).map(str::to_owned))
        .collect();
    inodes.sort();
    inodes.dedup();
    inodes
}

/// Plants, as the attacker, the directory earlier versions copied
/// libraries to (`mqhost-plugins-<pid>`, world-writable) with symbolic
/// links to `victim` where the probe's first copies went.
fn plant_links_at_the_old_copy_path(broker: &Broker, victim: &Path) -> PathBuf {
    let trap = broker
        .tmp_dir()
        .join(format!("mqhost-plugins-{}", broker.pid()));
    let mut script = format!("mkdir -m 777 {0} && cd {0}", trap.display());
    for n in 0..4 {
        script.push_str(&format!(
            " && ln -s {} libmqhost_probe-{n}.so",
            victim.display()
        ));
    }
    let (ok, err) = attacker(&script);
    assert!(ok, "planting the trap: {err}");
    trap
}

/// A file of the broker's user that the attack aims to overwrite.
fn victim(dirs: &PluginDirs) -> PathBuf {
    let victim = dirs.file("victim");
    std::fs::write(&victim, b"precious").unwrap();
    victim
}

fn assert_untouched(victim: &Path) {
    let now = std::fs::read(victim).unwrap();
    assert!(
        now == b"precious",
        "{} was overwritten: {} bytes now, starting {:?}",
        victim.display(),
        now.len(),
        String::from_utf8_lossy(&now[..now.len().min(4)])
    );
}

#[tokio::test]
async fn a_symlink_planted_where_copies_used_to_go_is_not_followed() {
    let tmp = shared_tmp();
    let tmp_dir = tmp.path().display().to_string();
    let dirs = PluginDirs::new();
    let victim = victim(&dirs);
    let broker = Broker::start_with_plugins_env(&dirs, &[("TMPDIR", &tmp_dir)], &[]);
    let trap = plant_links_at_the_old_copy_path(&broker, &victim);
    // The library is dropped in once the trap is set.
    dirs.install(&workspace_library("mqhost-probe"));
    dirs.write_config("probe", &probe_config(&dirs, "safe"));
    assert!(
        broker.wait_for_log("plugin started", WAIT).is_some(),
        "{:#?}",
        broker.logs()
    );
    probe_sees_a_publish(&broker, &dirs, "after/trap").await;
    assert_untouched(&victim);
    for n in 0..4 {
        let link = trap.join(format!("libmqhost_probe-{n}.so"));
        assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    }
    // It ran from sealed memory: nothing of the broker's is on disk.
    assert_eq!(mapped_memory_copies(&broker).len(), 1);
    assert_eq!(private_dirs(tmp.path()), [trap]);
}

#[tokio::test]
async fn a_private_directory_is_unguessable_and_closed_to_others() {
    let tmp = shared_tmp();
    let tmp_dir = tmp.path().display().to_string();
    let dirs = PluginDirs::new();
    let victim = victim(&dirs);
    let broker = Broker::start_with_plugins_env(&dirs, &[("TMPDIR", &tmp_dir), DIR_STORE], &[]);
    let trap = plant_links_at_the_old_copy_path(&broker, &victim);
    dirs.install(&workspace_library("mqhost-probe"));
    dirs.write_config("probe", &probe_config(&dirs, "private"));
    assert!(
        broker.wait_for_log("plugin started", WAIT).is_some(),
        "{:#?}",
        broker.logs()
    );
    probe_sees_a_publish(&broker, &dirs, "after/trap").await;
    assert_untouched(&victim);

    let private: Vec<PathBuf> = private_dirs(tmp.path())
        .into_iter()
        .filter(|dir| *dir != trap)
        .collect();
    assert_eq!(private.len(), 1, "{private:?}");
    let private = &private[0];
    let name = private.file_name().unwrap().to_str().unwrap();
    let random = name
        .strip_prefix(&format!("mqhost-plugins-{}-", broker.pid()))
        .unwrap_or_else(|| panic!("{name}"));
    assert_eq!(random.len(), 16, "{name}");
    let meta = std::fs::symlink_metadata(private).unwrap();
    assert!(meta.is_dir());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o700);
    assert_eq!(
        meta.uid(),
        std::fs::metadata(dirs.file("victim")).unwrap().uid()
    );
    // The copy went once loaded.
    assert_eq!(files_under(private), Vec::<PathBuf>::new());
    if running_as_root() {
        let (ok, _) = attacker(&format!(
            "ln -s {} {}/0-libmqhost_probe.so",
            victim.display(),
            private.display()
        ));
        assert!(!ok, "another user planted a link in {}", private.display());
    }
}

#[tokio::test]
async fn a_world_writable_plugins_directory_is_refused_saying_so_until_mended() {
    let dirs = probe_dirs("open", 0o755);
    set_mode(&dirs.plugins, 0o777);
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let line = broker
        .wait_for_log("plugin library refused", WAIT)
        .expect("refusal logged");
    let dir = dirs.plugins.display().to_string();
    assert!(
        line.contains(&format!(
            "the plugins directory {dir} is writable by its group and others (mode 0777)"
        )),
        "{line}"
    );
    assert!(line.contains(&format!("chmod go-w {dir}")), "{line}");
    assert_eq!(broker.count_logs("plugin started"), 0);

    // The admin API says so for that library, and for a load by name.
    let (status, body) = broker.admin_request("GET", "/api/v1/plugins").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"state\":\"refused\""), "{body}");
    assert!(body.contains("writable by its group and others"), "{body}");
    let (ok, _, err) = broker.ctl(&["plugins", "load", "probe"]);
    assert!(!ok);
    assert!(err.contains("writable by its group and others"), "{err}");

    // chmod mends it, the library untouched.
    set_mode(&dirs.plugins, 0o755);
    assert!(
        broker.wait_for_log("plugin started", RESCAN_WAIT).is_some(),
        "{:#?}",
        broker.logs()
    );
    probe_sees_a_publish(&broker, &dirs, "mended").await;
}

#[tokio::test]
async fn a_group_writable_library_is_refused_and_other_plugins_still_load() {
    let dirs = probe_dirs("shared", 0o775);
    dirs.install(&workspace_library("mqhost-decider"));
    dirs.write_config(
        "decider",
        &format!("decider.file = {}\n", dirs.file("questions.log").display()),
    );
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let line = broker
        .wait_for_log("plugin library refused", WAIT)
        .expect("refusal logged");
    let library = dirs.plugins.join("libmqhost_probe.so");
    assert!(
        line.contains(&format!(
            "the library {} is writable by its group (mode 0775)",
            library.display()
        )),
        "{line}"
    );
    let started = broker
        .wait_for_log("plugin started", WAIT)
        .expect("the decider starts");
    assert!(started.contains("decider"), "{started}");
    let (_, body) = broker.admin_request("GET", "/api/v1/plugins").await;
    assert!(body.contains("\"name\":\"decider\""), "{body}");
    assert!(body.contains("\"state\":\"running\""), "{body}");
    assert!(body.contains("writable by its group (mode 0775)"), "{body}");
    assert_eq!(broker.count_logs("plugin started"), 1);
}

#[tokio::test]
async fn a_library_owned_by_another_user_is_refused() {
    if !running_as_root() {
        eprintln!("only root can give a library to another user: skipped");
        return;
    }
    let dirs = probe_dirs("theirs", 0o755);
    let library = dirs.plugins.join("libmqhost_probe.so");
    std::os::unix::fs::chown(&library, Some(NOBODY), Some(NOBODY)).unwrap();
    let broker = Broker::start_with_plugins(&dirs, &[]);
    let line = broker
        .wait_for_log("plugin library refused", WAIT)
        .expect("refusal logged");
    assert!(
        line.contains(&format!(
            "the library {} is owned by uid {NOBODY}, not by the broker's user (uid 0) or root",
            library.display()
        )),
        "{line}"
    );
    assert_eq!(broker.count_logs("plugin started"), 0);
    // So is a plugins directory of theirs, the library being root's.
    std::os::unix::fs::chown(&library, Some(0), Some(0)).unwrap();
    std::os::unix::fs::chown(&dirs.plugins, Some(NOBODY), Some(NOBODY)).unwrap();
    assert!(broker.wait_for_logs("plugin library refused", 2, RESCAN_WAIT));
    let line = broker
        .logs()
        .into_iter()
        .rfind(|l| l.contains("plugin library refused"))
        .unwrap();
    assert!(
        line.contains(&format!(
            "the plugins directory {} is owned by uid {NOBODY}",
            dirs.plugins.display()
        )),
        "{line}"
    );
    assert_eq!(broker.count_logs("plugin started"), 0);
}

#[tokio::test]
async fn libraries_load_from_sealed_memory_and_a_replacement_is_new_code() {
    let dirs = probe_dirs("v1", 0o755);
    let broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    let first = mapped_memory_copies(&broker);
    assert_eq!(first.len(), 1, "one sealed copy mapped");
    // Newer builds dropped over the old, twice: each is another copy,
    // which the loader must not take for one it loaded under the same
    // name. (The listeners open after the first load, so only the copies
    // after it could be given the same descriptor number.)
    for replaced in 1..=2 {
        std::thread::sleep(Duration::from_millis(20));
        dirs.install(&workspace_library("mqhost-probe"));
        assert!(broker.wait_for_logs("plugin replaced", replaced, WAIT));
    }
    let all = mapped_memory_copies(&broker);
    assert_eq!(all.len(), 3, "each replacement is mapped beside the first");
    assert!(all.contains(&first[0]));
    probe_sees_a_publish(&broker, &dirs, "replaced").await;
    assert!(
        files_under(broker.tmp_dir()).is_empty(),
        "{:?}",
        files_under(broker.tmp_dir())
    );
}

#[tokio::test]
async fn a_broker_killed_with_sigkill_leaves_no_library_copy_on_disk() {
    let dirs = probe_dirs("killed", 0o755);
    let mut broker = Broker::start_with_plugins(&dirs, &[]);
    assert!(broker.wait_for_log("plugin started", WAIT).is_some());
    assert_eq!(mapped_memory_copies(&broker).len(), 1);
    probe_sees_a_publish(&broker, &dirs, "alive").await;
    broker.kill();
    assert!(
        files_under(broker.tmp_dir()).is_empty() && private_dirs(broker.tmp_dir()).is_empty(),
        "left behind: {:?}",
        files_under(broker.tmp_dir())
    );
}

#[tokio::test]
async fn a_killed_brokers_private_directory_is_removed_at_the_next_start() {
    let tmp = TempDir::new();
    let tmp_dir = tmp.path().display().to_string();
    let env = [("TMPDIR", tmp_dir.as_str()), DIR_STORE];
    let dirs = probe_dirs("first", 0o755);
    let mut first = Broker::start_with_plugins_env(&dirs, &env, &[]);
    assert!(first.wait_for_log("plugin started", WAIT).is_some());
    let [left] = &private_dirs(tmp.path())[..] else {
        panic!("{:?}", private_dirs(tmp.path()));
    };
    let left = left.clone();
    // Killed in the middle of a copy.
    std::fs::write(left.join("7-libmqhost_probe.so"), b"half a library").unwrap();
    first.kill();
    assert!(left.exists());

    let second = Broker::start_with_plugins_env(&dirs, &env, &[]);
    let line = second
        .wait_for_log("a broker that was killed", WAIT)
        .expect("the stale directory is reported");
    assert!(line.contains(&left.display().to_string()), "{line}");
    assert!(!left.exists());
    assert!(second.wait_for_log("plugin started", WAIT).is_some());
    let [own] = &private_dirs(tmp.path())[..] else {
        panic!("{:?}", private_dirs(tmp.path()));
    };
    let own = own.clone();
    assert_ne!(own, left);

    // Hot reload from the private directory, which keeps no copy.
    std::thread::sleep(Duration::from_millis(20));
    dirs.install(&workspace_library("mqhost-probe"));
    assert!(second.wait_for_log("plugin replaced", WAIT).is_some());
    probe_sees_a_publish(&second, &dirs, "reloaded").await;
    assert_eq!(files_under(&own), Vec::<PathBuf>::new());

    // A broker starting beside a running one leaves its directory alone.
    let other = PluginDirs::new();
    let third = Broker::start_with_plugins_env(&other, &env, &[]);
    assert_eq!(third.count_logs("a broker that was killed"), 0);
    assert!(own.exists());
}

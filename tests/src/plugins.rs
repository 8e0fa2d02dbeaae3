//! Plugins for tests: private plugin directories, the libraries the
//! workspace built, and plugins built the way a third party would, in a
//! cargo project outside the workspace.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::build_dir;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// Creates `$TMPDIR/mqhost-test-<pid>-<n>`.
    pub fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "mqhost-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Default for TempDir {
    fn default() -> Self {
        TempDir::new()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A plugins directory and a plugin configuration directory for one test.
pub struct PluginDirs {
    pub root: TempDir,
    pub plugins: PathBuf,
    pub etc: PathBuf,
}

impl PluginDirs {
    /// Two empty directories.
    pub fn new() -> PluginDirs {
        let root = TempDir::new();
        let plugins = root.path().join("plugins");
        let etc = root.path().join("etc");
        std::fs::create_dir_all(&plugins).unwrap();
        std::fs::create_dir_all(&etc).unwrap();
        // The broker refuses a plugins directory its group or others may
        // write to: set the mode rather than trust the umask.
        set_mode(&plugins, 0o755);
        PluginDirs { root, plugins, etc }
    }

    /// Copies a library into the plugins directory under its own file
    /// name, mode 0755 (whatever the umask and the built file's mode).
    pub fn install(&self, library: &Path) -> PathBuf {
        self.install_with_mode(library, 0o755)
    }

    /// [`PluginDirs::install`] with the library's mode given.
    pub fn install_with_mode(&self, library: &Path, mode: u32) -> PathBuf {
        let target = self.plugins.join(library.file_name().unwrap());
        // Copy then rename, as a careful user would: the broker never sees
        // a half-written library.
        let partial = self.root.path().join("partial.so");
        std::fs::copy(library, &partial).expect("copy plugin library");
        set_mode(&partial, mode);
        std::fs::rename(&partial, &target).expect("move plugin library");
        target
    }

    /// Writes `etc/NAME.conf` the way editors save: a temporary file
    /// renamed over the old one.
    pub fn write_config(&self, name: &str, text: &str) {
        let partial = self.root.path().join(format!(".{name}.conf.swp"));
        std::fs::write(&partial, text).unwrap();
        std::fs::rename(&partial, self.etc.join(format!("{name}.conf"))).unwrap();
    }

    /// When `etc/NAME.conf` was last written, by the file system's clock
    /// (the system clock, which the broker's log timestamps use too).
    pub fn config_written_at(&self, name: &str) -> std::time::SystemTime {
        std::fs::metadata(self.etc.join(format!("{name}.conf")))
            .and_then(|meta| meta.modified())
            .expect("the configuration file's modification time")
    }

    /// A file path inside the test's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }
}

impl Default for PluginDirs {
    fn default() -> Self {
        PluginDirs::new()
    }
}

/// Sets the permission bits of `path`.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A plugin library the workspace built, by package name
/// (`mqhost-probe` → `target/<profile>/libmqhost_probe.so`).
pub fn workspace_library(package: &str) -> PathBuf {
    let file = format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    );
    let path = build_dir().join(file);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (`cargo build --workspace`, which scripts/test does)",
        path.display()
    );
    path
}

/// Copies a directory tree, leaving out `target`.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Builds a plugin the way a third party would: `plugin_dir` (a crate
/// depending on `mqhost-plugin-api` by a `path = "../../plugin-api"`-style
/// dependency) and a copy of `plugin-api` are put in a temporary project
/// outside the workspace, changed by `edit` (given the API's copy, then
/// the plugin's), and built there. Returns the library. Builds share one
/// target directory, so only the first compiles abi_stable.
pub fn build_outside_workspace(
    work: &Path,
    plugin_dir: &Path,
    edit: impl FnOnce(&Path, &Path),
) -> PathBuf {
    let api = work.join("mqhost-plugin-api");
    copy_tree(&repo_root().join("plugin-api"), &api);
    let crate_dir = work.join("plugin");
    copy_tree(plugin_dir, &crate_dir);
    edit(&api, &crate_dir);
    let manifest = crate_dir.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let mut rewritten = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("mqhost-plugin-api") {
            rewritten.push_str("mqhost-plugin-api = { path = \"../mqhost-plugin-api\" }\n");
        } else {
            rewritten.push_str(line);
            rewritten.push('\n');
        }
    }
    // Its own workspace: nothing of the repository's applies.
    rewritten.push_str("\n[workspace]\n");
    std::fs::write(&manifest, rewritten).unwrap();
    // The repository's lock file pins the same dependency versions, so the
    // build needs no index update.
    std::fs::copy(repo_root().join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();

    let target_dir = repo_root().join("target").join("external-plugins");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let started = Instant::now();
    let output = Command::new(cargo)
        .current_dir(&crate_dir)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("RUSTFLAGS")
        .args(["build", "--quiet", "--lib"])
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "building {} outside the workspace failed:\n{}",
        plugin_dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let package = package_name(&text);
    let library = target_dir.join("debug").join(format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        package.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    ));
    assert!(library.exists(), "{} not built", library.display());
    // Copy it out: the next build in the shared target directory may
    // overwrite it.
    let out = work.join(library.file_name().unwrap());
    std::fs::copy(&library, &out).unwrap();
    eprintln!("built {} in {:?}", out.display(), started.elapsed());
    out
}

fn package_name(manifest: &str) -> String {
    manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("name = "))
        .map(|v| v.trim_matches('"').to_owned())
        .expect("package name")
}

/// Sets the version in a copied `plugin-api/Cargo.toml`.
pub fn set_api_version(api: &Path, version: &str) {
    let manifest = api.join("Cargo.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("version = ") {
                format!("version = \"{version}\"\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect();
    std::fs::write(manifest, text).unwrap();
}

/// Removes what a minor version added: every line between
/// `// @since X begin` and `// @since X end` in the sources of a copied
/// crate (the API, or a plugin that uses what X added).
pub fn remove_since(crate_dir: &Path, version: &str) {
    remove_since_in(&crate_dir.join("src"), version);
}

fn remove_since_in(dir: &Path, version: &str) {
    let begin = format!("// @since {version} begin");
    let end = format!("// @since {version} end");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            remove_since_in(&path, version);
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut keep = true;
        let mut out = String::new();
        for line in text.lines() {
            if line.trim() == begin {
                keep = false;
            } else if line.trim() == end {
                keep = true;
            } else if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        std::fs::write(&path, out).unwrap();
    }
}

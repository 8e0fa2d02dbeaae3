//! Loading plugin libraries.
//!
//! A library is never loaded from the plugins directory itself: it is
//! copied to a private directory under a unique name first. A user may then
//! overwrite or delete the file they dropped in at any time (overwriting a
//! mapped library in place would crash the broker), and a replaced library
//! is a new file to the dynamic loader, so the new code really loads.
//! abi_stable never unloads a library: old copies stay mapped until exit.
//!
//! The one `unsafe` of the host lives here: taking a library's root module
//! after our own version and layout checks.
#![allow(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, LibHeader, LibraryError, RootModule};
use abi_stable::sabi_types::{VersionNumber, VersionStrings};
use abi_stable::StableAbi;
use mqhost_plugin_api::PluginModuleRef;

/// What identifies one version of a library file: when it changes, the
/// library was replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    modified: Option<SystemTime>,
    len: u64,
}

impl Fingerprint {
    /// The fingerprint of the file at `path`.
    pub fn of(path: &Path) -> std::io::Result<Fingerprint> {
        let meta = std::fs::metadata(path)?;
        Ok(Fingerprint {
            modified: meta.modified().ok(),
            len: meta.len(),
        })
    }
}

/// A library loaded and checked against this host's interface version.
#[derive(Clone)]
pub struct Library {
    /// The file in the plugins directory.
    pub path: PathBuf,
    /// Which version of that file was loaded.
    pub fingerprint: Fingerprint,
    /// The plugin's NAME.
    pub name: String,
    /// The plugin's own version.
    pub version: String,
    /// What it does, if it says (plugins built against interface 1.0 cannot).
    pub description: Option<String>,
    /// Its root module, for creating instances.
    pub module: PluginModuleRef,
}

/// Whether `path` names a shared library by its extension.
pub fn is_library(path: &Path) -> bool {
    let suffix = std::env::consts::DLL_SUFFIX.trim_start_matches('.');
    path.extension().is_some_and(|ext| ext == suffix)
}

/// Copies `path` to a private file and loads it, checking the interface
/// version and the layout of every type that crosses the boundary.
pub fn load(path: &Path, private_dir: &Path) -> Result<Library, String> {
    let fingerprint = Fingerprint::of(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let copy = private_copy(path, private_dir)?;
    let header = lib_header_from_path(&copy);
    // Loaded (or refused), the copy can go at once: the mapping stays valid
    // for the life of the process, and a broker that is killed, and so
    // never cleans its private directory, leaves no library behind.
    let _ = std::fs::remove_file(&copy);
    let header = header.map_err(|e| describe(path, e))?;
    check_version(path, header.version_strings())?;
    check_layout(path, header)?;
    // SAFETY: check_layout compared the library's root module layout with
    // ours, recursively, with the library as the interface (see there).
    let module = unsafe { header.init_root_module_with_unchecked_layout::<PluginModuleRef>() }
        .map_err(|e| describe(path, e))?;
    let name = module.name()().to_string();
    let version = module.version()().to_string();
    let description = module
        .description()
        .map(|describe| describe().to_string())
        .filter(|d| !d.is_empty());
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!(
            "{}: plugin name {name:?} is not a word of letters, digits, '_' or '-'",
            path.display()
        ));
    }
    Ok(Library {
        path: path.to_path_buf(),
        fingerprint,
        name,
        version,
        description,
        module,
    })
}

/// A plugin must be built against this major version of the interface,
/// and a minor version no newer than ours: it may call only what we
/// provide, while we treat what it lacks as absent.
fn check_version(path: &Path, plugin: VersionStrings) -> Result<(), String> {
    let ours = VersionNumber::new(PluginModuleRef::VERSION_STRINGS)
        .map_err(|e| format!("this broker's interface version: {e}"))?;
    let theirs = VersionNumber::new(plugin)
        .map_err(|e| format!("{}: unreadable interface version: {e}", path.display()))?;
    if theirs.major != ours.major || theirs.minor > ours.minor {
        return Err(format!(
            "{}: built against mqhost-plugin-api {theirs}, but this broker provides {ours}; \
             a plugin must use the same major version and no newer minor version",
            path.display()
        ));
    }
    Ok(())
}

/// abi_stable checks a library as the implementation of the loader's
/// interface: a newer library may have more fields, an older one may not.
/// Plugins are the other way round (an older plugin in a newer broker), so
/// the check runs with the plugin's layout as the interface: every prefix
/// type (root module, trait vtables) may have grown on our side, and we
/// reach what a plugin lacks only through optional accessors and defaulted
/// trait methods. Plain structs must still match exactly.
fn check_layout(path: &Path, header: &LibHeader) -> Result<(), String> {
    let theirs = header.layout().ok_or_else(|| {
        format!(
            "{}: the library carries no type layout to check",
            path.display()
        )
    })?;
    check_layout_compatibility(theirs, <PluginModuleRef as StableAbi>::LAYOUT).map_err(|details| {
        tracing::debug!("{}: layout mismatch: {details}", path.display());
        format!(
            "{}: its mqhost-plugin-api types do not match this broker's ({} {}); rebuild it \
             against this version",
            path.display(),
            PluginModuleRef::NAME,
            mqhost_plugin_api::INTERFACE_VERSION
        )
    })
}

fn private_copy(path: &Path, private_dir: &Path) -> Result<PathBuf, String> {
    static COPIES: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(private_dir)
        .map_err(|e| format!("cannot create {}: {e}", private_dir.display()))?;
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("plugin");
    let extension = path.extension().and_then(|s| s.to_str()).unwrap_or("so");
    let copy = private_dir.join(format!(
        "{stem}-{}.{extension}",
        COPIES.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::copy(path, &copy).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
    Ok(copy)
}

/// One sentence for a load failure.
fn describe(path: &Path, error: LibraryError) -> String {
    format!("{}: {error}", path.display())
}

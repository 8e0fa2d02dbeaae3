//! Loading plugin libraries.
//!
//! A library is never loaded from the plugins directory itself: it is
//! checked ([`super::trust`]: owned by the broker's user or root, and its
//! directory too, writable by nobody else) and copied to a private place
//! first ([`super::private`]: a sealed memfd on Linux, else a private
//! directory). A user may then overwrite or delete the file they dropped
//! in at any time (overwriting a mapped library in place would crash the
//! broker), and a replaced library is a new file to the dynamic loader, so
//! the new code really loads. abi_stable never unloads a library: old
//! copies stay mapped until exit. Messages name the library by its path
//! in the plugins directory, never by its copy's.
//!
//! This module's `unsafe` is taking a library's root module
//! after our own version and layout checks.
#![allow(unsafe_code)]

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use abi_stable::abi_stability::abi_checking::check_layout_compatibility;
use abi_stable::library::{lib_header_from_path, LibHeader, LibraryError, RootModule};
use abi_stable::sabi_types::{VersionNumber, VersionStrings};
use abi_stable::StableAbi;
use mqhost_plugin_api::PluginModuleRef;

use super::private::PrivateCopies;
use super::trust;

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
        Ok(Fingerprint::from_metadata(&std::fs::metadata(path)?))
    }

    /// The fingerprint of the file `meta` describes.
    pub fn from_metadata(meta: &Metadata) -> Fingerprint {
        Fingerprint {
            modified: meta.modified().ok(),
            len: meta.len(),
        }
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

/// Checks who may change library `path`, copies it to a private place
/// and loads the copy, checking the interface version and the layout of
/// every type that crosses the boundary.
pub fn load(path: &Path, copies: &PrivateCopies) -> Result<Library, String> {
    // The fingerprint is the checked file's: what the copy holds.
    let (mut source, meta) = trust::open_library(path)?;
    let fingerprint = Fingerprint::from_metadata(&meta);
    let copy = copies.copy(&mut source, path)?;
    drop(source);
    let copy_path = copy.path().to_path_buf();
    let header = lib_header_from_path(&copy_path);
    // Loaded (or refused), the copy is done with: a file copy goes at
    // once, so a broker that is killed leaves no library behind.
    drop(copy);
    let header = header.map_err(|e| describe(path, &copy_path, e))?;
    check_version(path, header.version_strings())?;
    check_layout(path, header)?;
    // SAFETY: check_layout compared the library's root module layout with
    // ours, recursively, with the library as the interface (see there).
    let module = unsafe { header.init_root_module_with_unchecked_layout::<PluginModuleRef>() }
        .map_err(|e| describe(path, &copy_path, e))?;
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

/// One sentence for a load failure.
fn describe(path: &Path, copy: &Path, error: LibraryError) -> String {
    let text = match error {
        LibraryError::OpenError { err, .. } => format!("cannot load it: {err}"),
        LibraryError::GetSymbolError { symbol, .. } => format!(
            "not an mqhost plugin: it exports no {}",
            String::from_utf8_lossy(&symbol).trim_end_matches('\0')
        ),
        other => other.to_string(),
    };
    restate(path, copy, &text)
}

/// `text` about the private copy `copy`, on one line, as about `path`,
/// the library in the plugins directory: the only name people know.
fn restate(path: &Path, copy: &Path, text: &str) -> String {
    let copy = copy.display().to_string();
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // dlerror() begins with the path it was given, the copy's.
    let text = text
        .replace(&format!("{copy}: "), "")
        .replace(&copy, "the private copy");
    format!("{}: {text}", path.display())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::restate;

    #[test]
    fn a_load_failure_names_the_dropped_in_file_not_its_copy() {
        let text = restate(
            Path::new("/opt/plugins/libx.so"),
            Path::new("/proc/self/fd/7"),
            "cannot load it: /proc/self/fd/7: invalid ELF header",
        );
        assert_eq!(
            text,
            "/opt/plugins/libx.so: cannot load it: invalid ELF header"
        );
        let text = restate(
            Path::new("/opt/plugins/libx.so"),
            Path::new("/tmp/d/0-libx.so"),
            "\nCould not open library at:\n\t/tmp/d/0-libx.so\nbecause:\n\tgone\n",
        );
        assert_eq!(
            text,
            "/opt/plugins/libx.so: Could not open library at: the private copy because: gone"
        );
    }
}

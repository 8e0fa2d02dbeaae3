//! Which plugins run, kept in line with the two directories.
//!
//! [`PluginManager::reconcile`] compares what the directories say (a
//! library declaring NAME in `plugins.dir`, `NAME.conf` in
//! `plugins.etc_dir` not saying `plugin.enable = off`) with what runs, and
//! closes the gap: start, stop, hand over an edited configuration, or swap
//! in a replaced library. The watcher calls it after file changes; the
//! admin API calls it after `load` / `unload` / `reload`. It blocks while
//! plugins start and drain, so callers run it off the broker's threads.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use mqhost_plugin_api::abi_stable::std_types::{ROption, RResult, RStr};
use mqhost_plugin_api::{ConfigError, HookSet, PluginConfig};
use serde_json::{json, Value};

use super::dispatch::{Instance, PluginHook};
use super::host_api::BrokerHost;
use super::library::{self, Fingerprint, Library};
use super::private::PrivateCopies;
use super::trust::Standing;
use crate::broker::Broker;
use crate::hooks::{HandlerId, Rank};

/// A plugin that runs.
struct Running {
    library: Library,
    instance: Arc<Instance>,
    handler: HandlerId,
    /// The configuration text last handed to the plugin (applied or not).
    config_text: String,
    last_config_error: Option<String>,
}

/// A plugin that could not start, remembered so it is not retried until
/// its library or configuration changes.
struct Failure {
    fingerprint: Fingerprint,
    config_text: String,
    error: String,
}

/// What one library file turned out to be.
enum LibraryState {
    Loaded(Library),
    Refused {
        fingerprint: Fingerprint,
        /// Owners and modes when refused: a refusal for them is mended
        /// without a change to the file.
        standing: Standing,
        error: String,
    },
}

#[derive(Default)]
struct State {
    libraries: BTreeMap<PathBuf, LibraryState>,
    running: BTreeMap<String, Running>,
    failures: HashMap<String, Failure>,
    /// `load` (true) and `unload` (false) from the admin API, which win
    /// over the configuration file.
    overrides: HashMap<String, bool>,
    /// Directories already reported missing, so the warning is said once.
    missing_reported: BTreeSet<PathBuf>,
    /// Set by `stop_all`: nothing starts any more, so that a reconcile
    /// racing with the broker's stop (the directory watcher's) cannot
    /// start a plugin that would then never be stopped.
    shut_down: bool,
}

/// Why `load`, `unload` or `reload` of a plugin failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// No library in the plugins directory declares this plugin name;
    /// `refused` holds why each library that could not be read was
    /// refused (one of them may be it).
    UnknownPlugin {
        name: String,
        dir: PathBuf,
        refused: Vec<String>,
    },
    /// The plugin's library was found, but the plugin refused to start
    /// (its configuration, usually); `reason` is its own message.
    NotStarted { name: String, reason: String },
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ActionError::UnknownPlugin { name, dir, refused } => {
                write!(f, "no plugin library named {name} in {}", dir.display())?;
                if !refused.is_empty() {
                    write!(f, "; libraries refused: {}", refused.join("; "))?;
                }
                Ok(())
            }
            ActionError::NotStarted { name, reason } => {
                write!(f, "plugin {name} did not start: {reason}")
            }
        }
    }
}

impl std::error::Error for ActionError {}

/// The plugins of one broker.
pub struct PluginManager {
    broker: Arc<Broker>,
    dir: PathBuf,
    etc_dir: PathBuf,
    copies: PrivateCopies,
    state: Mutex<State>,
}

/// A desired configuration for one plugin.
struct Wanted {
    library: Library,
    source: PathBuf,
    text: String,
}

impl PluginManager {
    /// A manager for `broker`'s configured directories. Libraries are
    /// loaded from private copies `copies` makes.
    pub fn new(broker: Arc<Broker>, copies: impl Into<PrivateCopies>) -> Arc<PluginManager> {
        let dir = broker.config.plugins.dir.clone();
        let etc_dir = broker.config.plugins.etc_dir.clone();
        Arc::new(PluginManager {
            broker,
            dir,
            etc_dir,
            copies: copies.into(),
            state: Mutex::new(State::default()),
        })
    }

    /// The plugins directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The plugin configuration directory.
    pub fn etc_dir(&self) -> &Path {
        &self.etc_dir
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Brings the running plugins in line with the directories.
    pub fn reconcile(&self) {
        let mut state = self.lock();
        self.scan_libraries(&mut state);
        let by_name = loaded_by_name(&state);
        let names: BTreeSet<String> = by_name
            .keys()
            .cloned()
            .chain(state.running.keys().cloned())
            .collect();
        for name in names {
            let wanted = by_name
                .get(&name)
                .and_then(|library| self.wanted(&state, &name, library));
            self.settle(&mut state, &name, wanted);
        }
    }

    /// Loads (or refuses) every library file that is new or changed.
    fn scan_libraries(&self, state: &mut State) {
        let files = match list_files(&self.dir) {
            Ok(files) => {
                state.missing_reported.remove(&self.dir);
                files
            }
            Err(error) => {
                if state.missing_reported.insert(self.dir.clone()) {
                    tracing::warn!("plugins directory {}: {error}", self.dir.display());
                }
                Vec::new()
            }
        };
        let present: BTreeSet<PathBuf> = files
            .into_iter()
            .filter(|path| library::is_library(path))
            .collect();
        state.libraries.retain(|path, _| present.contains(path));
        for path in present {
            let Ok(fingerprint) = Fingerprint::of(&path) else {
                continue;
            };
            let known = match state.libraries.get(&path) {
                Some(LibraryState::Loaded(library)) => library.fingerprint == fingerprint,
                Some(LibraryState::Refused {
                    fingerprint: f,
                    standing,
                    ..
                }) => *f == fingerprint && *standing == Standing::of(&path),
                None => false,
            };
            if known {
                continue;
            }
            // Taken before the load: a change while it runs is seen next time.
            let standing = Standing::of(&path);
            let loaded = match library::load(&path, &self.copies) {
                Ok(library) => {
                    tracing::info!(
                        plugin = %library.name,
                        version = %library.version,
                        "found plugin library {}",
                        path.display()
                    );
                    LibraryState::Loaded(library)
                }
                Err(error) => {
                    tracing::error!("plugin library refused: {error}");
                    LibraryState::Refused {
                        fingerprint,
                        standing,
                        error,
                    }
                }
            };
            state.libraries.insert(path, loaded);
        }
    }

    /// The configuration plugin `name` should run with, if it should run.
    fn wanted(&self, state: &State, name: &str, library: &Library) -> Option<Wanted> {
        let source = self.etc_dir.join(format!("{name}.conf"));
        let text = std::fs::read_to_string(&source).ok();
        let enabled = match state.overrides.get(name) {
            Some(forced) => *forced,
            None => text.as_deref().is_some_and(enabled_by),
        };
        enabled.then(|| Wanted {
            library: library.clone(),
            source,
            text: text.unwrap_or_default(),
        })
    }

    /// Starts, stops, reconfigures or replaces plugin `name`.
    fn settle(&self, state: &mut State, name: &str, wanted: Option<Wanted>) {
        if state.shut_down {
            return;
        }
        let Some(wanted) = wanted else {
            state.failures.remove(name);
            if let Some(running) = state.running.remove(name) {
                self.stop(name, running);
            }
            return;
        };
        match state.running.get_mut(name) {
            None => {
                if let Some(failure) = state.failures.get(name) {
                    if failure.fingerprint == wanted.library.fingerprint
                        && failure.config_text == wanted.text
                    {
                        return;
                    }
                }
                match self.create(name, &wanted) {
                    Ok(instance) => {
                        state.failures.remove(name);
                        let hooks = instance.hooks();
                        let handler = self.broker.hooks.register(
                            hooks,
                            rank(name, &wanted.text),
                            Arc::new(PluginHook(Arc::clone(&instance))),
                        );
                        tracing::info!(
                            plugin = name,
                            version = %wanted.library.version,
                            hooks = %hooks.names().join(","),
                            "plugin started from {}",
                            wanted.library.path.display()
                        );
                        state.running.insert(
                            name.to_owned(),
                            Running {
                                library: wanted.library,
                                instance,
                                handler,
                                config_text: wanted.text,
                                last_config_error: None,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::error!(plugin = name, "plugin not started: {error}");
                        state.failures.insert(
                            name.to_owned(),
                            Failure {
                                fingerprint: wanted.library.fingerprint,
                                config_text: wanted.text,
                                error,
                            },
                        );
                    }
                }
            }
            Some(running) => {
                if running.library.fingerprint != wanted.library.fingerprint
                    || running.library.path != wanted.library.path
                {
                    self.replace(name, running, wanted);
                } else if running.config_text != wanted.text {
                    self.reconfigure(name, running, &wanted);
                }
            }
        }
    }

    fn create(&self, name: &str, wanted: &Wanted) -> Result<Arc<Instance>, String> {
        let source = wanted.source.display().to_string();
        let config = PluginConfig {
            name: RStr::from_str(name),
            source: RStr::from_str(&source),
            text: RStr::from_str(&wanted.text),
        };
        let host = BrokerHost::new_box(&self.broker, name);
        match (wanted.library.module.create())(host, &config) {
            RResult::ROk(plugin) => Ok(Instance::new(name, plugin, self.broker.node_name())),
            RResult::RErr(error) => Err(error.with_file(&source)),
        }
    }

    fn reconfigure(&self, name: &str, running: &mut Running, wanted: &Wanted) {
        let source = wanted.source.display().to_string();
        let config = PluginConfig {
            name: RStr::from_str(name),
            source: RStr::from_str(&source),
            text: RStr::from_str(&wanted.text),
        };
        running.config_text = wanted.text.clone();
        match running.instance.reconfigure(&config) {
            Some(Ok(())) => {
                running.last_config_error = None;
                let hooks = running.instance.hooks();
                self.broker
                    .hooks
                    .set_points(running.handler, hooks, rank(name, &wanted.text));
                tracing::info!(plugin = name, hooks = %hooks.names().join(","), "plugin configuration reloaded from {source}");
            }
            Some(Err(error)) => {
                let text = error.with_file(&source);
                tracing::error!(
                    plugin = name,
                    "configuration refused, the previous one stays in force: {text}"
                );
                running.last_config_error = Some(text);
            }
            None => {}
        }
    }

    /// Starts the new library, switches dispatch to it in one step, then
    /// drains the old instance. The old code stays mapped.
    fn replace(&self, name: &str, running: &mut Running, wanted: Wanted) {
        let instance = match self.create(name, &wanted) {
            Ok(instance) => instance,
            Err(error) => {
                tracing::error!(
                    plugin = name,
                    "replacement not started, the running instance stays: {error}"
                );
                running.library = wanted.library;
                running.config_text = wanted.text;
                return;
            }
        };
        let hooks = instance.hooks();
        let rank = rank(name, &wanted.text);
        let handler = self
            .broker
            .hooks
            .replace(
                running.handler,
                hooks,
                rank.clone(),
                Arc::new(PluginHook(Arc::clone(&instance))),
            )
            .unwrap_or_else(|| {
                self.broker
                    .hooks
                    .register(hooks, rank, Arc::new(PluginHook(Arc::clone(&instance))))
            });
        let old = std::mem::replace(&mut running.instance, instance);
        old.stop();
        tracing::info!(
            plugin = name,
            version = %wanted.library.version,
            "plugin replaced by {}; the previous instance drained (its code stays mapped until exit)",
            wanted.library.path.display()
        );
        running.handler = handler;
        running.library = wanted.library;
        running.config_text = wanted.text;
        running.last_config_error = None;
    }

    fn stop(&self, name: &str, running: Running) {
        self.broker.hooks.unregister(running.handler);
        running.instance.stop();
        tracing::info!(plugin = name, "plugin stopped");
    }

    /// Enables `name` regardless of its configuration file, until the next
    /// `unload`.
    pub fn load(&self, name: &str) -> Result<(), ActionError> {
        self.lock().overrides.insert(name.to_owned(), true);
        self.reconcile();
        let state = self.lock();
        if state.running.contains_key(name) {
            return Ok(());
        }
        Err(match state.failures.get(name) {
            Some(failure) => ActionError::NotStarted {
                name: name.to_owned(),
                reason: failure.error.clone(),
            },
            None => self.unknown(&state, name),
        })
    }

    /// Disables `name` regardless of its configuration file, until the next
    /// `load`.
    pub fn unload(&self, name: &str) -> Result<(), ActionError> {
        let mut state = self.lock();
        let known = state.running.contains_key(name) || loaded_by_name(&state).contains_key(name);
        if !known {
            return Err(self.unknown(&state, name));
        }
        state.overrides.insert(name.to_owned(), false);
        drop(state);
        self.reconcile();
        Ok(())
    }

    /// Starts a fresh instance of `name` with its current library and
    /// configuration, swapped in for the running one.
    pub fn reload(&self, name: &str) -> Result<(), ActionError> {
        let mut state = self.lock();
        state.failures.remove(name);
        let Some(running) = state.running.get_mut(name) else {
            drop(state);
            return self.load(name);
        };
        let wanted = Wanted {
            library: running.library.clone(),
            source: self.etc_dir.join(format!("{name}.conf")),
            text: std::fs::read_to_string(self.etc_dir.join(format!("{name}.conf")))
                .unwrap_or_default(),
        };
        self.replace(name, running, wanted);
        Ok(())
    }

    /// The configuration file of plugin `name` (`plugins.etc_dir/NAME.conf`,
    /// which may not exist), when a library in the plugins directory
    /// declares that name.
    pub fn config_file(&self, name: &str) -> Result<PathBuf, ActionError> {
        let state = self.lock();
        if !loaded_by_name(&state).contains_key(name) {
            return Err(self.unknown(&state, name));
        }
        Ok(self.etc_dir.join(format!("{name}.conf")))
    }

    /// Has plugin `name` check `text` as its configuration with its own
    /// parser, applying nothing (plugin-api 1.4's `check_config`): None
    /// when the plugin cannot (built against an older interface, or it
    /// does not implement the check), else its warnings or its error.
    /// Blocks while the plugin checks.
    pub fn check_config(
        &self,
        name: &str,
        text: &str,
    ) -> Result<Option<Result<Vec<String>, ConfigError>>, ActionError> {
        let (library, source) = {
            let state = self.lock();
            match loaded_by_name(&state).remove(name) {
                Some(library) => (library, self.etc_dir.join(format!("{name}.conf"))),
                None => return Err(self.unknown(&state, name)),
            }
        };
        let Some(check) = library.module.check_config() else {
            return Ok(None);
        };
        let source = source.display().to_string();
        let config = PluginConfig {
            name: RStr::from_str(name),
            source: RStr::from_str(&source),
            text: RStr::from_str(text),
        };
        Ok(match check(&config) {
            ROption::RNone => None,
            ROption::RSome(RResult::ROk(warnings)) => {
                Some(Ok(warnings.into_iter().map(String::from).collect()))
            }
            ROption::RSome(RResult::RErr(error)) => Some(Err(error)),
        })
    }

    /// The plugin's entry of [`list`](Self::list).
    pub fn describe(&self, name: &str) -> Option<Value> {
        self.list()
            .into_iter()
            .find(|plugin| plugin["name"].as_str() == Some(name))
    }

    fn unknown(&self, state: &State, name: &str) -> ActionError {
        let refused = state
            .libraries
            .values()
            .filter_map(|library| match library {
                LibraryState::Refused { error, .. } => Some(error.clone()),
                LibraryState::Loaded(_) => None,
            })
            .collect();
        ActionError::UnknownPlugin {
            name: name.to_owned(),
            dir: self.dir.clone(),
            refused,
        }
    }

    /// Stops every plugin and removes the private copies' directory, if
    /// any (broker shutdown): loaded code stays mapped until exit.
    pub fn stop_all(&self) {
        let mut state = self.lock();
        state.shut_down = true;
        let running = std::mem::take(&mut state.running);
        for (name, plugin) in running {
            self.stop(&name, plugin);
        }
        self.copies.close();
    }

    /// The running instances by name, for `/metrics`: their figures are
    /// read without holding up the manager.
    pub fn instances(&self) -> Vec<(String, Arc<Instance>)> {
        self.lock()
            .running
            .iter()
            .map(|(name, running)| (name.clone(), Arc::clone(&running.instance)))
            .collect()
    }

    /// The plugins whose file says `plugin.required = on` and that did not
    /// start, each with why: the broker does not run without them.
    pub fn required_failures(&self) -> Vec<String> {
        let state = self.lock();
        state
            .failures
            .iter()
            .filter(|(_, failure)| required_by(&failure.config_text))
            .map(|(name, failure)| format!("plugin {name}: {}", failure.error))
            .collect()
    }

    /// Every known plugin, for the admin API: name, version, state, hook
    /// points, events, errors, last errors.
    pub fn list(&self) -> Vec<Value> {
        let state = self.lock();
        let mut out = BTreeMap::new();
        for library in loaded_by_name(&state).values() {
            let failure = state.failures.get(&library.name);
            out.insert(
                library.name.clone(),
                json!({
                    "name": library.name,
                    "version": library.version,
                    "description": library.description,
                    "library": library.path.display().to_string(),
                    "state": if failure.is_some() { "failed" } else { "disabled" },
                    "hooks": [],
                    "events": 0,
                    "errors": 0,
                    "last_error": failure.map(|f| f.error.clone()),
                    "last_config_error": Value::Null,
                    "stats": {},
                }),
            );
        }
        for (name, running) in &state.running {
            let instance = &running.instance;
            let plugin_state = if instance.has_failed() {
                "failed"
            } else if instance.is_stopped() {
                "stopped"
            } else {
                "running"
            };
            let hooks = if instance.has_failed() {
                HookSet::NONE
            } else {
                instance.hooks()
            };
            let stats: Value = serde_json::from_str(&instance.stats()).unwrap_or(Value::Null);
            out.insert(
                name.clone(),
                json!({
                    "name": name,
                    "version": running.library.version,
                    "description": running.library.description,
                    "library": running.library.path.display().to_string(),
                    "state": plugin_state,
                    "hooks": hooks.names(),
                    "events": instance.events(),
                    "errors": instance.errors(),
                    "last_error": instance.last_error(),
                    "last_config_error": running.last_config_error,
                    "stats": stats,
                }),
            );
        }
        for (path, library) in &state.libraries {
            if let LibraryState::Refused { error, .. } = library {
                let file = path
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                out.entry(file.clone()).or_insert_with(|| {
                    json!({
                        "name": Value::Null,
                        "library": path.display().to_string(),
                        "state": "refused",
                        "last_error": error,
                    })
                });
            }
        }
        out.into_values().collect()
    }
}

/// Loaded libraries by plugin name; when two files declare one name, the
/// first path wins and the other is reported.
fn loaded_by_name(state: &State) -> BTreeMap<String, Library> {
    let mut by_name: BTreeMap<String, Library> = BTreeMap::new();
    for library in state.libraries.values() {
        if let LibraryState::Loaded(library) = library {
            if let Some(first) = by_name.get(&library.name) {
                tracing::warn!(
                    plugin = %library.name,
                    "{} and {} both declare this plugin name; using the first",
                    first.path.display(),
                    library.path.display()
                );
                continue;
            }
            by_name.insert(library.name.clone(), library.clone());
        }
    }
    by_name
}

/// The value of the last `key = value` line of a plugin configuration
/// file: the host reads its own `plugin.*` keys this way and leaves the
/// rest to the plugin.
fn host_key<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut found = None;
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix(key) else {
            continue;
        };
        if let Some(value) = rest.trim_start().strip_prefix('=') {
            found = Some(value.trim());
        }
    }
    found
}

/// Whether a plugin configuration file enables its plugin: yes unless a
/// `plugin.enable` line says off.
pub fn enabled_by(text: &str) -> bool {
    !host_key(text, "plugin.enable").is_some_and(|value| {
        matches!(
            value.to_ascii_lowercase().as_str(),
            "off" | "false" | "no" | "disable" | "disabled" | "0"
        )
    })
}

/// Whether a plugin configuration file says the broker must not run
/// without its plugin: `plugin.required = on` (off when absent).
pub fn required_by(text: &str) -> bool {
    host_key(text, "plugin.required").is_some_and(|value| {
        matches!(
            value.to_ascii_lowercase().as_str(),
            "on" | "true" | "yes" | "enable" | "enabled" | "1"
        )
    })
}

/// What the host would say of its own keys in a plugin's configuration
/// text (it reads them leniently: these are warnings, not refusals).
pub fn host_key_warnings(text: &str) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Some(value) = host_key(text, "plugin.priority") {
        if value.parse::<i64>().is_err() {
            warnings.push(format!(
                "plugin.priority = {value:?} is not a whole number; 0 is used"
            ));
        }
    }
    if !enabled_by(text) {
        warnings.push("plugin.enable is off: the plugin stops once this is written".to_owned());
    }
    warnings
}

/// `plugin.priority`: where the plugin's handlers stand among the others
/// (higher first, ties by name); 0 when absent. A value that is not a
/// whole number is logged and read as 0, as the plugin's other keys are
/// its own to refuse.
fn rank(name: &str, text: &str) -> Rank {
    let priority = match host_key(text, "plugin.priority") {
        None => 0,
        Some(value) => value.parse::<i64>().unwrap_or_else(|_| {
            tracing::warn!(
                plugin = name,
                "plugin.priority = {value:?} is not a whole number; 0 is used"
            );
            0
        }),
    };
    Rank {
        priority,
        name: Arc::from(name),
    }
}

fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::{enabled_by, rank};

    #[test]
    fn priority_is_the_last_whole_number_given_else_zero() {
        assert_eq!(rank("p", "").priority, 0);
        assert_eq!(rank("p", "plugin.priority = 10\n").priority, 10);
        assert_eq!(
            rank("p", "plugin.priority=-3\nplugin.priority = 7").priority,
            7
        );
        assert_eq!(rank("p", "plugin.priority = high").priority, 0);
        assert_eq!(&*rank("p", "").name, "p");
    }

    #[test]
    fn the_host_warns_of_its_own_keys_it_would_read_otherwise() {
        assert!(super::host_key_warnings("a = 1\nplugin.priority = 3\n").is_empty());
        let warnings = super::host_key_warnings("plugin.priority = high\nplugin.enable = off\n");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("\"high\""), "{warnings:?}");
    }

    #[test]
    fn a_plugin_is_required_only_when_its_file_says_so() {
        assert!(!super::required_by(""));
        assert!(!super::required_by("plugin.required = off\n"));
        assert!(super::required_by("plugin.required = on\n"));
        assert!(super::required_by(" plugin.required=TRUE"));
        assert!(!super::required_by("# plugin.required = on"));
    }

    #[test]
    fn a_config_file_enables_unless_it_says_off() {
        assert!(enabled_by(""));
        assert!(enabled_by("audit.file = x\n"));
        assert!(enabled_by("plugin.enable = on"));
        assert!(!enabled_by("plugin.enable = off"));
        assert!(!enabled_by("  plugin.enable=OFF  "));
        assert!(enabled_by("# plugin.enable = off"));
        assert!(enabled_by("plugin.enable = off\nplugin.enable = on"));
    }
}

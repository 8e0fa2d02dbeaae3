//! The root module every plugin library exports, and the macro that
//! exports it.

use abi_stable::library::{CheckTypeLayout, LibHeader, RootModule, RootModuleResult};
use abi_stable::prefix_type::PrefixTypeTrait;
use abi_stable::std_types::{RResult, RStr};
// @since 1.4 begin
use abi_stable::std_types::{ROption, RString};
// @since 1.4 end
use abi_stable::{declare_root_module_statics, package_version_strings, StableAbi};

use crate::events::PluginConfig;
use crate::host::HostApiBox;
use crate::plugin::{guard, MqhostPlugin, PluginBox};
use crate::types::ConfigError;
// @since 1.4 begin
use crate::plugin::guarded;
use crate::types::ConfigCheck;
// @since 1.4 end

/// What a plugin library exports: its name and a constructor. A prefix
/// type, so later versions of this interface can add fields after the
/// last prefix field without breaking plugins built against earlier
/// versions. Fields added in a minor version are marked `@since`, and the
/// host reads them as optional.
///
/// ```
/// use mqhost_plugin_api::abi_stable::library::RootModule;
/// use mqhost_plugin_api::PluginModuleRef;
///
/// // What the host loads a library as (it then reads name, version, create).
/// let _load = PluginModuleRef::load_from_file;
/// ```
#[repr(C)]
#[derive(StableAbi)]
#[sabi(kind(Prefix(prefix_ref = PluginModuleRef)))]
#[sabi(missing_field(panic))]
pub struct PluginModule {
    /// The plugin's NAME: its configuration is `etc/plugins/NAME.conf`.
    pub name: extern "C" fn() -> RStr<'static>,
    /// The plugin's own version, for the admin API.
    pub version: extern "C" fn() -> RStr<'static>,
    /// Starts an instance with the host handle and the configuration file.
    #[sabi(last_prefix_field)]
    pub create: extern "C" fn(HostApiBox, &PluginConfig<'_>) -> RResult<PluginBox, ConfigError>,
    // @since 1.1 begin
    /// One line saying what the plugin does, for the admin API (since 1.1;
    /// absent in plugins built against 1.0).
    #[sabi(missing_field(option))]
    pub description: extern "C" fn() -> RStr<'static>,
    // @since 1.1 end
    // @since 1.4 begin
    /// Checks a configuration text without applying it (since 1.4;
    /// absent in plugins built against older versions): see
    /// [`MqhostPlugin::check_config`]. `RNone` when the plugin cannot.
    #[sabi(missing_field(option))]
    pub check_config: extern "C" fn(&PluginConfig<'_>) -> ConfigCheck,
    // @since 1.4 end
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "mqhost_plugin";
    const NAME: &'static str = "mqhost plugin-api";
    const VERSION_STRINGS: abi_stable::sabi_types::VersionStrings = package_version_strings!();
}

/// The symbol abi_stable looks up in a library to find its root module.
/// [`export_plugin!`](crate::export_plugin) exports it under this literal name, and a test checks
/// that abi_stable still uses it.
///
/// ```
/// use mqhost_plugin_api::module::ROOT_MODULE_SYMBOL;
///
/// // The host can look for the symbol before loading a library.
/// assert_eq!(ROOT_MODULE_SYMBOL, "_1as_0lib_1header_0root_bmodule_bloader");
/// ```
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// What [`export_plugin!`](crate::export_plugin) knows of a plugin: its type and the strings its
/// root module hands out. The macro implements it; plugin code does not.
#[doc(hidden)]
pub trait Exported: 'static {
    /// The plugin type.
    type Plugin: MqhostPlugin;
    /// The plugin's NAME.
    fn name() -> &'static str;
    /// The plugin crate's version.
    fn version() -> &'static str;
    // @since 1.1 begin
    /// One line saying what the plugin does.
    fn description() -> &'static str;
    // @since 1.1 end
}

extern "C" fn name<E: Exported>() -> RStr<'static> {
    RStr::from_str(E::name())
}

extern "C" fn version<E: Exported>() -> RStr<'static> {
    RStr::from_str(E::version())
}

// @since 1.1 begin
extern "C" fn description<E: Exported>() -> RStr<'static> {
    RStr::from_str(E::description())
}
// @since 1.1 end

// @since 1.4 begin
extern "C" fn check_config<E: Exported>(config: &PluginConfig<'_>) -> ConfigCheck {
    match guarded(|| E::Plugin::check_config(config)) {
        RResult::ROk(None) => ROption::RNone,
        RResult::ROk(Some(Ok(warnings))) => ROption::RSome(RResult::ROk(
            warnings.into_iter().map(RString::from).collect(),
        )),
        RResult::ROk(Some(Err(error))) => ROption::RSome(RResult::RErr(error)),
        RResult::RErr(panic) => ROption::RSome(RResult::RErr(ConfigError::new(format!(
            "the plugin's check of its configuration failed: {}",
            panic.message
        )))),
    }
}
// @since 1.4 end

extern "C" fn create<E: Exported>(
    host: HostApiBox,
    config: &PluginConfig<'_>,
) -> RResult<PluginBox, ConfigError> {
    guard::<E::Plugin>(host, config)
}

fn root_module<E: Exported>() -> PluginModuleRef {
    PluginModule {
        name: name::<E>,
        version: version::<E>,
        create: create::<E>,
        // @since 1.1 begin
        description: description::<E>,
        // @since 1.1 end
        // @since 1.4 begin
        check_config: check_config::<E>,
        // @since 1.4 end
    }
    .leak_into_prefix()
}

extern "C" fn load_root_module<E: Exported>() -> RootModuleResult {
    abi_stable::library::__call_root_module_loader(root_module::<E>)
}

/// The header abi_stable looks for in a plugin library: what
/// `#[export_root_module]` would build, here so that the plugin crate
/// holds no `unsafe` of its own and may `#![forbid(unsafe_code)]`.
#[doc(hidden)]
pub const fn library_header<E: Exported>() -> LibHeader {
    // SAFETY: `from_constructor::<M>` needs the constructor to return a
    // module erased from a `PrefixRef` of `M`'s prefix type.
    // `load_root_module::<E>` returns what `__call_root_module_loader`
    // makes of `root_module::<E>`, a `PluginModuleRef`: that erases exactly
    // `PluginModuleRef`'s prefix, and `M` is `PluginModuleRef`.
    unsafe {
        LibHeader::from_constructor::<PluginModuleRef>(load_root_module::<E>, CheckTypeLayout::Yes)
    }
}

/// Exports an [`MqhostPlugin`] as a loadable plugin library. Put it once in
/// a `cdylib` crate that depends on `mqhost-plugin-api` (no direct
/// `abi_stable` dependency is needed). The expansion holds no `unsafe`
/// block, so the crate may `#![forbid(unsafe_code)]`.
///
/// ```
/// #![forbid(unsafe_code)]
/// use mqhost_plugin_api::{ConfigError, HookSet, Host, MqhostPlugin, PluginConfig};
///
/// pub struct Quiet;
///
/// impl MqhostPlugin for Quiet {
///     fn start(_host: Host, _config: &PluginConfig<'_>) -> Result<Self, ConfigError> {
///         Ok(Quiet)
///     }
///     fn hooks(&self) -> HookSet {
///         HookSet::NONE
///     }
/// }
///
/// mqhost_plugin_api::export_plugin!(name: "quiet", plugin: Quiet);
/// // Or, with a line for the admin API:
/// // export_plugin!(name: "quiet", plugin: Quiet, description: "Does nothing");
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! export_plugin {
    (name: $name:expr, plugin: $plugin:ty $(,)?) => {
        $crate::export_plugin!(name: $name, plugin: $plugin, description: "");
    };
    (name: $name:expr, plugin: $plugin:ty, description: $description:expr $(,)?) => {
        #[doc(hidden)]
        pub mod __mqhost_plugin_export {
            use super::*;

            pub struct Export;

            impl $crate::module::Exported for Export {
                type Plugin = $plugin;
                fn name() -> &'static str {
                    $name
                }
                fn version() -> &'static str {
                    env!("CARGO_PKG_VERSION")
                }
                // @since 1.1 begin
                fn description() -> &'static str {
                    $description
                }
                // @since 1.1 end
            }

            // The symbol must be defined in the plugin's own crate to be
            // exported from its library; everything unsafe about it is in
            // `library_header`.
            #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
            pub static ROOT_MODULE: $crate::abi_stable::library::LibHeader =
                $crate::module::library_header::<Export>();
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn root_module_symbol_matches_abi_stable() {
        assert_eq!(
            super::ROOT_MODULE_SYMBOL,
            abi_stable::library::ROOT_MODULE_LOADER_NAME
        );
    }
}

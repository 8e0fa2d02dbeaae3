//! The root module every plugin library exports, and the macro that
//! exports it.

use abi_stable::library::RootModule;
use abi_stable::std_types::{RResult, RStr};
use abi_stable::{declare_root_module_statics, package_version_strings, StableAbi};

use crate::events::PluginConfig;
use crate::host::HostApiBox;
use crate::plugin::PluginBox;
use crate::types::ConfigError;

/// What a plugin library exports: its name and a constructor. A prefix
/// type, so later versions of this interface can add fields after the
/// last prefix field without breaking plugins built against earlier
/// versions. Fields added in a minor version are marked `@since`, and the
/// host reads them as optional.
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
}

impl RootModule for PluginModuleRef {
    declare_root_module_statics! {PluginModuleRef}
    const BASE_NAME: &'static str = "mqhost_plugin";
    const NAME: &'static str = "mqhost plugin-api";
    const VERSION_STRINGS: abi_stable::sabi_types::VersionStrings = package_version_strings!();
}

/// The symbol abi_stable looks up in a library to find its root module.
/// [`export_plugin!`] exports it under this literal name, and a test checks
/// that abi_stable still uses it.
pub const ROOT_MODULE_SYMBOL: &str = "_1as_0lib_1header_0root_bmodule_bloader";

/// Exports an [`MqhostPlugin`](crate::MqhostPlugin) as a loadable plugin
/// library. Put it once in a `cdylib` crate that depends on
/// `mqhost-plugin-api` (no direct `abi_stable` dependency is needed).
///
/// ```ignore
/// mqhost_plugin_api::export_plugin!(name: "audit", plugin: AuditLog);
/// mqhost_plugin_api::export_plugin!(name: "audit", plugin: AuditLog, description: "Appends events to a file");
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
            use $crate::abi_stable::library::{
                CheckTypeLayout, IntoRootModuleResult, LibHeader, RootModuleResult,
            };
            use $crate::abi_stable::prefix_type::PrefixTypeTrait;
            use $crate::abi_stable::std_types::{RResult, RStr};

            extern "C" fn name() -> RStr<'static> {
                RStr::from_str($name)
            }

            extern "C" fn version() -> RStr<'static> {
                RStr::from_str(env!("CARGO_PKG_VERSION"))
            }

            // @since 1.1 begin
            extern "C" fn description() -> RStr<'static> {
                RStr::from_str($description)
            }
            // @since 1.1 end

            extern "C" fn create(
                host: $crate::HostApiBox,
                config: &$crate::PluginConfig<'_>,
            ) -> RResult<$crate::PluginBox, $crate::ConfigError> {
                $crate::guard::<$plugin>(host, config)
            }

            fn root_module() -> $crate::PluginModuleRef {
                $crate::PluginModule {
                    name,
                    version,
                    create,
                    // @since 1.1 begin
                    description,
                    // @since 1.1 end
                }
                .leak_into_prefix()
            }

            extern "C" fn erased_root_module() -> RootModuleResult {
                $crate::abi_stable::library::__call_root_module_loader(root_module)
            }

            // What abi_stable's #[export_root_module] writes, spelled out
            // so that the plugin crate needs no abi_stable dependency.
            #[export_name = "_1as_0lib_1header_0root_bmodule_bloader"]
            pub static ROOT_MODULE: LibHeader = {
                type Module = <$crate::PluginModuleRef as IntoRootModuleResult>::Module;
                unsafe {
                    LibHeader::from_constructor::<Module>(erased_root_module, CheckTypeLayout::Yes)
                }
            };
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

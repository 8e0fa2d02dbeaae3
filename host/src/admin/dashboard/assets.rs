//! The dashboard's files, built into the binary: each with its type and
//! an ETag made from its bytes once.

use std::sync::OnceLock;

/// One file of the dashboard.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
    etag: OnceLock<String>,
}

impl Asset {
    const fn new(name: &'static str, content_type: &'static str, body: &'static [u8]) -> Asset {
        Asset {
            name,
            content_type,
            body,
            etag: OnceLock::new(),
        }
    }

    /// A strong ETag: the version and a hash of the bytes.
    pub fn etag(&self) -> &str {
        self.etag.get_or_init(|| {
            format!(
                "\"{}-{:016x}\"",
                env!("CARGO_PKG_VERSION"),
                fnv1a(self.body)
            )
        })
    }
}

/// FNV-1a, 64 bits: enough to tell two versions of a file apart.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

macro_rules! asset {
    ($name:literal, $type:expr) => {
        Asset::new($name, $type, include_bytes!(concat!("assets/", $name)))
    };
}

static INDEX: Asset = asset!("index.html", HTML);

/// The files under `/assets/`, by the name after it.
static ASSETS: [Asset; 16] = [
    asset!("style.css", CSS),
    asset!("icon.svg", SVG),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("chart.js", JS),
    asset!("sampler.js", JS),
    asset!("mqtt.js", JS),
    asset!("editor.js", JS),
    asset!("pages/overview.js", JS),
    asset!("pages/clients.js", JS),
    asset!("pages/subscriptions.js", JS),
    asset!("pages/retained.js", JS),
    asset!("pages/plugins.js", JS),
    asset!("pages/mqtt.js", JS),
    asset!("pages/login.js", JS),
];

/// The page itself.
pub fn index() -> &'static Asset {
    &INDEX
}

/// The asset named `name` (a path under `/assets/`).
pub fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|asset| asset.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_is_found_by_its_name_and_has_a_distinct_etag() {
        let mut tags = std::collections::HashSet::new();
        for asset in ASSETS.iter().chain([&INDEX]) {
            assert!(!asset.body.is_empty(), "{} is empty", asset.name);
            assert!(tags.insert(asset.etag().to_owned()), "{}", asset.name);
        }
        assert!(find("app.js").is_some());
        assert!(find("pages/plugins.js").is_some());
        assert!(find("../mod.rs").is_none());
        assert!(find("index.html").is_none());
    }

    /// Every module a script imports is served: a missing one would only
    /// show in a browser, as a page that never starts.
    #[test]
    fn every_import_names_a_served_module() {
        for asset in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(asset.body).expect("UTF-8");
            for line in text.lines().filter(|l| l.starts_with("import ")) {
                let Some(spec) = line.split(['"', '\'']).nth(1) else {
                    panic!("{}: unreadable import {line:?}", asset.name);
                };
                let base = asset.name.rsplit_once('/').map_or("", |(dir, _)| dir);
                let resolved = resolve(base, spec);
                assert!(
                    find(&resolved).is_some(),
                    "{} imports {spec}, which is not served",
                    asset.name
                );
            }
        }
    }

    /// A relative module specifier (`./x.js`, `../x.js`) from directory
    /// `base`.
    fn resolve(base: &str, spec: &str) -> String {
        let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
        for segment in spec.split('/') {
            match segment {
                "." => {}
                ".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        parts.join("/")
    }
}

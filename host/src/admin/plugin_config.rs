//! A plugin's configuration file through the API:
//!
//! - `GET /api/v1/plugins/NAME/config`: `{"path", "text", "exists"}`;
//! - `POST /api/v1/plugins/NAME/config/validate` `{"text"}`: the plugin's
//!   own parser run on the text, nothing applied: `{"ok", "errors",
//!   "warnings"}`, `ok` null when the plugin cannot tell (built against
//!   plugin-api before 1.4, or without `check_config`);
//! - `PUT /api/v1/plugins/NAME/config` `{"text"}`: the same check, 422
//!   when it fails, then the file replaced whole (mode and owner kept) and
//!   the plugins brought in line with it at once, as the watcher would
//!   after an edit. A plugin that cannot check is written only when the
//!   body also says `"unchecked": true`.
//!
//! NAME must be declared by a library in the plugins directory, so the
//! file is always `plugins.etc_dir/NAME.conf` of a known, word-like name.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::Uri;
use axum::Extension;
use mqhost_plugin_api::ConfigError;
use serde_json::{json, Value};

use super::api::{action_error_status, error, ok, AdminState, Caller, Reply};
use super::{body, replace};
use crate::escape::escaped;
use crate::plugins::manager::host_key_warnings;

/// The largest configuration text taken (the body's own bound is 64 KiB,
/// JSON escapes included).
pub const MAX_CONFIG_TEXT: usize = 60 * 1024;

/// The plugin name in the path: `/api/v1/plugins/NAME/config[/validate]`.
fn plugin_name(uri: &Uri) -> Result<String, Reply> {
    let segments: Vec<&str> = uri.path().split('/').collect();
    // "", "api", "v1", "plugins", NAME, "config", ...
    let name = segments
        .get(4)
        .and_then(|segment| super::path::percent_decode(segment))
        .ok_or_else(|| error(400, "the plugin name is not valid percent-encoded UTF-8"))?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(error(404, &format!("no plugin named {name:?}")));
    }
    Ok(name)
}

pub async fn show(State(state): State<Arc<AdminState>>, uri: Uri) -> Reply {
    let name = match plugin_name(&uri) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let path = match state.plugins.config_file(&name) {
        Ok(path) => path,
        Err(e) => return error(action_error_status(&e), &e.to_string()),
    };
    let read = tokio::task::spawn_blocking({
        let path = path.clone();
        move || std::fs::read(&path)
    })
    .await;
    let (text, exists) = match read {
        Ok(Ok(bytes)) => match String::from_utf8(bytes) {
            Ok(text) => (text, true),
            Err(_) => return error(409, &format!("{} is not UTF-8 text", path.display())),
        },
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => (String::new(), false),
        Ok(Err(e)) => return error(500, &format!("cannot read {}: {e}", path.display())),
        Err(_) => return error(500, "reading the configuration failed"),
    };
    ok(json!({ "path": path.display().to_string(), "text": text, "exists": exists }))
}

/// The outcome of a check: ok (true, false, or null when the plugin
/// cannot tell), the errors and the warnings.
struct Checked {
    ok: Option<bool>,
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Checked {
    fn json(&self) -> Value {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(
                |e| json!({ "line": e.line, "key": e.key.as_str(), "message": e.message.as_str() }),
            )
            .collect();
        json!({ "ok": self.ok, "errors": errors, "warnings": self.warnings })
    }
}

/// The `text` field of the body, bounded.
async fn text_of(body: Body) -> Result<(String, body::Fields), Reply> {
    let fields = body::object(body).await?;
    let text = fields.string("text")?.to_owned();
    if text.len() > MAX_CONFIG_TEXT {
        return Err(error(413, "the configuration text is larger than 60 KiB"));
    }
    Ok((text, fields))
}

/// Has plugin `name` check `text`, on a blocking thread (it is the
/// plugin's code).
async fn check(state: &AdminState, name: &str, text: &str) -> Result<Checked, Reply> {
    let plugins = Arc::clone(&state.plugins);
    let (name, text) = (name.to_owned(), text.to_owned());
    let outcome = tokio::task::spawn_blocking(move || {
        plugins
            .check_config(&name, &text)
            .map(|checked| (checked, host_key_warnings(&text)))
    })
    .await
    .map_err(|_| error(500, "the configuration check failed"))?;
    let (checked, mut warnings) =
        outcome.map_err(|e| error(action_error_status(&e), &e.to_string()))?;
    Ok(match checked {
        None => {
            warnings.insert(
                0,
                "this plugin cannot check a configuration without applying it (it was built against plugin-api before 1.4, or has no check_config)".to_owned(),
            );
            Checked {
                ok: None,
                errors: Vec::new(),
                warnings,
            }
        }
        Some(Ok(theirs)) => {
            warnings.extend(theirs);
            Checked {
                ok: Some(true),
                errors: Vec::new(),
                warnings,
            }
        }
        Some(Err(e)) => Checked {
            ok: Some(false),
            errors: vec![e],
            warnings,
        },
    })
}

pub async fn validate(State(state): State<Arc<AdminState>>, uri: Uri, body: Body) -> Reply {
    let name = match plugin_name(&uri) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let (text, _) = match text_of(body).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    match check(&state, &name, &text).await {
        Ok(checked) => ok(checked.json()),
        Err(reply) => reply,
    }
}

pub async fn write(
    State(state): State<Arc<AdminState>>,
    Extension(caller): Extension<Caller>,
    uri: Uri,
    body: Body,
) -> Reply {
    let name = match plugin_name(&uri) {
        Ok(name) => name,
        Err(reply) => return reply,
    };
    let (text, fields) = match text_of(body).await {
        Ok(found) => found,
        Err(reply) => return reply,
    };
    let unchecked = match fields.boolean("unchecked", false) {
        Ok(unchecked) => unchecked,
        Err(reply) => return reply,
    };
    let checked = match check(&state, &name, &text).await {
        Ok(checked) => checked,
        Err(reply) => return reply,
    };
    match checked.ok {
        Some(true) => {}
        Some(false) => {
            let mut body = checked.json();
            body["error"] = "the plugin refuses this configuration; nothing was written".into();
            return Reply {
                status: 422,
                body: Some(body),
            };
        }
        None if unchecked => {}
        None => {
            let mut body = checked.json();
            body["error"] = "this plugin cannot check a configuration without applying it; send \"unchecked\": true to write it all the same".into();
            return Reply {
                status: 501,
                body: Some(body),
            };
        }
    }
    let path = match state.plugins.config_file(&name) {
        Ok(path) => path,
        Err(e) => return error(action_error_status(&e), &e.to_string()),
    };
    let plugins = Arc::clone(&state.plugins);
    let (target, who) = (path.clone(), name.clone());
    let written = tokio::task::spawn_blocking(move || {
        replace::replace(&target, text.as_bytes())?;
        // As the watcher would, at once: the answer says how it went.
        plugins.reconcile();
        Ok::<_, String>(plugins.describe(&who))
    })
    .await;
    let plugin = match written {
        Ok(Ok(plugin)) => plugin.unwrap_or(Value::Null),
        Ok(Err(message)) => return error(500, &message),
        Err(_) => return error(500, "writing the configuration failed"),
    };
    tracing::info!(plugin = %escaped(&name), by = %caller, "plugin configuration written through the admin API to {}", path.display());
    let mut body = checked.json();
    body["path"] = path.display().to_string().into();
    body["state"] = plugin["state"].clone();
    body["last_config_error"] = plugin["last_config_error"].clone();
    ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_the_fifth_segment_and_a_word() {
        let name = |path: &str| plugin_name(&path.parse().unwrap()).map_err(|r| r.status);
        assert_eq!(name("/api/v1/plugins/redis/config").unwrap(), "redis");
        assert_eq!(
            name("/api/v1/plugins/auth_redis/config/validate").unwrap(),
            "auth_redis"
        );
        assert_eq!(name("/api/v1/plugins/..%2Fetc/config").err(), Some(404));
        assert_eq!(name("/api/v1/plugins/a%zz/config").err(), Some(400));
    }
}

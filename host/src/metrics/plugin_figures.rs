//! A plugin's own figures, from the JSON object its `stats()` call
//! returns (the one the admin API shows), flattened into samples: every
//! number, and every boolean as 0 or 1, named by its path of keys joined
//! with `.`. The members of an object under `pools` are pools: their
//! figures carry the pool's name apart, so that the Redis backend's
//! `{"pools": {"main": {"written": 5}}}` reads as pool `main`, figure
//! `written`. Text, null and lists are left out.
//!
//! The host cannot tell a plugin's counters from its gauges, so these are
//! exposed untyped: the plugin interface stays as it is.

use serde_json::Value;

/// One figure of a plugin.
#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    /// The pool it belongs to, for figures under `pools`.
    pub pool: Option<String>,
    /// Its path of keys, joined with `.`.
    pub name: String,
    pub value: f64,
}

/// The figures in a plugin's stats text; none if it is not a JSON object.
pub fn flatten(stats: &str) -> Vec<Figure> {
    let mut figures = Vec::new();
    let Ok(Value::Object(top)) = serde_json::from_str::<Value>(stats) else {
        return figures;
    };
    for (key, value) in &top {
        match (key.as_str(), value) {
            ("pools", Value::Object(pools)) if pools.values().all(Value::is_object) => {
                for (pool, figures_of_pool) in pools {
                    walk(figures_of_pool, Some(pool), String::new(), &mut figures);
                }
            }
            _ => walk(value, None, key.clone(), &mut figures),
        }
    }
    figures
}

fn walk(value: &Value, pool: Option<&String>, path: String, out: &mut Vec<Figure>) {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        Value::Object(members) => {
            for (key, member) in members {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                walk(member, pool, path, out);
            }
            None
        }
        Value::String(_) | Value::Null | Value::Array(_) => None,
    };
    if let Some(value) = number.filter(|v| v.is_finite()) {
        out.push(Figure {
            pool: pool.cloned(),
            name: path,
            value,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figure(pool: Option<&str>, name: &str, value: f64) -> Figure {
        Figure {
            pool: pool.map(str::to_owned),
            name: name.to_owned(),
            value,
        }
    }

    #[test]
    fn pools_get_their_own_label_and_the_rest_a_path() {
        let stats = r#"{
            "pools": {
                "main": {"type": "single", "queued": 3, "written": 10, "connected": true},
                "archive": {"written": 2, "connected": false}
            },
            "rules": 4,
            "redis": {"up": true, "server": "127.0.0.1:6379", "latency": {"p50": 0.5}},
            "names": [1, 2],
            "nothing": null
        }"#;
        let mut figures = flatten(stats);
        figures.sort_by(|a, b| (&a.pool, &a.name).partial_cmp(&(&b.pool, &b.name)).unwrap());
        assert_eq!(
            figures,
            [
                figure(None, "redis.latency.p50", 0.5),
                figure(None, "redis.up", 1.0),
                figure(None, "rules", 4.0),
                figure(Some("archive"), "connected", 0.0),
                figure(Some("archive"), "written", 2.0),
                figure(Some("main"), "connected", 1.0),
                figure(Some("main"), "queued", 3.0),
                figure(Some("main"), "written", 10.0),
            ]
        );
    }

    #[test]
    fn pools_that_are_not_objects_of_objects_are_plain_figures() {
        assert_eq!(flatten(r#"{"pools": 3}"#), [figure(None, "pools", 3.0)]);
        assert_eq!(
            flatten(r#"{"pools": {"a": 1}}"#),
            [figure(None, "pools.a", 1.0)]
        );
    }

    #[test]
    fn anything_but_an_object_has_no_figures() {
        for text in ["", "[]", "3", "not json", "{\"a\": \"text\"}"] {
            assert!(flatten(text).is_empty(), "{text}");
        }
    }
}

//! Topic filters as Redis `SCAN MATCH` patterns, for wildcard retained
//! lookups. Everything else about topics is `mqhost_plugin_api::topic`,
//! the broker's own rules.

use mqhost_plugin_api::topic;

/// A Redis glob pattern that matches at least every key `prefix` +
/// topic for topics matching `filter`: the literal levels before the
/// first wildcard, glob-escaped, then `*`. Exact MQTT matching on the
/// keys found is still needed (`a/+` also finds `a/b/c`).
pub(crate) fn pattern(prefix: &str, filter: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + filter.len() + 1);
    push_glob_escaped(&mut pattern, prefix);
    for level in filter
        .split('/')
        .take_while(|level| !topic::is_wildcard_level(level))
    {
        push_glob_escaped(&mut pattern, level);
        pattern.push('/');
    }
    pattern.push('*');
    pattern
}

/// Appends `text` with Redis glob metacharacters escaped.
fn push_glob_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_cover_every_matching_topic() {
        assert_eq!(pattern("p:", "a/b/+"), "p:a/b/*");
        assert_eq!(pattern("p:", "+/b"), "p:*");
        assert_eq!(pattern("p:", "a?/[x]/#"), "p:a\\?/\\[x\\]/*");
        assert_eq!(
            pattern("mqtt:retain:", "sensors/+/temp"),
            "mqtt:retain:sensors/*"
        );
        assert_eq!(pattern("mqtt:retain:", "#"), "mqtt:retain:*");
        assert_eq!(pattern("mqtt:retain:", "a*b/#"), "mqtt:retain:a\\*b/*");
    }
}

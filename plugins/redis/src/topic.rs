//! MQTT topic filters: checking the `topic` of a rule, matching rules
//! against message topics and subscription filters, and turning a filter
//! into a Redis `SCAN MATCH` pattern for wildcard retained lookups.

/// Checks that `filter` is a valid MQTT topic filter: not empty, no U+0000,
/// at most 65535 bytes, `+` only as a whole level, `#` only as the whole
/// last level.
pub fn validate_filter(filter: &str) -> Result<(), String> {
    if filter.is_empty() {
        return Err("a topic filter cannot be empty".to_owned());
    }
    if filter.len() > usize::from(u16::MAX) {
        return Err("a topic filter is at most 65535 bytes long".to_owned());
    }
    if filter.contains('\0') {
        return Err(format!("topic filter {filter:?} contains U+0000"));
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(format!(
                "invalid topic filter {filter:?}: '#' must be the whole last level"
            ));
        }
        if level.contains('+') && level != "+" {
            return Err(format!(
                "invalid topic filter {filter:?}: '+' must be a whole level"
            ));
        }
    }
    Ok(())
}

/// Whether `name` matches the (valid) filter `filter`.
///
/// `+` matches exactly one level, `#` the rest including the parent level
/// (`a/#` matches `a`); a name starting with `$` is not matched by a filter
/// starting with a wildcard. `name` is taken literally: for a subscription
/// filter such as `queue/#`, its `#` is just a level, so the rule filter
/// `queue/#` matches it and `queue/+/x` does not (EMQX's
/// `emqx_topic:match(Filter, RuleTopic)`).
pub fn matches(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut name_levels = name.split('/');
    loop {
        match (filter_levels.next(), name_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(n)) if f == n => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether `filter` has a `+` or `#` level.
pub fn has_wildcards(filter: &str) -> bool {
    filter.split('/').any(|level| level == "+" || level == "#")
}

/// The filter without a `$share/<group>/` prefix: the topics a shared
/// subscription is about, which is what its keys are named after.
pub fn strip_share(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, inner)| inner)
}

/// Whether a filter is a shared subscription (`$share/<group>/...`).
pub fn is_shared(filter: &str) -> bool {
    strip_share(filter).len() != filter.len()
}

/// A Redis glob pattern that matches at least every key `prefix` +
/// topic for topics matching `filter`: the literal levels before the
/// first wildcard, glob-escaped, then `*`. Exact MQTT matching on the
/// keys found is still needed (`a/+` also finds `a/b/c`).
///
/// ```
/// use mqhost_redis::topic::scan_pattern;
///
/// assert_eq!(scan_pattern("mqtt:retain:", "sensors/+/temp"), "mqtt:retain:sensors/*");
/// assert_eq!(scan_pattern("mqtt:retain:", "#"), "mqtt:retain:*");
/// assert_eq!(scan_pattern("mqtt:retain:", "a*b/#"), "mqtt:retain:a\\*b/*");
/// ```
pub fn scan_pattern(prefix: &str, filter: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + filter.len() + 1);
    push_glob_escaped(&mut pattern, prefix);
    for level in filter.split('/') {
        if level == "+" || level == "#" {
            break;
        }
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
    fn valid_and_invalid_filters() {
        for ok in ["a", "a/b", "+", "#", "a/+/c", "a/#", "/", "$SYS/#", "+/+"] {
            assert!(validate_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a+/b", "a/b+", "x\0y"] {
            assert!(validate_filter(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn wildcards_match_levels() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("#", "x/y"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("#", "$SYS/uptime"));
        assert!(!matches("+/uptime", "$SYS/uptime"));
        assert!(matches("$SYS/#", "$SYS/uptime"));
    }

    #[test]
    fn subscription_filters_are_matched_literally() {
        // The seed's rules: "queue/#" matches subscriptions under queue/.
        assert!(matches("queue/#", "queue/#"));
        assert!(matches("queue/#", "queue/a"));
        assert!(matches("queue/#", "queue/+"));
        assert!(!matches("queue/#", "pubsub/a"));
        // A literal '#' level is not matched by a literal rule level.
        assert!(!matches("queue/a", "queue/#"));
        assert!(matches("queue/+", "queue/#"));
    }

    #[test]
    fn share_prefix_is_stripped() {
        assert_eq!(strip_share("$share/g/a/b"), "a/b");
        assert_eq!(strip_share("a/b"), "a/b");
        assert_eq!(strip_share("$share/g"), "$share/g");
        assert!(is_shared("$share/g/x"));
        assert!(!is_shared("$SYS/x"));
    }

    #[test]
    fn scan_patterns_cover_every_matching_topic() {
        assert_eq!(scan_pattern("p:", "a/b/+"), "p:a/b/*");
        assert_eq!(scan_pattern("p:", "+/b"), "p:*");
        assert_eq!(scan_pattern("p:", "a?/[x]/#"), "p:a\\?/\\[x\\]/*");
        assert!(has_wildcards("a/+"));
        assert!(has_wildcards("#"));
        assert!(!has_wildcards("a/b"));
    }
}

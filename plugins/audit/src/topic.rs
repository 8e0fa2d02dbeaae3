//! MQTT topic filters, for `audit.drop_topics`: checking them when the
//! configuration is read, and matching topics against them on every publish.

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

/// Whether the topic name `topic` matches the (valid) filter `filter`.
///
/// `+` matches exactly one level (possibly empty), `#` the rest of the
/// topic including its parent level (`a/#` matches `a`). As the MQTT
/// specification requires, a topic starting with `$` is not matched by a
/// filter starting with a wildcard: `#` does not match `$SYS/uptime`, but
/// `$SYS/#` does.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut topic_levels = topic.split('/');
    loop {
        match (filter_levels.next(), topic_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(f), Some(t)) if f == t => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Whether `topic` matches any of `filters`.
pub fn matches_any(filters: &[String], topic: &str) -> bool {
    filters.iter().any(|filter| matches(filter, topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_levels_match_only_themselves() {
        assert!(matches("a/b/c", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b", "a/B"));
        assert!(matches("/a", "/a"));
        assert!(!matches("/a", "a"));
        assert!(matches("a//b", "a//b"));
    }

    #[test]
    fn plus_matches_exactly_one_level() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(matches("a/+/c", "a//c"));
        assert!(!matches("a/+/c", "a/b/x/c"));
        assert!(matches("a/+", "a/"));
        assert!(!matches("a/+", "a"));
        assert!(matches("+", "a"));
        assert!(!matches("+", "a/b"));
        assert!(matches("+/+", "/a"));
        assert!(matches("+/b/+", "x/b/y"));
    }

    #[test]
    fn hash_matches_the_rest_and_the_parent() {
        assert!(matches("#", "a"));
        assert!(matches("#", "a/b/c"));
        assert!(matches("#", "/"));
        assert!(matches("a/#", "a"));
        assert!(matches("a/#", "a/b/c"));
        assert!(!matches("a/#", "ab"));
        assert!(!matches("a/#", "b/a"));
        assert!(matches("a/+/#", "a/b"));
        assert!(!matches("a/+/#", "a"));
    }

    #[test]
    fn dollar_topics_need_a_literal_first_level() {
        assert!(!matches("#", "$SYS/uptime"));
        assert!(!matches("+/uptime", "$SYS/uptime"));
        assert!(matches("$SYS/#", "$SYS/uptime"));
        assert!(matches("$SYS/+", "$SYS/uptime"));
        // Only the first character counts: '$' further on is ordinary.
        assert!(matches("+/$x", "a/$x"));
        assert!(matches("a/#", "a/$b"));
    }

    #[test]
    fn matches_any_tries_every_filter() {
        let filters = vec!["secret/#".to_owned(), "+/private".to_owned()];
        assert!(matches_any(&filters, "secret/x"));
        assert!(matches_any(&filters, "user/private"));
        assert!(!matches_any(&filters, "user/public"));
        assert!(!matches_any(&[], "anything"));
    }

    #[test]
    fn valid_filters_pass() {
        for filter in [
            "a", "a/b", "/", "+", "#", "a/+/b", "a/#", "+/+/#", "$SYS/#", "a//b",
        ] {
            assert_eq!(validate_filter(filter), Ok(()), "{filter:?}");
        }
    }

    #[test]
    fn invalid_filters_are_refused_with_a_reason() {
        for filter in ["a/#/b", "a#", "#/a", "a/b#", "a+", "a/+b", "++", ""] {
            assert!(validate_filter(filter).is_err(), "{filter:?}");
        }
        assert!(validate_filter("a\0b").unwrap_err().contains("U+0000"));
        assert!(validate_filter(&"a".repeat(65536)).is_err());
        assert!(validate_filter("a/b#").unwrap_err().contains("'#'"));
        assert!(validate_filter("a/+b").unwrap_err().contains("'+'"));
    }
}

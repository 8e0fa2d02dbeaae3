//! `audit.drop_topics`: whether a topic matches one of the configured
//! filters, by the broker's own rules (`mqhost_plugin_api::topic`).

use mqhost_plugin_api::topic;

/// Whether `topic` matches any of `filters`.
pub fn matches_any(filters: &[String], topic: &str) -> bool {
    filters.iter().any(|filter| topic::matches(filter, topic))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_matching_filter_is_enough() {
        let filters = vec!["private/#".to_owned(), "+/secret".to_owned()];
        assert!(matches_any(&filters, "private"));
        assert!(matches_any(&filters, "private/a/b"));
        assert!(matches_any(&filters, "x/secret"));
        assert!(!matches_any(&filters, "public/secret/x"));
        assert!(!matches_any(&filters, "$SYS/secret"));
        assert!(!matches_any(&[], "anything"));
    }
}

//! MQTT topic names and topic filters: validation, shared-subscription
//! parsing and the reference matching rule.
//!
//! [`matches()`] is the definition of matching: the broker's subscription
//! and retained trees are tested against it, and plugins use it for their
//! own topic rules. It is simple rather than fast.

use std::fmt;

/// Longest topic name or filter, in bytes, that MQTT can encode.
pub const MAX_TOPIC_LEN: usize = 65535;

/// Prefix that marks a shared subscription filter (`$share/{group}/{filter}`).
const SHARE_PREFIX: &str = "$share/";

/// Why a topic name, topic filter or shared subscription was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicError {
    /// The topic name or filter is the empty string.
    Empty,
    /// The topic name or filter is longer than [`MAX_TOPIC_LEN`] bytes.
    TooLong,
    /// The topic name or filter contains U+0000.
    NullCharacter,
    /// A topic name contains `+` or `#`.
    WildcardInTopicName,
    /// A filter contains `#` other than as its whole last level.
    MisplacedMultiLevelWildcard,
    /// A filter contains `+` other than as a whole level.
    MisplacedSingleLevelWildcard,
    /// A shared subscription's group name is empty or contains `/`, `+` or `#`.
    InvalidShareGroup,
    /// A shared subscription has no topic filter after its group name.
    MissingShareFilter,
}

impl fmt::Display for TopicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = match self {
            TopicError::Empty => "a topic name or filter must not be empty",
            TopicError::TooLong => "a topic name or filter must not exceed 65535 bytes",
            TopicError::NullCharacter => {
                "a topic name or filter must not contain the null character U+0000"
            }
            TopicError::WildcardInTopicName => {
                "a topic name must not contain the wildcard characters '+' or '#'"
            }
            TopicError::MisplacedMultiLevelWildcard => {
                "the wildcard '#' is only allowed as the whole last level of a topic filter"
            }
            TopicError::MisplacedSingleLevelWildcard => {
                "the wildcard '+' is only allowed as a whole level of a topic filter"
            }
            TopicError::InvalidShareGroup => {
                "a shared subscription group name must be non-empty and must not contain '/', '+' or '#'"
            }
            TopicError::MissingShareFilter => {
                "a shared subscription must have a non-empty topic filter after its group name"
            }
        };
        f.write_str(msg)
    }
}

impl std::error::Error for TopicError {}

/// Checks the length and character rules common to topic names and filters.
fn validate_common(s: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(TopicError::Empty);
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(TopicError::TooLong);
    }
    if s.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    Ok(())
}

/// Succeeds iff `name` may be used as the topic of a PUBLISH: non-empty, at
/// most 65535 bytes, no U+0000 and no wildcard characters.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    validate_common(name)?;
    if name.contains(['+', '#']) {
        return Err(TopicError::WildcardInTopicName);
    }
    Ok(())
}

/// Succeeds iff `filter` is a well-formed topic filter: non-empty, at most
/// 65535 bytes, no U+0000, `+` only as a whole level and `#` only as the
/// whole last level.
///
/// A `$share/...` string is checked as an ordinary filter here; call
/// [`parse_shared`] first to treat it as a shared subscription.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    validate_common(filter)?;
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        if level.contains('#') && (level != "#" || levels.peek().is_some()) {
            return Err(TopicError::MisplacedMultiLevelWildcard);
        }
        if level.contains('+') && level != "+" {
            return Err(TopicError::MisplacedSingleLevelWildcard);
        }
    }
    Ok(())
}

/// A shared subscription filter `$share/{group}/{filter}` split into its parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The share group name: non-empty, without `/`, `+` or `#`.
    pub group: &'a str,
    /// The topic filter the group subscribes to; always a valid filter.
    pub filter: &'a str,
}

/// Recognises a shared subscription: `Ok(None)` if `filter` does not start
/// with `$share/`, `Ok(Some(..))` with a valid group and a valid inner filter,
/// or an error if it starts with `$share/` but is malformed.
pub fn parse_shared(filter: &str) -> Result<Option<SharedFilter<'_>>, TopicError> {
    let Some(rest) = filter.strip_prefix(SHARE_PREFIX) else {
        return Ok(None);
    };
    // Length and U+0000 apply to the filter as sent, group included.
    validate_common(filter)?;
    let (group, inner) = match rest.split_once('/') {
        Some((group, inner)) => (group, inner),
        // "$share/group": there is no filter at all; an empty group is still
        // reported as the more basic problem.
        None if rest.is_empty() => return Err(TopicError::InvalidShareGroup),
        None => return Err(TopicError::MissingShareFilter),
    };
    // The group cannot contain '/' because we split at the first one.
    if group.is_empty() || group.contains(['+', '#']) {
        return Err(TopicError::InvalidShareGroup);
    }
    if inner.is_empty() {
        return Err(TopicError::MissingShareFilter);
    }
    validate_filter(inner)?;
    Ok(Some(SharedFilter {
        group,
        filter: inner,
    }))
}

/// The filter without a `$share/{group}/` prefix: the topics a shared
/// subscription is about. Any other string comes back whole.
///
/// Lenient where [`parse_shared`] is strict: it checks neither the group
/// nor the rest, so it suits filters the broker has already accepted.
///
/// ```
/// use mqhost_plugin_api::topic::strip_share;
///
/// assert_eq!(strip_share("$share/workers/jobs/#"), "jobs/#");
/// assert_eq!(strip_share("jobs/#"), "jobs/#");
/// assert_eq!(strip_share("$share/workers"), "$share/workers");
/// ```
pub fn strip_share(filter: &str) -> &str {
    filter
        .strip_prefix(SHARE_PREFIX)
        .and_then(|rest| rest.split_once('/'))
        .map_or(filter, |(_, inner)| inner)
}

/// Whether `filter` has a `$share/{group}/` prefix, as [`strip_share`]
/// sees it.
///
/// ```
/// use mqhost_plugin_api::topic::is_shared;
///
/// assert!(is_shared("$share/workers/jobs/#"));
/// assert!(!is_shared("$SYS/uptime"));
/// ```
pub fn is_shared(filter: &str) -> bool {
    strip_share(filter).len() != filter.len()
}

/// Whether `filter` has a `+` or `#` level, so that it can match more than
/// the one topic name spelled like it.
///
/// ```
/// use mqhost_plugin_api::topic::has_wildcards;
///
/// assert!(has_wildcards("sensors/+/temp"));
/// assert!(has_wildcards("#"));
/// assert!(!has_wildcards("sensors/kitchen/temp"));
/// ```
pub fn has_wildcards(filter: &str) -> bool {
    filter.split('/').any(is_wildcard_level)
}

/// Whether one level of a filter (text between `/`) is a wildcard, `+` or
/// `#`: in a valid filter no other level holds one.
///
/// ```
/// use mqhost_plugin_api::topic::is_wildcard_level;
///
/// let literal: Vec<&str> = "sensors/+/temp".split('/').take_while(|l| !is_wildcard_level(l)).collect();
/// assert_eq!(literal, ["sensors"]);
/// ```
pub fn is_wildcard_level(level: &str) -> bool {
    level == "+" || level == "#"
}

/// True iff the topic filter `filter` matches the topic name `name` under the
/// MQTT rules: `+` matches exactly one level, a trailing `#` matches zero or
/// more levels (so `a/#` matches `a`), empty levels are levels, and a name
/// starting with `$` is not matched by a filter whose first level is a
/// wildcard.
///
/// `name` is taken literally, so a subscription filter can stand in for it
/// (EMQX's `emqx_topic:match(Filter, RuleTopic)`): its `+` and `#` are plain
/// levels, which the filter's wildcards match and its literal levels do not.
///
/// ```
/// use mqhost_plugin_api::topic::matches;
///
/// assert!(matches("sensors/+/temp", "sensors/kitchen/temp"));
/// assert!(matches("queue/#", "queue/#"));
/// assert!(!matches("queue/a", "queue/#"));
/// ```
///
/// Both arguments are expected to be valid; for invalid input the result is
/// unspecified, but the function does not panic.
pub fn matches(filter: &str, name: &str) -> bool {
    let dollar = name.starts_with('$');
    // The filter of rules that want every message: no level to compare.
    if filter == "#" {
        return !dollar;
    }
    let mut filter_levels = filter.split('/');
    let mut name_levels = name.split('/');
    let mut first = true;
    loop {
        match (filter_levels.next(), name_levels.next()) {
            (Some("#"), _) => return !(first && dollar),
            (Some("+"), Some(_)) if !(first && dollar) => {}
            (Some(f), Some(n)) if f == n => {}
            (None, None) => return true,
            _ => return false,
        }
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_topic_names_are_valid() {
        for name in [
            "a",
            "a/b",
            "/",
            "a//b",
            "/a",
            "a/",
            "$SYS/x",
            "a/$x",
            "ü/日本",
            " ",
        ] {
            assert_eq!(validate_topic_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn empty_topic_name_is_rejected() {
        assert_eq!(validate_topic_name(""), Err(TopicError::Empty));
    }

    #[test]
    fn wildcards_are_rejected_in_topic_names() {
        for name in ["+", "#", "a/+", "a/#", "a+b", "sport#"] {
            assert_eq!(
                validate_topic_name(name),
                Err(TopicError::WildcardInTopicName),
                "{name:?}"
            );
        }
    }

    #[test]
    fn null_character_is_rejected_in_names_and_filters() {
        assert_eq!(validate_topic_name("a\0b"), Err(TopicError::NullCharacter));
        assert_eq!(validate_filter("a/\0"), Err(TopicError::NullCharacter));
        assert_eq!(parse_shared("$share/g\0/a"), Err(TopicError::NullCharacter));
    }

    #[test]
    fn topic_length_limit_is_65535_bytes() {
        let longest = "a".repeat(MAX_TOPIC_LEN);
        assert_eq!(validate_topic_name(&longest), Ok(()));
        assert_eq!(validate_filter(&longest), Ok(()));
        let too_long = "a".repeat(MAX_TOPIC_LEN + 1);
        assert_eq!(validate_topic_name(&too_long), Err(TopicError::TooLong));
        assert_eq!(validate_filter(&too_long), Err(TopicError::TooLong));
        // The limit counts bytes, not characters: 'é' is two bytes.
        let multibyte = "é".repeat(MAX_TOPIC_LEN / 2 + 1);
        assert_eq!(validate_topic_name(&multibyte), Err(TopicError::TooLong));
    }

    #[test]
    fn well_formed_filters_are_valid() {
        for filter in [
            "#", "+", "a", "a/b", "a/+", "a/#", "+/+", "+/#", "/#", "a/+/b", "//", "a//#",
            "$SYS/#", "$share",
        ] {
            assert_eq!(validate_filter(filter), Ok(()), "{filter:?}");
        }
    }

    #[test]
    fn empty_filter_is_rejected() {
        assert_eq!(validate_filter(""), Err(TopicError::Empty));
    }

    #[test]
    fn hash_must_be_the_whole_last_level() {
        for filter in ["a/#/b", "#/a", "a#", "#a", "a/b#", "##", "a/#/"] {
            assert_eq!(
                validate_filter(filter),
                Err(TopicError::MisplacedMultiLevelWildcard),
                "{filter:?}"
            );
        }
    }

    #[test]
    fn plus_must_be_a_whole_level() {
        for filter in ["a+", "+a", "a/+b/c", "++", "a/b+"] {
            assert_eq!(
                validate_filter(filter),
                Err(TopicError::MisplacedSingleLevelWildcard),
                "{filter:?}"
            );
        }
    }

    #[test]
    fn non_shared_filters_parse_as_none() {
        for filter in [
            "a/b",
            "$share",
            "$sharex/g/a",
            "$SYS/#",
            "share/g/a",
            "$Share/g/a",
        ] {
            assert_eq!(parse_shared(filter), Ok(None), "{filter:?}");
        }
    }

    #[test]
    fn shared_filter_splits_into_group_and_filter() {
        assert_eq!(
            parse_shared("$share/workers/jobs/+/new"),
            Ok(Some(SharedFilter {
                group: "workers",
                filter: "jobs/+/new"
            }))
        );
        assert_eq!(
            parse_shared("$share/g/#"),
            Ok(Some(SharedFilter {
                group: "g",
                filter: "#"
            }))
        );
        // The inner filter may itself start with '/' or '$'.
        assert_eq!(
            parse_shared("$share/g//a"),
            Ok(Some(SharedFilter {
                group: "g",
                filter: "/a"
            }))
        );
        assert_eq!(
            parse_shared("$share/g/$SYS/x"),
            Ok(Some(SharedFilter {
                group: "g",
                filter: "$SYS/x"
            }))
        );
    }

    #[test]
    fn shared_filter_without_inner_filter_is_rejected() {
        assert_eq!(
            parse_shared("$share/group"),
            Err(TopicError::MissingShareFilter)
        );
        assert_eq!(
            parse_shared("$share/group/"),
            Err(TopicError::MissingShareFilter)
        );
    }

    #[test]
    fn shared_filter_with_bad_group_is_rejected() {
        for filter in [
            "$share//x",
            "$share/",
            "$share/+/x",
            "$share/#/x",
            "$share/g+/x",
        ] {
            assert_eq!(
                parse_shared(filter),
                Err(TopicError::InvalidShareGroup),
                "{filter:?}"
            );
        }
    }

    #[test]
    fn shared_filter_with_bad_inner_filter_is_rejected() {
        assert_eq!(
            parse_shared("$share/g/a/#/b"),
            Err(TopicError::MisplacedMultiLevelWildcard)
        );
        assert_eq!(
            parse_shared("$share/g/a+"),
            Err(TopicError::MisplacedSingleLevelWildcard)
        );
    }

    #[test]
    fn literal_filter_matches_only_the_identical_name() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/B"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b", "a"));
        assert!(!matches("a/b", "a/bc"));
    }

    #[test]
    fn plus_matches_exactly_one_level() {
        assert!(matches("a/+", "a/b"));
        assert!(matches("a/+", "a/"));
        assert!(!matches("a/+", "a"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("+/+", "/"));
        assert!(matches("+", "a"));
        assert!(!matches("+", "/a"));
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d"));
    }

    #[test]
    fn hash_matches_parent_level() {
        assert!(matches("a/#", "a"));
        assert!(matches("a/b/#", "a/b"));
        assert!(!matches("a/b/#", "a"));
    }

    #[test]
    fn hash_matches_any_number_of_trailing_levels() {
        assert!(matches("a/#", "a/b"));
        assert!(matches("a/#", "a/b/c/d"));
        assert!(matches("a/#", "a/"));
        assert!(matches("#", "a"));
        assert!(matches("#", "/"));
        assert!(matches("#", "a/b/c"));
        assert!(matches("+/#", "a"));
        assert!(!matches("a/#", "b/a"));
    }

    #[test]
    fn empty_levels_are_levels() {
        assert!(matches("a//b", "a//b"));
        assert!(!matches("a/b", "a//b"));
        assert!(matches("a/+/b", "a//b"));
        assert!(matches("/+", "/a"));
        assert!(!matches("+", "/a"));
        assert!(matches("+/+", "/a"));
        assert!(matches("a/+", "a/"));
    }

    #[test]
    fn dollar_topics_not_matched_by_leading_wildcard() {
        assert!(!matches("#", "$SYS/x"));
        assert!(!matches("+/x", "$SYS/x"));
        assert!(!matches("+", "$x"));
        assert!(!matches("+/#", "$SYS"));
    }

    #[test]
    fn dollar_topics_matched_by_explicit_first_level() {
        assert!(matches("$SYS/#", "$SYS/x"));
        assert!(matches("$SYS/#", "$SYS"));
        assert!(matches("$SYS/+", "$SYS/x"));
        assert!(matches("$x", "$x"));
    }

    #[test]
    fn dollar_in_a_later_level_is_ordinary() {
        assert!(matches("a/+", "a/$x"));
        assert!(matches("a/#", "a/$x/y"));
        assert!(matches("#", "a/$x"));
    }

    #[test]
    fn subscription_filters_are_matched_literally() {
        // A rule filter against a subscription filter, as EMQX's Redis
        // backend matches them: "queue/#" covers subscriptions under queue/.
        assert!(matches("queue/#", "queue/#"));
        assert!(matches("queue/#", "queue/a"));
        assert!(matches("queue/#", "queue/+"));
        assert!(!matches("queue/#", "pubsub/a"));
        // A literal '#' level is not matched by a literal rule level.
        assert!(!matches("queue/a", "queue/#"));
        assert!(matches("queue/+", "queue/#"));
        assert!(matches("#", "#"));
        assert!(!matches("$SYS/a", "+/a"));
    }

    #[test]
    fn share_prefix_is_stripped() {
        assert_eq!(strip_share("$share/g/a/b"), "a/b");
        assert_eq!(strip_share("$share/g/#"), "#");
        assert_eq!(strip_share("a/b"), "a/b");
        assert_eq!(strip_share("$share/g"), "$share/g");
        assert_eq!(strip_share("$sharex/g/a"), "$sharex/g/a");
        assert!(is_shared("$share/g/x"));
        assert!(!is_shared("$share/g"));
        assert!(!is_shared("$SYS/x"));
    }

    #[test]
    fn wildcards_are_whole_levels() {
        assert!(has_wildcards("a/+"));
        assert!(has_wildcards("+/b"));
        assert!(has_wildcards("#"));
        assert!(has_wildcards("a//#"));
        assert!(!has_wildcards("a/b"));
        assert!(!has_wildcards("/"));
    }

    #[test]
    fn errors_display_as_one_sentence() {
        let all = [
            TopicError::Empty,
            TopicError::TooLong,
            TopicError::NullCharacter,
            TopicError::WildcardInTopicName,
            TopicError::MisplacedMultiLevelWildcard,
            TopicError::MisplacedSingleLevelWildcard,
            TopicError::InvalidShareGroup,
            TopicError::MissingShareFilter,
        ];
        for err in all {
            let text = err.to_string();
            assert!(!text.is_empty() && !text.contains('\n'), "{err:?}");
        }
    }
}

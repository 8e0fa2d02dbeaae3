use super::*;

use Access::{Publish, Subscribe};

const ALICE: Client<'static> = Client {
    client_id: "dev-1",
    username: Some("alice"),
    cert_common_name: None,
    cert_subject: None,
};

fn rules(pairs: &[(&str, &str)]) -> AclRules {
    rules_for(pairs, &ALICE)
}

fn rules_for(pairs: &[(&str, &str)], client: &Client<'_>) -> AclRules {
    AclRules::parse(
        pairs.iter().map(|(f, v)| (f.as_bytes(), v.as_bytes())),
        client,
    )
}

#[test]
fn emqx_4_values_are_bits() {
    let acl = rules(&[("s", "1"), ("p", "2"), ("b", "3"), ("none", "0")]);
    assert!(acl.allows(Subscribe, "s", 0, false));
    assert!(!acl.allows(Publish, "s", 0, false));
    assert!(acl.allows(Publish, "p", 2, true));
    assert!(!acl.allows(Subscribe, "p", 0, false));
    assert!(acl.allows(Subscribe, "b", 2, false));
    assert!(acl.allows(Publish, "b", 1, true));
    assert!(!acl.allows(Subscribe, "none", 0, false));
    assert!(!acl.allows(Publish, "none", 0, false));
    assert_eq!((acl.len(), acl.bad()), (3, 0));
    // As Erlang's list_to_integer and band read them.
    let acl = rules(&[("a", "+1"), ("b", "-1"), ("c", "0002"), ("d", "7")]);
    assert!(acl.allows(Subscribe, "a", 0, false));
    assert!(acl.allows(Subscribe, "b", 0, false) && acl.allows(Publish, "b", 0, false));
    assert!(acl.allows(Publish, "c", 0, false) && !acl.allows(Subscribe, "c", 0, false));
    assert!(acl.allows(Subscribe, "d", 0, false) && acl.allows(Publish, "d", 0, false));
}

#[test]
fn emqx_5_words_name_the_action() {
    let acl = rules(&[("s", "subscribe"), ("p", "publish"), ("b", "all")]);
    assert!(acl.allows(Subscribe, "s", 2, false));
    assert!(!acl.allows(Publish, "s", 0, false));
    assert!(acl.allows(Publish, "p", 2, true));
    assert!(!acl.allows(Subscribe, "p", 0, false));
    assert!(acl.allows(Subscribe, "b", 1, false));
    assert!(acl.allows(Publish, "b", 1, false));
}

#[test]
fn json_rules_limit_qos_and_retain() {
    let acl = rules(&[
        ("q", r#"{"action": "subscribe", "qos": [0, 1]}"#),
        ("r", r#"{"action": "publish", "retain": false}"#),
        ("s", r#"{"action": "all", "qos": "1,2", "retain": "true"}"#),
        ("t", r#"{"action": "pub", "qos": 2, "retain": 1}"#),
        (
            "u",
            r#"{"action": "sub", "qos": ["0"], "retain": true, "note": "x"}"#,
        ),
        ("v", r#"{"action": "all", "qos": null, "retain": "all"}"#),
    ]);
    assert_eq!((acl.len(), acl.bad()), (6, 0));
    // A QoS outside the list is refused, not downgraded.
    assert!(acl.allows(Subscribe, "q", 1, false));
    assert!(!acl.allows(Subscribe, "q", 2, false));
    assert!(!acl.allows(Publish, "q", 0, false));
    assert!(acl.allows(Publish, "r", 2, false));
    assert!(!acl.allows(Publish, "r", 2, true));
    assert!(acl.allows(Publish, "s", 1, true));
    assert!(!acl.allows(Publish, "s", 1, false));
    assert!(!acl.allows(Publish, "s", 0, true));
    // Retain is a publish condition: subscribing ignores it.
    assert!(acl.allows(Subscribe, "s", 2, false));
    assert!(acl.allows(Publish, "t", 2, true));
    assert!(!acl.allows(Publish, "t", 1, true));
    assert!(acl.allows(Subscribe, "u", 0, false));
    assert!(!acl.allows(Subscribe, "u", 1, false));
    for qos in 0..=2 {
        for retain in [false, true] {
            assert!(acl.allows(Publish, "v", qos, retain));
        }
    }
    assert!(!acl.allows(Subscribe, "v", 3, false));
}

#[test]
fn a_json_rule_that_is_not_an_allow_is_skipped() {
    // EMQX 5 drops "permission" and allows; here such a rule grants nothing.
    let acl = rules(&[
        ("d", r#"{"action": "all", "permission": "deny"}"#),
        ("n", r#"{"action": "all", "permission": null}"#),
        ("a", r#"{"action": "all", "permission": "allow"}"#),
    ]);
    assert_eq!((acl.len(), acl.bad()), (1, 2));
    assert!(!acl.allows(Publish, "d", 0, false));
    assert!(!acl.allows(Publish, "n", 0, false));
    assert!(acl.allows(Publish, "a", 0, false));
}

#[test]
fn bad_fields_and_values_are_skipped_and_counted() {
    let long = format!(
        r#"{{"action": "all", "x": "{}"}}"#,
        "y".repeat(MAX_VALUE_LEN)
    );
    let acl = rules(&[
        ("a/#/b", "3"),
        ("", "3"),
        ("v1", "read"),
        ("v2", "Publish"),
        ("v3", " 1"),
        ("v4", "99999999999999999999999"),
        ("v5", r#"{"qos": 1}"#),
        ("v6", r#"{"action": "both"}"#),
        ("v7", r#"{"action": "all", "qos": 3}"#),
        ("v8", r#"{"action": "all", "qos": "0, 1"}"#),
        ("v9", r#"{"action": "all", "qos": [0, "x"]}"#),
        ("v10", r#"{"action": "all", "retain": "yes"}"#),
        ("v11", r#"{"action": "all", "retain": 2}"#),
        ("v12", r#"["all"]"#),
        ("v13", r#""all""#),
        ("v14", "{"),
        ("v15", &long),
        ("t/${user}", "3"),
        ("t/${username", "3"),
        ("ok", "3"),
    ]);
    assert_eq!((acl.len(), acl.bad()), (1, 19));
    assert!(acl.allows(Publish, "ok", 0, false));
    // Not UTF-8.
    let acl = AclRules::parse(
        [(&b"a\xff"[..], &b"3"[..]), (b"b", b"\xff"), (b"c", b"1")],
        &ALICE,
    );
    assert_eq!((acl.len(), acl.bad()), (1, 2));
}

#[test]
fn flat_replies_pair_fields_with_values() {
    let acl = AclRules::parse_flat(&["a/#", "1", "b", "2", "dangling"], &ALICE);
    assert_eq!((acl.len(), acl.bad()), (2, 1));
    assert!(acl.allows(Subscribe, "a/x", 0, false));
    assert!(acl.allows(Publish, "b", 0, false));
    let empty: [&[u8]; 0] = [];
    assert!(AclRules::parse_flat(&empty, &ALICE).is_empty());
}

#[test]
fn placeholders_fill_in_the_client() {
    let acl = rules(&[
        ("u/%u/#", "3"),
        ("c/%c", "2"),
        ("e5/${username}/${clientid}", "1"),
        ("mixed/%u-%c", "2"),
    ]);
    assert!(acl.allows(Publish, "u/alice/x/y", 0, false));
    assert!(acl.allows(Subscribe, "u/alice/#", 0, false));
    assert!(!acl.allows(Publish, "u/bob/x", 0, false));
    assert!(acl.allows(Publish, "c/dev-1", 0, false));
    assert!(!acl.allows(Publish, "c/%c", 0, false));
    assert!(acl.allows(Subscribe, "e5/alice/dev-1", 0, false));
    assert!(acl.allows(Publish, "mixed/alice-dev-1", 0, false));
}

#[test]
fn rules_with_a_missing_or_widening_value_do_not_apply() {
    let pairs = [
        ("u/%u/#", "3"),
        ("c/%c/#", "3"),
        ("%c/#", "3"),
        ("open", "3"),
    ];
    let anonymous = Client {
        username: None,
        ..ALICE
    };
    let acl = rules_for(&pairs, &anonymous);
    assert_eq!((acl.len(), acl.not_applicable()), (3, 1));
    // EMQX 4 left "%u" in the filter; here the rule is gone.
    assert!(!acl.allows(Publish, "u/%u/x", 0, false));
    assert!(acl.allows(Publish, "c/dev-1/x", 0, false));

    // CVE-2017-7650: a "+" or "#" in a value would match everyone's topics.
    for (username, client_id) in [
        ("+", "+"),
        ("a+b", "dev-1"),
        ("alice", "#"),
        ("alice", "x/+"),
    ] {
        let client = Client {
            username: Some(username),
            client_id,
            ..ALICE
        };
        let acl = rules_for(&pairs, &client);
        assert!(
            !acl.allows(Publish, "u/bob/x", 0, false),
            "{username} {client_id}"
        );
        assert!(
            !acl.allows(Publish, "c/other/x", 0, false),
            "{username} {client_id}"
        );
        // Rules without that placeholder still apply.
        assert!(acl.allows(Publish, "open", 0, false));
        assert_eq!(acl.bad(), 0, "{username} {client_id}");
    }
    let client = Client {
        username: Some("a+b"),
        ..ALICE
    };
    assert!(rules_for(&pairs, &client).allows(Publish, "c/dev-1/x", 0, false));

    // A client id cannot carry "%c/#" into the $ topics...
    let sys = Client {
        client_id: "$SYS",
        ..ALICE
    };
    let acl = rules_for(&pairs, &sys);
    assert!(!acl.allows(Subscribe, "$SYS/#", 0, false));
    assert!(acl.allows(Subscribe, "c/$SYS/#", 0, false));
    // ...but a rule written for them keeps its values.
    let acl = rules(&[("$SYS/clients/%c/#", "1"), ("${clientid}", "1")]);
    assert!(acl.allows(Subscribe, "$SYS/clients/dev-1/x", 0, false));
    assert!(acl.allows(Subscribe, "dev-1", 0, false));

    // A "/" spans levels, as in EMQX.
    let slash = Client {
        client_id: "a/b",
        ..ALICE
    };
    assert!(rules_for(&pairs, &slash).allows(Publish, "c/a/b/x", 0, false));
}

#[test]
fn eq_rules_compare_text() {
    let acl = rules(&[("eq a/+", "1"), ("eq u/%u", "2"), ("eq", "3")]);
    assert!(acl.allows(Subscribe, "a/+", 0, false));
    assert!(!acl.allows(Subscribe, "a/b", 0, false));
    assert!(acl.allows(Publish, "u/%u", 0, false));
    assert!(!acl.allows(Publish, "u/alice", 0, false));
    // "eq" alone is an ordinary filter.
    assert!(acl.allows(Publish, "eq", 0, false));
}

#[test]
fn subscriptions_match_filter_against_filter() {
    let acl = rules(&[("a/#", "1"), ("b/+", "1"), ("c/x", "1")]);
    assert!(acl.allows(Subscribe, "a/#", 0, false));
    assert!(acl.allows(Subscribe, "a/+/c", 0, false));
    assert!(acl.allows(Subscribe, "b/x", 0, false));
    assert!(acl.allows(Subscribe, "b/+", 0, false));
    // A narrower rule does not allow a wider subscription: "b/#" would
    // receive "b/x/y" too (EMQX allows it, its "+" matching "#").
    assert!(!acl.allows(Subscribe, "b/#", 0, false));
    assert!(!acl.allows(Subscribe, "c/+", 0, false));
    assert!(!acl.allows(Subscribe, "c/#", 0, false));
    // "a/#" is covered by "a/#" and "#" but not by "a/+/#", which does not
    // match "a" itself.
    let acl = rules(&[("x/+/#", "1"), ("y/#", "1"), ("#", "2")]);
    assert!(!acl.allows(Subscribe, "x/#", 0, false));
    assert!(acl.allows(Subscribe, "x/a/#", 0, false));
    assert!(acl.allows(Subscribe, "x/+/#", 0, false));
    assert!(acl.allows(Subscribe, "x/+/b/#", 0, false));
    assert!(acl.allows(Subscribe, "y/#", 0, false));
    assert!(acl.allows(Subscribe, "y/+/#", 0, false));
    let all = rules(&[("#", "1")]);
    assert!(all.allows(Subscribe, "#", 0, false));
    assert!(all.allows(Subscribe, "+/#", 0, false));
    // "$" topics need a rule that names them.
    let acl = rules(&[("#", "3")]);
    assert!(!acl.allows(Subscribe, "$SYS/#", 0, false));
    assert!(!acl.allows(Publish, "$SYS/x", 0, false));
    assert!(acl.allows(Publish, "x", 0, false));
}

#[test]
fn shared_subscriptions_are_checked_without_their_group() {
    let acl = rules(&[("jobs/#", "3")]);
    assert!(acl.allows(Subscribe, "$share/workers/jobs/#", 1, false));
    assert!(!acl.allows(Subscribe, "$share/workers/other", 1, false));
    // Publishing to a "$share/..." topic is not a subscription.
    assert!(!acl.allows(Publish, "$share/workers/jobs/x", 0, false));
    let acl = rules(&[("$share/workers/jobs/#", "3")]);
    assert!(!acl.allows(Subscribe, "$share/workers/jobs/#", 0, false));
}

#[test]
fn nothing_allowed_is_false() {
    let acl = AclRules::default();
    assert!(acl.is_empty());
    assert!(!acl.allows(Subscribe, "a", 0, false));
    let acl = rules(&[("a", "3")]);
    assert!(!acl.allows(Publish, "b", 0, false));
    assert!(!acl.allows(Publish, "a", 3, false));
}

#[test]
fn only_the_first_rules_of_a_huge_reply_are_read() {
    let fields: Vec<String> = (0..MAX_RULES + 500).map(|i| format!("t/{i}")).collect();
    let acl = AclRules::parse(fields.iter().map(|f| (f.as_bytes(), &b"3"[..])), &ALICE);
    assert_eq!(
        (acl.len(), acl.over_limit(), acl.bad()),
        (MAX_RULES, 500, 0)
    );
    assert!(acl.allows(Publish, &format!("t/{}", MAX_RULES - 1), 0, false));
    assert!(!acl.allows(Publish, &format!("t/{MAX_RULES}"), 0, false));
}

use super::*;

/// A setting, a password, the value stored for it and the salt field.
type Vector = (
    &'static str,
    &'static [u8],
    &'static [u8],
    Option<&'static [u8]>,
);

// VECTORS and BCRYPT_VECTORS: made by Python's hashlib, openssl and the
// Python bcrypt package (see testdata/make_hash_vectors.py).
include!("hash_vectors.rs");

fn scheme(setting: &str) -> PasswordHash {
    setting.parse().unwrap_or_else(|e| panic!("{setting}: {e}"))
}

#[test]
fn independent_digest_and_pbkdf2_vectors_verify() {
    for &(setting, password, stored, salt) in VECTORS {
        let hash = scheme(setting);
        let case = format!("{setting} {password:?} {salt:?}");
        assert_eq!(hash.verify(password, stored, salt), Ok(true), "{case}");
        let mut wrong = password.to_vec();
        wrong.push(b'!');
        assert_eq!(hash.verify(&wrong, stored, salt), Ok(false), "{case}");
        // Hex digests match in either case.
        let upper = stored.to_ascii_uppercase();
        assert_eq!(hash.verify(password, &upper, salt), Ok(true), "{case}");
        // A different salt is a different hash.
        if hash.uses_salt() {
            let other = [salt.unwrap_or_default(), b"x"].concat();
            assert_eq!(
                hash.verify(password, stored, Some(&other)),
                Ok(false),
                "{case}"
            );
        }
    }
}

#[test]
fn independent_bcrypt_vectors_verify() {
    for &(setting, password, stored, salt) in BCRYPT_VECTORS {
        let hash = scheme(setting);
        let case = format!("{setting} {password:?} {}", String::from_utf8_lossy(stored));
        assert_eq!(hash.verify(password, stored, salt), Ok(true), "{case}");
        let wrong = [password, b"!"].concat();
        // Past 72 bytes bcrypt ignores the rest, so "!" changes nothing.
        let expected = password.len() >= 72;
        assert_eq!(hash.verify(&wrong, stored, salt), Ok(expected), "{case}");
        assert_eq!(hash.verify(b"other", stored, salt), Ok(false), "{case}");
    }
}

#[test]
fn examples_from_the_emqx_documentation_verify() {
    // EMQX's Redis authentication pages: user emqx_u, password public,
    // salt slat_foo123, sha256 with the salt as suffix; user123, secret,
    // salt "salt" as prefix.
    let stored = b"44edc2d57cde8d79c98145003e105b90a14f1460b79186ea9cfe83942fc5abb5";
    assert_eq!(
        scheme("sha256,salt").verify(b"public", stored, Some(b"slat_foo123")),
        Ok(true)
    );
    let stored = b"bede90386d450cea8b77b822f8887065e4e5abf132c2f9dccfcc7fbd4cba5e35";
    assert_eq!(
        scheme("salt,sha256").verify(b"secret", stored, Some(b"salt")),
        Ok(true)
    );
}

#[test]
fn plain_compares_bytes_exactly() {
    let plain = scheme("plain");
    assert_eq!(plain.verify(b"Secret", b"Secret", None), Ok(true));
    assert_eq!(plain.verify(b"secret", b"Secret", None), Ok(false));
    assert_eq!(plain.verify(b"Secret", b"Secret ", None), Ok(false));
    assert_eq!(plain.verify(b"", b"", None), Ok(true));
    assert_eq!(plain.verify(b"", b"x", None), Ok(false));
    // Salted plain: the stored value is the concatenation.
    assert_eq!(
        scheme("salt,plain").verify(b"pw", b"s1pw", Some(b"s1")),
        Ok(true)
    );
    assert_eq!(
        scheme("plain,salt").verify(b"pw", b"pws1", Some(b"s1")),
        Ok(true)
    );
    assert_eq!(
        scheme("plain,salt").verify(b"pw", b"s1pw", Some(b"s1")),
        Ok(false)
    );
}

#[test]
fn a_missing_salt_is_empty_and_an_unneeded_one_is_not_used() {
    // sha256("public")
    let unsalted = b"efa1f375d76194fa51a3556a97e641e61685f914d446979da50a551a4333ffd7";
    assert_eq!(
        scheme("salt,sha256").verify(b"public", unsalted, None),
        Ok(true)
    );
    assert_eq!(
        scheme("sha256").verify(b"public", unsalted, Some(b"pepper")),
        Ok(true)
    );
}

#[test]
fn bcrypt_reads_the_password_up_to_its_first_nul() {
    // As EMQX's C bcrypt does with the password it copies into a string.
    let (_, password, stored, _) = BCRYPT_VECTORS[0];
    assert_eq!(password, b"public");
    let hash = scheme("bcrypt");
    assert_eq!(hash.verify(b"public\0anything", stored, None), Ok(true));
    assert_eq!(hash.verify(b"pub\0lic", stored, None), Ok(false));
}

#[test]
fn bcrypt_with_a_salt_field_hashes_with_that_salt() {
    let (_, password, stored, _) = BCRYPT_VECTORS[0];
    let salted = scheme("salt,bcrypt");
    let own_salt = &stored[..29];
    assert_eq!(salted.verify(password, stored, Some(own_salt)), Ok(true));
    // The whole hash serves as a salt, as in C.
    assert_eq!(salted.verify(password, stored, Some(stored)), Ok(true));
    // Another valid salt gives another hash: no match.
    let other = b"$2b$04$CCCCCCCCCCCCCCCCCCCCC.";
    assert_eq!(salted.verify(password, stored, Some(other)), Ok(false));
    // No salt field: the stored hash's own.
    assert_eq!(salted.verify(password, stored, None), Ok(true));
}

#[test]
fn unusable_bcrypt_values_are_errors_not_matches() {
    let bare = scheme("bcrypt");
    let salted = scheme("bcrypt,salt");
    for stored in [
        &b""[..],
        b"public",
        b"$2b$04$short",
        b"$2z$04$Ek4uQ9fDvdNf1VHCCkRHGOabcdefghijklmnopqrstuvwxyz01234",
        b"$2b$03$Ek4uQ9fDvdNf1VHCCkRHGOabcdefghijklmnopqrstuvwxyz01234",
        b"$2b$32$Ek4uQ9fDvdNf1VHCCkRHGOabcdefghijklmnopqrstuvwxyz01234",
        b"$2b$4$Ek4uQ9fDvdNf1VHCCkRHGOabcdefghijklmnopqrstuvwxyz012345",
        b"$2b$04$Ek4uQ9fDvdNf1VHCCkRH!Oabcdefghijklmnopqrstuvwxyz01234",
        b"$2$04$Ek4uQ9fDvdNf1VHCCkRHGOabcdefghijklmnopqrstuvwxyz012345",
    ] {
        let case = String::from_utf8_lossy(stored);
        assert_eq!(
            bare.verify(b"public", stored, None),
            Err(Unusable::BadBcryptHash),
            "{case}"
        );
    }
    // A salt field that is not a bcrypt salt never matches, even an empty
    // stored password (EMQX 4 hashes it to "" and lets that one in).
    for salt in [&b""[..], b"salt_foo123", b"$2b$04$Ek4uQ9fDvdNf1VHCCkR"] {
        assert_eq!(
            salted.verify(b"public", b"", Some(salt)),
            Err(Unusable::BadBcryptSalt)
        );
    }
}

#[test]
fn bcrypt_costs_above_the_bound_are_not_computed() {
    let stored = b"$2b$16$Ek4uQ9fDvdNf1VHCCkRHGOabcdefghijklmnopqrstuvwxyz01234";
    assert_eq!(
        scheme("bcrypt").verify(b"public", stored, None),
        Err(Unusable::BcryptCostTooHigh(16))
    );
    assert_eq!(MAX_BCRYPT_COST, 15);
}

#[test]
fn settings_parse_as_emqx_spells_them() {
    use MacDigest as M;
    use PasswordHash as P;
    let cases = [
        ("plain", P::Plain(Salt::None)),
        ("md5", P::Digest(Digest::Md5, Salt::None)),
        ("sha", P::Digest(Digest::Sha, Salt::None)),
        ("sha256", P::Digest(Digest::Sha256, Salt::None)),
        ("sha512", P::Digest(Digest::Sha512, Salt::None)),
        ("bcrypt", P::Bcrypt(Salt::None)),
        ("salt,sha256", P::Digest(Digest::Sha256, Salt::Prefix)),
        ("sha256,salt", P::Digest(Digest::Sha256, Salt::Suffix)),
        ("salt,bcrypt", P::Bcrypt(Salt::Prefix)),
        ("bcrypt,salt", P::Bcrypt(Salt::Suffix)),
        ("salt,plain", P::Plain(Salt::Prefix)),
        (
            "pbkdf2,sha256,1000,20",
            P::Pbkdf2 {
                mac: M::Sha256,
                iterations: 1000,
                dklen: 20,
            },
        ),
        (
            "pbkdf2,ripemd160,1,1",
            P::Pbkdf2 {
                mac: M::Ripemd160,
                iterations: 1,
                dklen: 1,
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(text.parse::<PasswordHash>(), Ok(expected), "{text}");
        // Written back the same.
        assert_eq!(expected.to_string(), text);
    }
    // Blanks around parts and upper case are accepted.
    assert_eq!(
        scheme(" pbkdf2, SHA256 , 1000, 20 "),
        scheme("pbkdf2,sha256,1000,20")
    );
    assert_eq!(scheme("Salt, SHA"), scheme("salt,sha"));
}

#[test]
fn bad_settings_are_refused_with_a_reason() {
    use HashConfigError as E;
    let cases = [
        ("", E::Empty),
        ("  ", E::Empty),
        ("salt,", E::Empty),
        ("sha384", E::UnknownAlgorithm("sha384".into())),
        ("sha1", E::UnknownAlgorithm("sha1".into())),
        ("salt,salt", E::UnknownAlgorithm("salt".into())),
        ("salt,sha3", E::UnknownAlgorithm("sha3".into())),
        ("md5,sha256", E::BadShape("md5,sha256".into())),
        ("a,b,c", E::BadShape("a,b,c".into())),
        ("sha256,salt,x", E::BadShape("sha256,salt,x".into())),
        (
            "pbkdf2,sha256,1000,20,1",
            E::BadShape("pbkdf2,sha256,1000,20,1".into()),
        ),
        (
            "md5,sha256,1000,20",
            E::BadShape("md5,sha256,1000,20".into()),
        ),
        ("pbkdf2,sha1,1000,20", E::UnknownMac("sha1".into())),
        ("pbkdf2,sha256,0,20", E::BadIterations("0".into())),
        ("pbkdf2,sha256,-1,20", E::BadIterations("-1".into())),
        ("pbkdf2,sha256,1e3,20", E::BadIterations("1e3".into())),
        (
            "pbkdf2,sha256,5000001,20",
            E::BadIterations("5000001".into()),
        ),
        (
            "pbkdf2,sha256,99999999999,20",
            E::BadIterations("99999999999".into()),
        ),
        ("pbkdf2,sha256,1000,0", E::BadDklen("0".into())),
        ("pbkdf2,sha256,1000,257", E::BadDklen("257".into())),
        ("pbkdf2,sha256,1000,x", E::BadDklen("x".into())),
        // 5 million iterations is the most for one block; two blocks of
        // SHA-1 (21..40 bytes) halve it.
        ("pbkdf2,sha,5000000,21", E::TooCostly { work: 10_000_000 }),
        (
            "pbkdf2,sha512,1250001,256",
            E::TooCostly { work: 5_000_004 },
        ),
    ];
    for (text, expected) in cases {
        let error = text.parse::<PasswordHash>().unwrap_err();
        assert_eq!(error, expected, "{text}");
        assert!(!error.to_string().is_empty());
    }
    // At the bound exactly: allowed.
    scheme("pbkdf2,sha,5000000,20");
    scheme("pbkdf2,sha512,1250000,256");
    assert!(matches!(
        "pbkdf2".parse::<PasswordHash>(),
        Err(E::BadShape(_))
    ));
    assert!(matches!(
        "salt,pbkdf2".parse::<PasswordHash>(),
        Err(E::BadShape(_))
    ));
}

#[test]
fn bcrypt_salts_decode_like_c() {
    // 22 characters, the last one's low 4 bits unused: "." and "M" differ
    // only there, so they decode alike.
    let a = decode_bcrypt_salt(b"CCCCCCCCCCCCCCCCCCCCC.").unwrap();
    let b = decode_bcrypt_salt(b"CCCCCCCCCCCCCCCCCCCCCM").unwrap();
    assert_eq!(a, b);
    assert_eq!(decode_bcrypt_salt(b"CCCCCCCCCCCCCCCCCCCCC"), None);
    assert_eq!(decode_bcrypt_salt(b"CCCCCCCCCCCCCCCCCCCCC="), None);
}

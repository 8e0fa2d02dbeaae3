//! `auth.redis.password_hash`: how a stored password is checked, computed
//! exactly as EMQX 4 does (its `emqx_passwd` module, which
//! `emqx_auth_redis` calls), so that users hashed for EMQX log in here.
//!
//! # Schemes
//!
//! | Setting | Stored value (`password` field) |
//! |---|---|
//! | `plain` | the password itself |
//! | `md5`, `sha`, `sha256`, `sha512` | hex digest of the password (`sha` is SHA-1) |
//! | `salt,ALG` | hex digest of salt then password (`ALG` one of the above, or `plain`) |
//! | `ALG,salt` | hex digest of password then salt |
//! | `bcrypt` | a bcrypt hash (`$2b$12$...`, 60 characters) |
//! | `salt,bcrypt` or `bcrypt,salt` | a bcrypt hash made with the salt field as its bcrypt salt (`$2b$12$` and 22 characters) |
//! | `pbkdf2,MAC,ITERATIONS,DKLEN` | hex of PBKDF2-HMAC-MAC over the password with the salt field as salt, DKLEN bytes |
//!
//! `MAC` is any digest EMQX's pbkdf2 library accepts: `md4`, `md5`,
//! `ripemd160`, `sha`, `sha224`, `sha256`, `sha384`, `sha512`.
//!
//! Confirmed in EMQX 4.4's sources (`emqx_passwd.erl`, the
//! `emqx_auth_redis.schema` translation, `emqx_auth_redis.erl`, the
//! `pbkdf2` and `bcrypt` libraries it depends on):
//!
//! - Digests are lower-case hex (`~32.16.0b` and `pbkdf2:to_hex`). EMQX
//!   compares them byte for byte; here hex digests are compared ignoring
//!   case, so a digest stored in upper case works too.
//! - The salt is prefixed or suffixed as raw bytes, no separator.
//! - bcrypt: with plain `bcrypt` the stored hash's first 29 characters are
//!   the salt (`binary:part(PassHash, {0, 29})`); with `salt,bcrypt` or
//!   `bcrypt,salt` (the two mean the same) the salt field is handed to
//!   `bcrypt:hashpw` as the salt. Either way the result is compared with
//!   the whole stored hash, and its version letter is the salt's. The
//!   password goes through a C string, so it ends at its first NUL byte;
//!   that is reproduced here, or hashes made by EMQX would not verify.
//! - pbkdf2: standard PBKDF2 with HMAC, DKLEN in bytes, the salt field as
//!   salt; its iterations and DKLEN are integers written without spaces.
//!
//! # Where this differs from EMQX 4, on purpose
//!
//! - Bad settings are errors at load. EMQX 4 turns a value with 3 or 5+
//!   comma-separated parts into `plain`, and an unknown algorithm, bare
//!   `pbkdf2` or pbkdf2 with zero iterations into a crash (or, for zero
//!   iterations, a loop that never ends) at each login. Blanks around the
//!   parts are allowed (EMQX's documentation writes `pbkdf2, sha256, 1000,
//!   20`, which EMQX 4 itself cannot read) and names ignore case.
//! - pbkdf2's cost is bounded ([`MAX_PBKDF2_WORK`]), and so is the cost
//!   in a stored bcrypt hash ([`MAX_BCRYPT_COST`]): a setting or a stored
//!   value cannot make one login take minutes.
//! - When the lookup returns a salt but the scheme takes none (`sha256`
//!   with `HMGET mqtt_user:%u password salt`), the salt is not used. EMQX 4
//!   refuses every password in that case (no clause of its `check_pass`
//!   fits). When the scheme takes a salt and the lookup has none, the salt
//!   is empty (as in EMQX 5); EMQX 4 crashes. Bcrypt with a salt setting
//!   and no salt uses the stored hash's own salt.
//! - A bcrypt check that fails to run (a malformed salt) never matches.
//!   In EMQX 4 it hashes to the empty string, which matches an empty
//!   stored password.
//!
//! Every comparison of a computed value with the stored one takes the same
//! time wherever they differ ([`subtle`]); a plain password is compared
//! through SHA-256 of both sides, so its length does not show either.

use std::fmt;
use std::str::FromStr;

use sha2::Digest as _;
use subtle::ConstantTimeEq;

/// The most HMAC computations one pbkdf2 check may take: iterations times
/// the number of output blocks (DKLEN divided by the MAC's output size,
/// rounded up). Measured on one core of an x86 server with SHA extensions,
/// in a release build, 5 million take about 1 s with SHA-1, SHA-256 or
/// MD4, 4 s with RIPEMD-160 and 5.5 s with SHA-512. OWASP's 2023 advice
/// (600 000 iterations of SHA-256, 210 000 of SHA-512, 1.3 million of
/// SHA-1) is well inside it.
pub const MAX_PBKDF2_WORK: u64 = 5_000_000;

/// The longest pbkdf2 output, in bytes (hex twice that). Keys longer than
/// the MAC's output only repeat the work; 256 bytes is far beyond any use.
pub const MAX_PBKDF2_DKLEN: u32 = 256;

/// The highest bcrypt cost checked. A stored hash with a higher cost is
/// unusable rather than tried: each step doubles the time. Measured as
/// above, cost 12 takes 0.43 s and 15 about 3.4 s, under `auth.timeout`'s
/// default of 5 s; bcrypt itself allows up to 31, which would take days.
pub const MAX_BCRYPT_COST: u32 = 15;

/// A digest EMQX 4 hashes passwords with, as lower-case hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// `md5`.
    Md5,
    /// `sha`: SHA-1.
    Sha,
    /// `sha256`.
    Sha256,
    /// `sha512`.
    Sha512,
}

/// The digest under pbkdf2's HMAC: every one EMQX 4's pbkdf2 library
/// accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacDigest {
    Md4,
    Md5,
    Ripemd160,
    /// `sha`: SHA-1.
    Sha,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

/// Where the salt goes, for the schemes that take one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Salt {
    /// No salt.
    None,
    /// `salt,ALG`: salt, then password.
    Prefix,
    /// `ALG,salt`: password, then salt.
    Suffix,
}

/// A parsed `auth.redis.password_hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordHash {
    /// `plain`, or `salt,plain` / `plain,salt`: the stored value is the
    /// (salted) password.
    Plain(Salt),
    /// A hex digest of the (salted) password.
    Digest(Digest, Salt),
    /// `bcrypt` ([`Salt::None`]: the stored hash holds its salt) or
    /// `salt,bcrypt` / `bcrypt,salt` (the salt field is the bcrypt salt;
    /// both positions mean the same, as in EMQX 4).
    Bcrypt(Salt),
    /// `pbkdf2,MAC,ITERATIONS,DKLEN`; the salt field is the salt.
    Pbkdf2 {
        mac: MacDigest,
        iterations: u32,
        dklen: u32,
    },
}

/// Why an `auth.redis.password_hash` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashConfigError {
    /// Nothing but blanks.
    Empty,
    /// A name that is not a hash algorithm EMQX 4 knows.
    UnknownAlgorithm(String),
    /// Not one of the shapes `ALG`, `salt,ALG`, `ALG,salt`,
    /// `pbkdf2,MAC,ITERATIONS,DKLEN`.
    BadShape(String),
    /// `pbkdf2` with a MAC digest its library does not offer.
    UnknownMac(String),
    /// Iterations that are not a whole number from 1 to
    /// [`MAX_PBKDF2_WORK`].
    BadIterations(String),
    /// A key length that is not a whole number from 1 to
    /// [`MAX_PBKDF2_DKLEN`].
    BadDklen(String),
    /// Iterations times output blocks above [`MAX_PBKDF2_WORK`].
    TooCostly { work: u64 },
}

impl fmt::Display for HashConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HashConfigError::Empty => f.write_str(
                "empty: expected plain, md5, sha, sha256, sha512 or bcrypt, \
                 salted as salt,ALG or ALG,salt, or pbkdf2,MAC,ITERATIONS,DKLEN",
            ),
            HashConfigError::UnknownAlgorithm(name) => write!(
                f,
                "unknown hash algorithm {name:?}: expected plain, md5, sha, sha256, sha512, bcrypt or pbkdf2"
            ),
            HashConfigError::BadShape(value) => write!(
                f,
                "{value:?} is not ALG, salt,ALG, ALG,salt or pbkdf2,MAC,ITERATIONS,DKLEN"
            ),
            HashConfigError::UnknownMac(name) => write!(
                f,
                "unknown pbkdf2 MAC digest {name:?}: expected md4, md5, ripemd160, sha, sha224, sha256, sha384 or sha512"
            ),
            HashConfigError::BadIterations(value) => write!(
                f,
                "pbkdf2 iterations {value:?}: expected a whole number from 1 to {MAX_PBKDF2_WORK}"
            ),
            HashConfigError::BadDklen(value) => write!(
                f,
                "pbkdf2 key length {value:?}: expected a whole number of bytes from 1 to {MAX_PBKDF2_DKLEN}"
            ),
            HashConfigError::TooCostly { work } => write!(
                f,
                "pbkdf2 would compute {work} HMACs per login (iterations times output blocks); \
                 at most {MAX_PBKDF2_WORK} are allowed"
            ),
        }
    }
}

impl std::error::Error for HashConfigError {}

/// Why a stored value could not be checked at all (as opposed to not
/// matching): the user cannot log in, and it is worth a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// The stored password is not a bcrypt hash (`$2a$`, `$2b$`, `$2x$` or
    /// `$2y$`, a two-digit cost from 04 to 31, 53 characters of bcrypt
    /// base64).
    BadBcryptHash,
    /// The salt field is not a bcrypt salt (`$2b$12$` and 22 characters).
    BadBcryptSalt,
    /// The bcrypt cost is above [`MAX_BCRYPT_COST`].
    BcryptCostTooHigh(u32),
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::BadBcryptHash => f.write_str("the stored password is not a bcrypt hash"),
            Unusable::BadBcryptSalt => f.write_str("the stored salt is not a bcrypt salt"),
            Unusable::BcryptCostTooHigh(cost) => write!(
                f,
                "the stored bcrypt hash has cost {cost}, above the {MAX_BCRYPT_COST} checked"
            ),
        }
    }
}

impl std::error::Error for Unusable {}

impl FromStr for PasswordHash {
    type Err = HashConfigError;

    /// Reads a setting as EMQX 4's schema does: comma-separated parts,
    /// one (`ALG`), two (`salt,ALG` or `ALG,salt`) or four (pbkdf2). Blanks
    /// around parts are ignored, and so is the case of names.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = value.split(',').map(str::trim).collect();
        match parts.as_slice() {
            [""] => Err(HashConfigError::Empty),
            [alg] => Ok(algorithm(alg, Salt::None)?),
            [first, second] => {
                let (alg, position) = if first.eq_ignore_ascii_case("salt") {
                    (second, Salt::Prefix)
                } else if second.eq_ignore_ascii_case("salt") {
                    (first, Salt::Suffix)
                } else {
                    return Err(HashConfigError::BadShape(value.to_owned()));
                };
                algorithm(alg, position)
            }
            [pbkdf2, mac, iterations, dklen] if pbkdf2.eq_ignore_ascii_case("pbkdf2") => {
                pbkdf2_setting(mac, iterations, dklen)
            }
            _ => Err(HashConfigError::BadShape(value.to_owned())),
        }
    }
}

/// `name` salted at `position`: anything but pbkdf2, which has its own
/// shape, and `salt` itself.
fn algorithm(name: &str, position: Salt) -> Result<PasswordHash, HashConfigError> {
    let digest = match name.to_ascii_lowercase().as_str() {
        "plain" => return Ok(PasswordHash::Plain(position)),
        "bcrypt" => return Ok(PasswordHash::Bcrypt(position)),
        "md5" => Digest::Md5,
        "sha" => Digest::Sha,
        "sha256" => Digest::Sha256,
        "sha512" => Digest::Sha512,
        "pbkdf2" => {
            return Err(HashConfigError::BadShape(format!(
                "{name} (pbkdf2 needs pbkdf2,MAC,ITERATIONS,DKLEN)"
            )))
        }
        "" if position != Salt::None => return Err(HashConfigError::Empty),
        _ => return Err(HashConfigError::UnknownAlgorithm(name.to_owned())),
    };
    Ok(PasswordHash::Digest(digest, position))
}

fn pbkdf2_setting(
    mac: &str,
    iterations: &str,
    dklen: &str,
) -> Result<PasswordHash, HashConfigError> {
    let mac = match mac.to_ascii_lowercase().as_str() {
        "md4" => MacDigest::Md4,
        "md5" => MacDigest::Md5,
        "ripemd160" => MacDigest::Ripemd160,
        "sha" => MacDigest::Sha,
        "sha224" => MacDigest::Sha224,
        "sha256" => MacDigest::Sha256,
        "sha384" => MacDigest::Sha384,
        "sha512" => MacDigest::Sha512,
        _ => return Err(HashConfigError::UnknownMac(mac.to_owned())),
    };
    let bad_iterations = || HashConfigError::BadIterations(iterations.to_owned());
    let iterations: u32 = iterations.parse().map_err(|_| bad_iterations())?;
    if iterations == 0 || u64::from(iterations) > MAX_PBKDF2_WORK {
        return Err(bad_iterations());
    }
    let bad_dklen = || HashConfigError::BadDklen(dklen.to_owned());
    let dklen: u32 = dklen.parse().map_err(|_| bad_dklen())?;
    if dklen == 0 || dklen > MAX_PBKDF2_DKLEN {
        return Err(bad_dklen());
    }
    let blocks = u64::from(dklen.div_ceil(mac.output_len()));
    let work = u64::from(iterations) * blocks;
    if work > MAX_PBKDF2_WORK {
        return Err(HashConfigError::TooCostly { work });
    }
    Ok(PasswordHash::Pbkdf2 {
        mac,
        iterations,
        dklen,
    })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Digest::Md5 => "md5",
            Digest::Sha => "sha",
            Digest::Sha256 => "sha256",
            Digest::Sha512 => "sha512",
        })
    }
}

impl MacDigest {
    /// The HMAC's output size in bytes: one pbkdf2 block.
    pub fn output_len(self) -> u32 {
        match self {
            MacDigest::Md4 | MacDigest::Md5 => 16,
            MacDigest::Ripemd160 | MacDigest::Sha => 20,
            MacDigest::Sha224 => 28,
            MacDigest::Sha256 => 32,
            MacDigest::Sha384 => 48,
            MacDigest::Sha512 => 64,
        }
    }
}

impl fmt::Display for MacDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MacDigest::Md4 => "md4",
            MacDigest::Md5 => "md5",
            MacDigest::Ripemd160 => "ripemd160",
            MacDigest::Sha => "sha",
            MacDigest::Sha224 => "sha224",
            MacDigest::Sha256 => "sha256",
            MacDigest::Sha384 => "sha384",
            MacDigest::Sha512 => "sha512",
        })
    }
}

/// The setting written back the way EMQX spells it, for logs.
impl fmt::Display for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let salted = |f: &mut fmt::Formatter<'_>, name: &dyn fmt::Display, salt: Salt| match salt {
            Salt::None => write!(f, "{name}"),
            Salt::Prefix => write!(f, "salt,{name}"),
            Salt::Suffix => write!(f, "{name},salt"),
        };
        match self {
            PasswordHash::Plain(salt) => salted(f, &"plain", *salt),
            PasswordHash::Digest(digest, salt) => salted(f, digest, *salt),
            PasswordHash::Bcrypt(salt) => salted(f, &"bcrypt", *salt),
            PasswordHash::Pbkdf2 {
                mac,
                iterations,
                dklen,
            } => write!(f, "pbkdf2,{mac},{iterations},{dklen}"),
        }
    }
}

impl PasswordHash {
    /// Whether the stored password matches `password`, the one the client
    /// sent. `stored` is the first value the lookup returned, `salt` the
    /// second if there was one (EMQX 4 reads a nil salt as absent too).
    ///
    /// `Err` means the stored value cannot be checked (a malformed bcrypt
    /// hash): the client is refused as for a wrong password, and the
    /// reason deserves a log line.
    ///
    /// bcrypt and pbkdf2 take up to seconds of CPU by design: call this
    /// off the broker's threads.
    pub fn verify(
        &self,
        password: &[u8],
        stored: &[u8],
        salt: Option<&[u8]>,
    ) -> Result<bool, Unusable> {
        let salt_bytes = salt.unwrap_or_default();
        let (first, second) = match self.salt_position() {
            Salt::None => (password, &[][..]),
            Salt::Prefix => (salt_bytes, password),
            Salt::Suffix => (password, salt_bytes),
        };
        Ok(match *self {
            PasswordHash::Plain(_) => {
                let given = sha2::Sha256::new().chain_update(first).chain_update(second);
                let stored = sha2::Sha256::digest(stored);
                bool::from(given.finalize().ct_eq(&stored))
            }
            PasswordHash::Digest(digest, _) => {
                let computed = match digest {
                    Digest::Md5 => hex_digest::<md5::Md5>(first, second),
                    Digest::Sha => hex_digest::<sha1::Sha1>(first, second),
                    Digest::Sha256 => hex_digest::<sha2::Sha256>(first, second),
                    Digest::Sha512 => hex_digest::<sha2::Sha512>(first, second),
                };
                hex_eq(&computed, stored)
            }
            PasswordHash::Bcrypt(position) => {
                let setting = match (position, salt) {
                    (Salt::Prefix | Salt::Suffix, Some(salt)) => {
                        BcryptSetting::parse(salt).ok_or(Unusable::BadBcryptSalt)?
                    }
                    _ => BcryptSetting::parse(stored).ok_or(Unusable::BadBcryptHash)?,
                };
                let computed = setting.hash(password)?;
                bool::from(computed.as_bytes().ct_eq(stored))
            }
            PasswordHash::Pbkdf2 {
                mac,
                iterations,
                dklen,
            } => {
                let computed = pbkdf2_hex(mac, password, salt_bytes, iterations, dklen);
                hex_eq(&computed, stored)
            }
        })
    }

    /// Where the salt goes: [`Salt::None`] for the schemes that take none
    /// or, like bcrypt and pbkdf2, take it otherwise than by concatenation.
    fn salt_position(&self) -> Salt {
        match *self {
            PasswordHash::Plain(salt) | PasswordHash::Digest(_, salt) => salt,
            PasswordHash::Bcrypt(_) | PasswordHash::Pbkdf2 { .. } => Salt::None,
        }
    }

    /// Whether the scheme reads the salt field at all.
    pub fn uses_salt(&self) -> bool {
        match *self {
            PasswordHash::Plain(salt)
            | PasswordHash::Digest(_, salt)
            | PasswordHash::Bcrypt(salt) => salt != Salt::None,
            PasswordHash::Pbkdf2 { .. } => true,
        }
    }
}

/// Lower-case hex of `D` over `first` then `second`.
fn hex_digest<D: sha2::Digest>(first: &[u8], second: &[u8]) -> String {
    hex(&D::new().chain_update(first).chain_update(second).finalize())
}

/// Lower-case hex of PBKDF2-HMAC-`mac`.
fn pbkdf2_hex(mac: MacDigest, password: &[u8], salt: &[u8], iterations: u32, dklen: u32) -> String {
    let mut key = vec![0u8; dklen as usize];
    match mac {
        MacDigest::Md4 => pbkdf2::pbkdf2_hmac::<md4::Md4>(password, salt, iterations, &mut key),
        MacDigest::Md5 => pbkdf2::pbkdf2_hmac::<md5::Md5>(password, salt, iterations, &mut key),
        MacDigest::Ripemd160 => {
            pbkdf2::pbkdf2_hmac::<ripemd::Ripemd160>(password, salt, iterations, &mut key)
        }
        MacDigest::Sha => pbkdf2::pbkdf2_hmac::<sha1::Sha1>(password, salt, iterations, &mut key),
        MacDigest::Sha224 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha224>(password, salt, iterations, &mut key)
        }
        MacDigest::Sha256 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha256>(password, salt, iterations, &mut key)
        }
        MacDigest::Sha384 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha384>(password, salt, iterations, &mut key)
        }
        MacDigest::Sha512 => {
            pbkdf2::pbkdf2_hmac::<sha2::Sha512>(password, salt, iterations, &mut key)
        }
    }
    hex(&key)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(DIGITS[usize::from(byte >> 4)] as char);
        out.push(DIGITS[usize::from(byte & 0xf)] as char);
    }
    out
}

/// Whether `stored` spells the lower-case hex `computed`, in either case,
/// in constant time over the content.
fn hex_eq(computed: &str, stored: &[u8]) -> bool {
    let stored = stored.to_ascii_lowercase();
    bool::from(computed.as_bytes().ct_eq(&stored))
}

/// The leading 29 characters of a bcrypt hash: version, cost and salt.
struct BcryptSetting {
    version: bcrypt::Version,
    cost: u32,
    salt: [u8; 16],
}

/// bcrypt's own base64 alphabet.
const BCRYPT_BASE64: &[u8; 64] =
    b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

impl BcryptSetting {
    /// Reads `$2?$NN$` and 22 salt characters at the start of `text`, as
    /// the C code EMQX uses does: version letter `a`, `b`, `x` or `y`,
    /// cost 04 to 31, and anything after the salt ignored (a whole hash
    /// serves as a salt).
    fn parse(text: &[u8]) -> Option<BcryptSetting> {
        let head = text.get(..29)?;
        let version = match head.get(..4)? {
            b"$2a$" => bcrypt::Version::TwoA,
            b"$2b$" => bcrypt::Version::TwoB,
            b"$2x$" => bcrypt::Version::TwoX,
            b"$2y$" => bcrypt::Version::TwoY,
            _ => return None,
        };
        let (tens, units) = (head[4], head[5]);
        if !tens.is_ascii_digit() || !units.is_ascii_digit() || head[6] != b'$' {
            return None;
        }
        let cost = u32::from(tens - b'0') * 10 + u32::from(units - b'0');
        if !(4..=31).contains(&cost) {
            return None;
        }
        let salt = decode_bcrypt_salt(&head[7..29])?;
        Some(BcryptSetting {
            version,
            cost,
            salt,
        })
    }

    /// The full hash of `password` with this setting, as EMQX's bcrypt
    /// writes it: the password up to its first NUL, 72 bytes at most.
    fn hash(self, password: &[u8]) -> Result<String, Unusable> {
        if self.cost > MAX_BCRYPT_COST {
            return Err(Unusable::BcryptCostTooHigh(self.cost));
        }
        let end = password
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(password.len());
        // Cannot fail: the cost is in bcrypt's range, checked above.
        let parts = bcrypt::hash_with_salt(&password[..end], self.cost, self.salt)
            .map_err(|_| Unusable::BadBcryptHash)?;
        Ok(parts.format_for_version(self.version))
    }
}

/// Decodes 22 characters of bcrypt base64 into 16 bytes, ignoring the
/// last character's 4 spare bits as the C code does.
fn decode_bcrypt_salt(text: &[u8]) -> Option<[u8; 16]> {
    let mut bits: u32 = 0;
    let mut held = 0;
    let mut out = [0u8; 16];
    let mut filled = 0;
    for &c in text {
        let value = BCRYPT_BASE64.iter().position(|&d| d == c)? as u32;
        bits = (bits << 6) | value;
        held += 6;
        if held >= 8 {
            held -= 8;
            if filled < out.len() {
                out[filled] = (bits >> held) as u8;
                filled += 1;
            }
            bits &= (1 << held) - 1;
        }
    }
    (filled == out.len()).then_some(out)
}

#[cfg(test)]
#[path = "hash_tests.rs"]
mod tests;

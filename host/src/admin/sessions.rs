//! Login sessions: a random id in an HttpOnly cookie, the rest kept here.
//!
//! The table is small and bounded ([`MAX_SESSIONS`]): a login when it is
//! full first drops the sessions that have expired, then the one closest
//! to expiring. Each session lasts [`SESSION_TTL`] from its login. Ids are
//! compared in constant time, each against every session, so that the
//! time a lookup takes tells nothing of the ids held.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;

use super::token::hex;

/// Sessions held at most.
pub const MAX_SESSIONS: usize = 64;
/// How long a session lasts from its login.
pub const SESSION_TTL: Duration = Duration::from_secs(8 * 60 * 60);
/// Random bytes in a session id.
const ID_BYTES: usize = 32;
/// The cookie's name.
pub const COOKIE: &str = "mqhost_session";

struct Session {
    id: String,
    user: String,
    expires: Instant,
}

/// The sessions of logged-in admins.
pub struct Sessions {
    table: Mutex<Vec<Session>>,
    ttl: Duration,
    max: usize,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions::new(SESSION_TTL, MAX_SESSIONS)
    }
}

impl Sessions {
    /// A table of at most `max` sessions lasting `ttl` each.
    pub fn new(ttl: Duration, max: usize) -> Sessions {
        Sessions {
            table: Mutex::new(Vec::new()),
            ttl,
            max: max.max(1),
        }
    }

    /// A new session for `user`; its id.
    pub fn open(&self, user: &str) -> std::io::Result<String> {
        let mut bytes = [0u8; ID_BYTES];
        getrandom::getrandom(&mut bytes).map_err(std::io::Error::from)?;
        let id = hex(&bytes);
        let now = Instant::now();
        let mut table = self.lock();
        table.retain(|s| s.expires > now);
        if table.len() >= self.max {
            if let Some(oldest) = (0..table.len()).min_by_key(|&i| table[i].expires) {
                table.swap_remove(oldest);
            }
        }
        table.push(Session {
            id: id.clone(),
            user: user.to_owned(),
            expires: now + self.ttl,
        });
        Ok(id)
    }

    /// The user of session `id`, if it is open and has not expired.
    pub fn user(&self, id: &str) -> Option<String> {
        let now = Instant::now();
        let table = self.lock();
        let mut found = None;
        for session in table.iter() {
            let same = bool::from(session.id.as_bytes().ct_eq(id.as_bytes()));
            if same && session.expires > now {
                found = Some(session.user.clone());
            }
        }
        found
    }

    /// Ends session `id` (logout).
    pub fn close(&self, id: &str) {
        self.lock()
            .retain(|s| !bool::from(s.id.as_bytes().ct_eq(id.as_bytes())));
    }

    /// Sessions held now, expired ones included until the next login.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The value of cookie `name` among `Cookie` header values.
pub fn cookie<'a>(headers: impl IntoIterator<Item = &'a str>, name: &str) -> Option<&'a str> {
    headers
        .into_iter()
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim_matches('"'))
}

/// The `Set-Cookie` value that hands session `id` to the browser: not
/// readable by scripts, never sent by another site's page, and over TLS
/// only when the API speaks it.
pub fn set_cookie(id: &str, ttl: Duration, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        ttl.as_secs()
    )
}

/// The `Set-Cookie` value that makes the browser forget the session.
pub fn clear_cookie(secure: bool) -> String {
    set_cookie("", Duration::ZERO, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_its_user_until_closed() {
        let sessions = Sessions::default();
        let id = sessions.open("alice").unwrap();
        assert_eq!(id.len(), 2 * ID_BYTES);
        assert_eq!(sessions.user(&id).as_deref(), Some("alice"));
        assert_eq!(sessions.user(&id[1..]), None);
        assert_eq!(sessions.user(""), None);
        sessions.close(&id);
        assert_eq!(sessions.user(&id), None);
    }

    #[test]
    fn the_table_is_bounded_and_expired_sessions_do_not_count() {
        let sessions = Sessions::new(Duration::from_secs(60), 3);
        let ids: Vec<String> = (0..5)
            .map(|i| sessions.open(&format!("u{i}")).unwrap())
            .collect();
        assert_eq!(sessions.len(), 3);
        // The oldest went first.
        assert_eq!(sessions.user(&ids[0]), None);
        assert_eq!(sessions.user(&ids[4]).as_deref(), Some("u4"));

        let expired = Sessions::new(Duration::ZERO, 3);
        let id = expired.open("bob").unwrap();
        assert_eq!(expired.user(&id), None);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_set_strictly() {
        let headers = ["a=1; mqhost_session=abc", "b=2"];
        assert_eq!(cookie(headers, COOKIE), Some("abc"));
        assert_eq!(cookie(["mqhost_sessionx=1"], COOKIE), None);
        let set = set_cookie("abc", SESSION_TTL, false);
        assert_eq!(
            set,
            "mqhost_session=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800"
        );
        assert!(set_cookie("abc", SESSION_TTL, true).ends_with("; Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}

//! Which session holds which client id. Consulted at CONNECT (takeover) and
//! when something outside a session addresses one client; never on the
//! message path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::session::SessionHandle;
use super::SessionId;

/// Client id to the session that owns it.
#[derive(Default)]
pub struct Registry {
    clients: Mutex<HashMap<Arc<str>, SessionHandle>>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<Arc<str>, SessionHandle>> {
        // A panic while holding this lock cannot leave the map half-changed
        // (every change is one insert or remove), so poisoning is ignored.
        self.clients.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of `client_id`, if there is one.
    pub fn get(&self, client_id: &str) -> Option<SessionHandle> {
        self.lock().get(client_id).cloned()
    }

    /// Registers `handle` unless the client id is taken; on conflict returns
    /// the session that holds it.
    pub fn insert_if_absent(&self, handle: &SessionHandle) -> Result<(), SessionHandle> {
        let mut clients = self.lock();
        if let Some(existing) = clients.get(handle.client_id()) {
            return Err(existing.clone());
        }
        clients.insert(Arc::clone(handle.client_id_arc()), handle.clone());
        Ok(())
    }

    /// Removes `client_id` only if it still belongs to session `id`, so an
    /// ending session never unregisters its successor.
    pub fn remove_if(&self, client_id: &str, id: SessionId) -> bool {
        let mut clients = self.lock();
        if clients.get(client_id).is_some_and(|h| h.id() == id) {
            clients.remove(client_id);
            true
        } else {
            false
        }
    }

    /// Number of sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Every session, for shutdown.
    pub fn all(&self) -> Vec<SessionHandle> {
        self.lock().values().cloned().collect()
    }
}

//! The operator console's signed-in sessions. With records on they are kept
//! in the records database, so a sign-in on one replica holds on every
//! replica on that database (and across a restart), and a sign-out ends it
//! everywhere; with `--record off`, in this process's memory. Each is filed
//! under the SHA-256 of its cookie, never the cookie itself.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use sha2::{Digest, Sha256};

use crate::domain::Pending;
use crate::domain::clock::UnixMillis;
use crate::domain::records::{RecordError, hex};

/// One signed-in console session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsoleSession {
    /// Every form of the session carries it; a post without it is refused.
    pub csrf: String,
    pub expires: UnixMillis,
}

/// The name a session is filed under: the SHA-256 of its cookie, in hex.
pub fn cookie_hash(cookie: &str) -> String {
    hex(&Sha256::digest(cookie.as_bytes()))
}

/// Where console sessions are kept, by [`cookie_hash`].
pub trait ConsoleSessions: Send + Sync + 'static {
    /// Keeps `session` (and forgets the sessions expired by `now`).
    fn put(
        &self,
        hash: &str,
        session: &ConsoleSession,
        now: UnixMillis,
    ) -> Pending<'_, Result<(), RecordError>>;
    /// The session filed under `hash`, unless it has expired by `now`.
    fn get(
        &self,
        hash: &str,
        now: UnixMillis,
    ) -> Pending<'_, Result<Option<ConsoleSession>, RecordError>>;
    /// Ends the session filed under `hash`.
    fn remove(&self, hash: &str) -> Pending<'_, Result<(), RecordError>>;
}

/// Sessions kept in memory at most (expired ones go first).
const MEMORY_ENTRIES: usize = 1_000;

/// Console sessions in this process's memory (`--record off`).
#[derive(Default)]
pub struct MemoryConsoleSessions(Mutex<HashMap<String, ConsoleSession>>);

impl MemoryConsoleSessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConsoleSession>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ConsoleSessions for MemoryConsoleSessions {
    fn put(
        &self,
        hash: &str,
        session: &ConsoleSession,
        now: UnixMillis,
    ) -> Pending<'_, Result<(), RecordError>> {
        let mut sessions = self.lock();
        if sessions.len() >= MEMORY_ENTRIES {
            sessions.retain(|_, s| s.expires > now);
        }
        sessions.insert(hash.to_owned(), session.clone());
        Box::pin(std::future::ready(Ok(())))
    }

    fn get(
        &self,
        hash: &str,
        now: UnixMillis,
    ) -> Pending<'_, Result<Option<ConsoleSession>, RecordError>> {
        let mut sessions = self.lock();
        let live = sessions.get(hash).filter(|s| s.expires > now).cloned();
        if live.is_none() {
            sessions.remove(hash);
        }
        Box::pin(std::future::ready(Ok(live)))
    }

    fn remove(&self, hash: &str) -> Pending<'_, Result<(), RecordError>> {
        self.lock().remove(hash);
        Box::pin(std::future::ready(Ok(())))
    }
}

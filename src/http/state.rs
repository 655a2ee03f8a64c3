//! What requests share at run time. [`AppState`] is only a bundle: each
//! handler and middleware takes the part it uses (axum `FromRef` substates),
//! so none of them sees the others' state.

use std::num::NonZeroUsize;
use std::sync::Arc;

use axum::extract::FromRef;

use super::assets::Assets;
use super::guard::Guard;
use crate::domain::answer_pool::AnswerPool;
use crate::domain::clock::Clock;
use crate::domain::records::{RecordStore, Recorder};
use crate::domain::session::SessionStore;
use crate::store::redis::Health;

/// Everything requests share, cheap to clone. Fields are public so tests can
/// swap in, e.g., a limiter on a manual clock.
#[derive(Clone)]
pub struct AppState {
    pub chat: ChatState,
    pub guard: Guard,
    pub assets: Assets,
    pub ready: Readiness,
    /// The records (the admin side reads them; no public handler does).
    pub records: Option<Arc<dyn RecordStore>>,
}

/// What `GET /readyz` reports: the shared store, where there is one.
#[derive(Clone, Default)]
pub struct Readiness {
    pub redis: Option<Arc<Health>>,
}

/// What the chat handler uses.
#[derive(Clone)]
pub struct ChatState {
    /// The assistant, behind the bounded pool its answers are computed on.
    pub answers: Arc<AnswerPool>,
    pub sessions: Arc<dyn SessionStore>,
    pub clock: Arc<dyn Clock>,
    /// Longest accepted message, in characters after trimming.
    pub max_message_chars: NonZeroUsize,
    /// Where each turn and vote is recorded.
    pub recorder: Recorder,
}

impl FromRef<AppState> for Readiness {
    fn from_ref(state: &AppState) -> Self {
        state.ready.clone()
    }
}

impl FromRef<AppState> for ChatState {
    fn from_ref(state: &AppState) -> Self {
        state.chat.clone()
    }
}

impl FromRef<AppState> for Guard {
    fn from_ref(state: &AppState) -> Self {
        state.guard.clone()
    }
}

impl FromRef<AppState> for Assets {
    fn from_ref(state: &AppState) -> Self {
        state.assets.clone()
    }
}

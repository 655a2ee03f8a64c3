//! What requests share at run time. [`AppState`] is only a bundle: each
//! handler and middleware takes the part it uses (axum `FromRef` substates),
//! so none of them sees the others' state.

use std::num::NonZeroUsize;
use std::sync::Arc;

use axum::extract::FromRef;

use super::assets::Assets;
use super::guard::Guard;
use crate::domain::answer_pool::AnswerPool;
use crate::domain::care::ComplaintBook;
use crate::domain::clock::Clock;
use crate::domain::console::ConsoleSessions;
use crate::domain::handoff::HandoffDesk;
use crate::domain::hours::BusinessHours;
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
    /// The console's signed-in sessions (the admin side's alone too).
    pub consoles: Arc<dyn ConsoleSessions>,
    pub handoff: HandoffState,
}

/// What the handoff and status handlers use.
#[derive(Clone, Default)]
pub struct HandoffState {
    /// Where handoffs are taken; none when no channel is configured.
    pub desk: Option<Arc<HandoffDesk>>,
    /// When someone is there; none when not configured.
    pub hours: Option<Arc<BusinessHours>>,
}

impl HandoffState {
    /// What to tell a visitor now about when someone will reply, if hours are set.
    pub fn sentence(&self) -> Option<String> {
        self.hours
            .as_ref()
            .map(|h| h.sentence(jiff::Timestamp::now()))
    }
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
    /// When someone is there: a handoff reply says when they will answer.
    pub hours: Option<Arc<BusinessHours>>,
    /// Where a complaint is recorded (none with `--record off`).
    pub complaints: Option<Arc<dyn ComplaintBook>>,
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

impl FromRef<AppState> for HandoffState {
    fn from_ref(state: &AppState) -> Self {
        state.handoff.clone()
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

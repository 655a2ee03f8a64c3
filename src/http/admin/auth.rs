//! The admin API's door: `Authorization: Bearer <token>`, compared in
//! constant time. A client that fails [`FAILURES_ALLOWED`] times within a
//! minute is refused (`429`) without its token being looked at, until the
//! minute is over. Without a configured token the API does not exist (`404`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::domain::client_ip::ClientKey;
use crate::domain::clock::{SystemClock, now_millis};
use crate::domain::console::{ConsoleSession, ConsoleSessions, cookie_hash};
use crate::domain::rate_limit::{FixedWindow, Quota};
use crate::domain::records::RecordError;
use crate::http::client::ClientIdentity;
use crate::http::error::ApiError;

/// Failed attempts one client may make per minute.
pub const FAILURES_ALLOWED: u32 = 10;

/// Clients kept in the refusal list at most.
const BLOCKED_ENTRIES: usize = 10_000;

/// Clients refused until a time, at most `cap` of them: when full, expired
/// refusals go first, then the one that ends soonest.
struct Refusals {
    until: HashMap<ClientKey, Instant>,
    cap: usize,
}

impl Refusals {
    fn new(cap: usize) -> Self {
        Self {
            until: HashMap::new(),
            cap,
        }
    }

    /// How long `client` is still refused at `now`, if it is.
    fn left(&mut self, client: &ClientKey, now: Instant) -> Option<Duration> {
        let left = self.until.get(client)?.saturating_duration_since(now);
        if left.is_zero() {
            self.until.remove(client);
            return None;
        }
        Some(left)
    }

    fn refuse(&mut self, client: ClientKey, until: Instant, now: Instant) {
        if self.until.len() >= self.cap && !self.until.contains_key(&client) {
            self.until.retain(|_, until| *until > now);
            if self.until.len() >= self.cap {
                let soonest = self.until.iter().min_by_key(|(_, until)| **until);
                if let Some(soonest) = soonest.map(|(client, _)| *client) {
                    self.until.remove(&soonest);
                }
            }
        }
        self.until.insert(client, until);
    }
}

#[derive(Clone)]
pub struct AdminAuth {
    /// SHA-256 of the token: compared digest to digest, in constant time.
    token: Option<[u8; 32]>,
    identity: Arc<ClientIdentity>,
    failures: Arc<FixedWindow<SystemClock>>,
    blocked: Arc<Mutex<Refusals>>,
    /// The console's signed-in sessions (in the records database, or with
    /// records off in this process).
    consoles: Arc<dyn ConsoleSessions>,
}

/// How long a console sign-in lasts.
pub const CONSOLE_SESSION: Duration = Duration::from_secs(8 * 60 * 60);

/// 128 random bits as 32 hex digits.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    format!("{:032x}", u128::from_be_bytes(bytes))
}

impl AdminAuth {
    pub fn new(
        token: Option<SecretString>,
        identity: Arc<ClientIdentity>,
        consoles: Arc<dyn ConsoleSessions>,
    ) -> Self {
        let quota = Quota::new(FAILURES_ALLOWED, Duration::from_secs(60)).expect("a valid quota");
        Self {
            token: token.map(|t| Sha256::digest(t.expose_secret().as_bytes()).into()),
            identity,
            failures: Arc::new(FixedWindow::new(quota, SystemClock)),
            blocked: Arc::new(Mutex::new(Refusals::new(BLOCKED_ENTRIES))),
            consoles,
        }
    }

    /// Checks a presented token for `client`: `Unauthorized` (counted) or,
    /// after too many failures a minute, `RateLimited` without looking.
    pub fn check(&self, client: ClientKey, presented: Option<&str>) -> Result<(), ApiError> {
        if let Some(retry_after) = self.refused(client) {
            return Err(ApiError::RateLimited { retry_after });
        }
        if self.matches(presented) {
            return Ok(());
        }
        tracing::warn!(client = %client.redacted(), "admin: a request without the right token");
        metrics::counter!("admin_auth_failures_total").increment(1);
        Err(match self.failed(client) {
            Some(retry_after) => ApiError::RateLimited { retry_after },
            None => ApiError::Unauthorized,
        })
    }

    /// The client key of a request (its peer, or the proxies' word).
    pub fn client(
        &self,
        headers: &axum::http::HeaderMap,
        extensions: &axum::http::Extensions,
    ) -> ClientKey {
        self.identity.client_key(headers, extensions)
    }

    /// A new console session: its id (the cookie) and its form token.
    pub async fn open_console(&self) -> Result<(String, ConsoleSession), RecordError> {
        let now = now_millis();
        let expires = now + i64::try_from(CONSOLE_SESSION.as_millis()).unwrap_or(i64::MAX);
        let session = ConsoleSession {
            csrf: random_hex(),
            expires,
        };
        let id = random_hex();
        self.consoles.put(&cookie_hash(&id), &session, now).await?;
        Ok((id, session))
    }

    /// The live console session of this cookie, if any (none while its
    /// store cannot be read: the operator signs in again).
    pub async fn console(&self, id: &str) -> Option<ConsoleSession> {
        match self.consoles.get(&cookie_hash(id), now_millis()).await {
            Ok(session) => session,
            Err(error) => {
                tracing::warn!(%error, "console: its sessions cannot be read");
                None
            }
        }
    }

    pub async fn close_console(&self, id: &str) -> Result<(), RecordError> {
        self.consoles.remove(&cookie_hash(id)).await
    }

    /// Whether the API is on.
    pub fn enabled(&self) -> bool {
        self.token.is_some()
    }

    /// Seconds `client` must still wait, if it is refused now.
    fn refused(&self, client: ClientKey) -> Option<u64> {
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        let left = blocked.left(&client, Instant::now())?;
        Some(left.as_secs() + 1)
    }

    /// Counts a failure; the refusal it earns, if it was one too many.
    fn failed(&self, client: ClientKey) -> Option<u64> {
        let decision = self.failures.check_now(client);
        if decision.allowed {
            return None;
        }
        let now = Instant::now();
        let mut blocked = self.blocked.lock().unwrap_or_else(PoisonError::into_inner);
        blocked.refuse(client, now + decision.reset_after, now);
        Some(decision.retry_after_secs())
    }

    fn matches(&self, presented: Option<&str>) -> bool {
        let (Some(token), Some(presented)) = (&self.token, presented) else {
            return false;
        };
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        token.ct_eq(&presented).into()
    }
}

/// In front of every admin API route.
pub async fn require_token(
    State(auth): State<AdminAuth>,
    request: Request,
    next: Next,
) -> Response {
    if !auth.enabled() {
        return ApiError::NotFound.into_response();
    }
    let client = auth.client(request.headers(), request.extensions());
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match auth.check(client, presented) {
        Ok(()) => next.run(request).await,
        Err(error) => error.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    fn client(n: u32) -> ClientKey {
        ClientKey::from_ip(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)))
    }

    #[test]
    fn the_refusal_list_never_holds_more_than_its_cap_even_when_none_has_expired() {
        let (mut refusals, now) = (Refusals::new(3), Instant::now());
        let minute = Duration::from_secs(60);
        for n in 0..10 {
            refusals.refuse(client(n), now + minute + Duration::from_secs(n.into()), now);
            assert!(refusals.until.len() <= 3, "{} held", refusals.until.len());
        }
        // The newest stay; the ones that would have ended soonest went.
        for n in 7..10 {
            assert!(refusals.left(&client(n), now).is_some(), "client {n}");
        }
        assert_eq!(refusals.left(&client(0), now), None);
    }

    #[test]
    fn expired_refusals_go_first_and_a_refused_client_waits_out_what_is_left() {
        let (mut refusals, now) = (Refusals::new(2), Instant::now());
        refusals.refuse(client(1), now + Duration::from_secs(1), now);
        refusals.refuse(client(2), now + Duration::from_secs(60), now);
        let later = now + Duration::from_secs(2);
        refusals.refuse(client(3), later + Duration::from_secs(60), later);
        assert_eq!(refusals.left(&client(1), later), None, "expired");
        assert_eq!(
            refusals.left(&client(2), later),
            Some(Duration::from_secs(58)),
            "not expired, so kept"
        );
        assert!(refusals.left(&client(3), later).is_some());
        // Refusing one already listed again does not push another out.
        refusals.refuse(client(3), later + Duration::from_secs(90), later);
        assert!(refusals.left(&client(2), later).is_some());
    }
}

//! The chat rate limit and the conversations on Redis (or Valkey), so that
//! several replicas behind a load balancer keep one contract: 60 requests
//! per minute per client across all of them, and a conversation that
//! continues on whichever replica the balancer picks.
//!
//! * [`RedisLimiter`]: one atomic round trip per decision, a Lua script
//!   ([`WINDOW_SCRIPT`]): read the count, increment only while under the
//!   limit, set the expiry when the window opens, return the count and the
//!   time left, all by Redis's clock, so every replica agrees. Keys name the
//!   quota and hold an HMAC of the client key (`--redis-key-secret`), never
//!   the address. A client known to be over its limit is answered locally
//!   until its window ends, without a round trip.
//! * [`RedisSessions`]: a list of JSON turns per session id, appended by one
//!   script ([`APPEND_SCRIPT`]), so concurrent appends lose nothing, turns are
//!   capped, the idle expiry is Redis's, and the number of conversations fits
//!   the same byte budget as the in-memory store's (least recently used first).
//!
//! Redis failing is an operational event, not an outage ([`Redis`]): every
//! call has a short timeout; while Redis does not answer, the limiter falls
//! back to an in-process window (at worst N × the limit across N replicas)
//! or refuses (`--redis-fallback closed`), and conversations go on without
//! history. The fallback is logged once per episode and counted
//! ([`Health`]); while it is down, every call falls back at once and a
//! background probe tries Redis every 200 ms, so shared limiting resumes
//! within about that of its return, with or without traffic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::Sha256;

use crate::domain::Pending;
use crate::domain::client_ip::ClientKey;
use crate::domain::clock::SystemClock;
use crate::domain::rate_limit::{Decision, FixedWindow, Quota, RateLimiter};
use crate::domain::session::{Begun, SessionId, SessionLimits, SessionStore, SessionsUnavailable};
use support_chat_assistant::Turn;

/// A Redis connection shared by the limiter and the sessions, with the
/// timeout every call gets and the health they report into.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    timeout: Duration,
    health: Arc<Health>,
}

/// Whether Redis is answering, and how often it did not.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
    failures: AtomicU64,
}

/// While Redis is down, how often the background probe tries it.
const PROBE_EVERY: Duration = Duration::from_millis(200);

impl Health {
    /// Redis answered the last call (or the probe).
    pub fn is_up(&self) -> bool {
        !self.down.load(Ordering::Relaxed)
    }

    /// Calls that fell back since start-up.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Counts a fallback; true when this one turned Redis from up to down.
    fn failed(&self) -> bool {
        self.failures.fetch_add(1, Ordering::Relaxed);
        !self.down.swap(true, Ordering::Relaxed)
    }

    fn answered(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!(
                failures = self.failures(),
                "redis answers again: shared limits and sessions resume"
            );
        }
    }
}

impl Redis {
    /// A connection to `url` (`redis://`, `rediss://`, `unix:///path`), made
    /// lazily: the server starts even when Redis is down, and reconnects by
    /// itself (backing off to at most a second). Needs a tokio runtime.
    pub fn connect(url: &str, timeout: Duration) -> Result<Self, redis::RedisError> {
        // rediss:// needs a TLS crypto provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1));
        Ok(Self {
            connection: ConnectionManager::new_lazy_with_config(client, config)?,
            timeout,
            health: Arc::default(),
        })
    }

    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Runs `call` on the connection within the timeout; `None` (counted in
    /// [`Health`]) when Redis fails, is slow, or is known to be down. The
    /// first failure of an outage starts the background probe.
    async fn run<T, F>(&self, what: &str, call: impl FnOnce(ConnectionManager) -> F) -> Option<T>
    where
        F: Future<Output = redis::RedisResult<T>>,
    {
        if !self.health.is_up() {
            self.health.failed();
            return None;
        }
        let error = match tokio::time::timeout(self.timeout, call(self.connection.clone())).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => error.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        if self.health.failed() {
            tracing::warn!(%error, "redis unavailable ({what}): falling back until it answers");
            tokio::spawn(self.clone().probe_until_up());
        }
        None
    }

    /// While Redis is down, one `PING` every [`PROBE_EVERY`], without
    /// waiting for traffic: so the first requests after its return are
    /// decided by Redis, not by each replica's fallback. Ends when Redis
    /// answers, or when nothing but this task holds the connection.
    async fn probe_until_up(self) {
        let mut every = tokio::time::interval(PROBE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        while Arc::strong_count(&self.health) > 1 {
            every.tick().await;
            let mut connection = self.connection.clone();
            let ping_command = redis::cmd("PING");
            let ping = ping_command.query_async::<String>(&mut connection);
            if let Ok(Ok(_)) = tokio::time::timeout(self.timeout, ping).await {
                self.health.answered();
                return;
            }
        }
    }
}

/// The fixed window, atomically. `KEYS[1]`: the window's key; `ARGV[1]`: the
/// limit; `ARGV[2]`: the window in milliseconds. Returns `{allowed (0/1),
/// count, milliseconds left}`. A key that somehow lost its expiry gets it
/// back, so no client can be locked out for good.
pub const WINDOW_SCRIPT: &str = r"
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
local allowed = 0
if count < limit then
  count = redis.call('INCR', KEYS[1])
  allowed = 1
  if count == 1 then
    redis.call('PEXPIRE', KEYS[1], window)
    return {1, 1, window}
  end
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], window)
  left = window
end
return {allowed, count, left}
";

/// What the limiter does while Redis does not answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fallback {
    /// Each replica limits on its own (at worst N × the limit across N replicas).
    Local,
    /// Every chat request is refused with `429` and `Retry-After: 1`.
    Closed,
}

/// The fixed-window limit of one quota, shared through Redis.
pub struct RedisLimiter {
    redis: Redis,
    quota: Quota,
    /// Key prefix: the quota's name and numbers, so a changed quota starts afresh.
    prefix: String,
    secret: Arc<[u8]>,
    fallback: Fallback,
    local: FixedWindow,
    script: redis::Script,
    over: OverLimit,
}

impl RedisLimiter {
    /// The limiter of `quota`, named `name` in its keys, keyed by an HMAC
    /// of the client key under `secret`.
    pub fn new(
        redis: Redis,
        name: &str,
        quota: Quota,
        secret: Arc<[u8]>,
        fallback: Fallback,
    ) -> Self {
        Self {
            prefix: format!(
                "support-chat:rl:{name}:{}:{}:",
                quota.limit(),
                quota.window().as_millis()
            ),
            redis,
            quota,
            secret,
            fallback,
            local: FixedWindow::new(quota, SystemClock),
            script: redis::Script::new(WINDOW_SCRIPT),
            over: OverLimit::default(),
        }
    }

    /// The Redis key of `client`: the prefix and a keyed hash of its key.
    pub fn key_of(&self, client: ClientKey) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(client.to_string().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut key = self.prefix.clone();
        for byte in &digest[..16] {
            use std::fmt::Write;
            let _ = write!(key, "{byte:02x}");
        }
        key
    }

    /// A refusal that lasts `left`.
    fn refusal(&self, left: Duration) -> Decision {
        Decision {
            allowed: false,
            remaining: 0,
            reset_after: left,
            ..self.decision(false, 0, 0)
        }
    }

    fn decision(&self, allowed: bool, count: u64, left_ms: u64) -> Decision {
        let limit = self.quota.limit();
        let window = self.quota.window();
        Decision {
            allowed,
            limit,
            remaining: limit.saturating_sub(u32::try_from(count).unwrap_or(u32::MAX)),
            reset_after: Duration::from_millis(left_ms.max(1)).min(window),
            window,
        }
    }
}

impl RateLimiter for RedisLimiter {
    fn check(&self, client: ClientKey) -> Pending<'_, Decision> {
        Box::pin(async move {
            if let Some(left) = self.over.left(client) {
                return self.refusal(left);
            }
            let key = self.key_of(client);
            let window_ms = self.quota.window().as_millis() as u64;
            let answer = self
                .redis
                .run("rate limit", |mut connection| async move {
                    self.script
                        .key(&key)
                        .arg(self.quota.limit())
                        .arg(window_ms)
                        .invoke_async::<(u8, u64, u64)>(&mut connection)
                        .await
                })
                .await;
            match (answer, self.fallback) {
                (Some((allowed, count, left_ms)), _) => {
                    let decision = self.decision(allowed == 1, count, left_ms);
                    if !decision.allowed {
                        self.over.remember(client, decision.reset_after);
                    }
                    decision
                }
                (None, Fallback::Local) => self.local.check_now(client),
                (None, Fallback::Closed) => self.refusal(Duration::from_secs(1)),
            }
        })
    }
}

/// Clients known to be over their limit until their window ends, answered
/// here without a round trip (as Envoy's rate-limit service does). Exact: a
/// fixed window that refused a request refuses every other until it ends,
/// on every replica, and refusals do not count.
#[derive(Default)]
struct OverLimit(Mutex<HashMap<ClientKey, Instant>>);

/// Entries kept at most; past it, ended windows are swept out first.
const OVER_LIMIT_ENTRIES: usize = 100_000;

impl OverLimit {
    fn remember(&self, client: ClientKey, left: Duration) {
        let mut over = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if over.len() >= OVER_LIMIT_ENTRIES {
            over.retain(|_, until| *until > now);
            if over.len() >= OVER_LIMIT_ENTRIES {
                return;
            }
        }
        over.insert(client, now + left);
    }

    /// Time left in `client`'s refusing window, if it is known to be over.
    fn left(&self, client: ClientKey) -> Option<Duration> {
        let mut over = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let until = *over.get(&client)?;
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            over.remove(&client);
            return None;
        }
        Some(left)
    }
}

/// Appends a turn and keeps the store within its bounds, atomically.
/// `KEYS[1]`: the conversation (a list); `KEYS[2]`: the index of conversations
/// by last use (a sorted set). ARGV: the turn's JSON, the turns to keep, the
/// idle expiry in milliseconds, the most conversations to keep, and `1` when
/// the turn continues a conversation ([`Begun::Before`]): then nothing is
/// written if it is gone (erased or expired since the message arrived).
/// Expired conversations leave the index; beyond the most, the least
/// recently used are deleted. (It deletes keys it is not passed: standalone
/// Redis only.)
pub const APPEND_SCRIPT: &str = r"
local keep = tonumber(ARGV[2])
local idle = tonumber(ARGV[3])
local most = tonumber(ARGV[4])
if ARGV[5] == '1' and redis.call('EXISTS', KEYS[1]) == 0 then
  return 1
end
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -keep, -1)
redis.call('PEXPIRE', KEYS[1], idle)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('PEXPIRE', KEYS[2], idle)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - idle)
local over = redis.call('ZCARD', KEYS[2]) - most
if over > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #oldest, 2 do
    redis.call('DEL', oldest[i])
  end
end
return 0
";

/// The index of conversations by last use.
const SESSION_INDEX: &str = "support-chat:sessions";

/// What one stored turn may take in Redis at most: its JSON (a message of at
/// most `STORED_MESSAGE_BYTES`, escaped, and two article ids) and the list
/// node, rounded up.
pub const TURN_BYTES: usize = 1024;
/// What one conversation costs besides its turns: its key, the list header
/// and its index entry, rounded up.
pub const CONVERSATION_BYTES: usize = 256;

/// Conversations on Redis: `support-chat:s:<session id>`, a list of JSON
/// turns, at most `max_turns` each, expiring after `idle`; and at most as
/// many conversations as fit the byte budget (each counted at its largest),
/// the least recently used going first, like the in-memory store.
pub struct RedisSessions {
    redis: Redis,
    max_turns: usize,
    idle: Duration,
    max_conversations: usize,
    script: redis::Script,
}

impl RedisSessions {
    /// Conversations within `limits`, each counted at its largest.
    pub fn new(redis: Redis, limits: SessionLimits) -> Self {
        let max_turns = limits.max_turns.get();
        let largest = CONVERSATION_BYTES + max_turns * TURN_BYTES;
        Self {
            redis,
            max_turns,
            idle: limits.idle,
            // At least one, however small the budget.
            max_conversations: limits
                .max_sessions
                .get()
                .min(limits.max_bytes / largest)
                .max(1),
            script: redis::Script::new(APPEND_SCRIPT),
        }
    }

    fn key(id: SessionId) -> String {
        format!("support-chat:s:{id}")
    }
}

impl SessionStore for RedisSessions {
    /// Every replica's: the index of conversations by last use.
    fn live(&self) -> Pending<'_, Option<usize>> {
        Box::pin(async move {
            self.redis
                .run("sessions", |mut connection| async move {
                    redis::cmd("ZCARD")
                        .arg(SESSION_INDEX)
                        .query_async::<usize>(&mut connection)
                        .await
                })
                .await
        })
    }

    fn forget(&self, id: SessionId) -> Pending<'_, Result<(), SessionsUnavailable>> {
        Box::pin(async move {
            let key = Self::key(id);
            self.redis
                .run("sessions", |mut connection| async move {
                    redis::pipe()
                        .atomic()
                        .del(&key)
                        .zrem(SESSION_INDEX, &key)
                        .query_async::<()>(&mut connection)
                        .await
                })
                .await
                .ok_or(SessionsUnavailable)
        })
    }

    fn resume(
        &self,
        id: Option<SessionId>,
        _now: Instant,
    ) -> Pending<'_, (SessionId, Arc<[Turn]>)> {
        Box::pin(async move {
            let Some(id) = id else {
                return (SessionId::mint(), Arc::from([]));
            };
            let key = Self::key(id);
            let stored = self
                .redis
                .run("sessions", |mut connection| async move {
                    redis::cmd("LRANGE")
                        .arg(&key)
                        .arg(0)
                        .arg(-1)
                        .query_async::<Vec<String>>(&mut connection)
                        .await
                })
                .await;
            match stored {
                // Unknown or expired: a new conversation under a new id.
                Some(turns) if turns.is_empty() => (SessionId::mint(), Arc::from([])),
                Some(turns) => {
                    let turns: Vec<Turn> = turns
                        .iter()
                        .filter_map(|json| serde_json::from_str(json).ok())
                        .collect();
                    (id, turns.into())
                }
                // Redis is down: the same conversation, without its history.
                None => (id, Arc::from([])),
            }
        })
    }

    fn append(&self, id: SessionId, turn: Turn, begun: Begun, _now: Instant) -> Pending<'_, ()> {
        Box::pin(async move {
            let key = Self::key(id);
            let json = serde_json::to_string(&turn).expect("a turn serialises");
            let idle_ms = self.idle.as_millis() as u64;
            let written = self
                .redis
                .run("sessions", |mut connection| async move {
                    self.script
                        .key(&key)
                        .key(SESSION_INDEX)
                        .arg(json)
                        .arg(self.max_turns)
                        .arg(idle_ms)
                        .arg(self.max_conversations)
                        .arg(u8::from(begun == Begun::Before))
                        .invoke_async::<i64>(&mut connection)
                        .await
                })
                .await;
            if written == Some(1) {
                tracing::debug!(
                    "a turn of a conversation gone meanwhile (erased, expired) is not kept"
                );
            }
        })
    }
}

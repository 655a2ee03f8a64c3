//! Serving connections. `axum::serve` exposes no connection settings, so the
//! accept loop is ours (axum's `serve-with-hyper` example), with hyper's
//! HTTP/1 connection builder and these bounds:
//!
//! * a **header-read timeout**: a client must send a request's headers
//!   within it, or the connection is closed. Hyper also applies it while a
//!   keep-alive connection waits for its next request, so it is the **idle
//!   keep-alive timeout** too;
//! * a small **read buffer** per connection (headers must fit in it);
//! * a cap on **open connections in total** and **per client** (the TCP
//!   peer's [`ClientKey`], so an IPv6 client's whole /64 shares one cap;
//!   trusted proxies are exempt, since every visitor behind them shares
//!   their address), and per IPv6 /48, so one allocation cannot take the
//!   whole table. A connection over a cap is closed as soon as it is
//!   accepted, so it holds neither a file descriptor nor memory;
//! * accept errors (e.g. out of file descriptors) are logged once per burst,
//!   and the loop pauses briefly instead of spinning.
//!
//! On shutdown the listener closes, idle connections close at once, and
//! requests in flight finish.

use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;

use super::client::ClientIdentity;
use crate::domain::client_ip::ClientKey;

/// The connection-level bounds (see the module docs).
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    /// Time to send a request's headers; also the idle keep-alive timeout.
    pub header_read_timeout: Duration,
    /// Read buffer per connection, in bytes (at least 8,192: hyper's floor).
    pub read_buffer_bytes: usize,
    /// Connections open at once, in total.
    pub max_connections: NonZeroUsize,
    /// Connections open at once per client (untrusted TCP peer).
    pub max_connections_per_client: NonZeroUsize,
    /// Connections open at once per IPv6 /48 (untrusted TCP peers).
    pub max_connections_per_network: NonZeroUsize,
}

/// How long shutdown waits for open connections to finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// How long the accept loop pauses after an accept error.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// At most one accept-error log line per this long.
const ACCEPT_ERROR_LOG_EVERY: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` within `limits` until `shutdown` resolves,
/// then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    identity: Arc<ClientIdentity>,
    shutdown: impl Future<Output = ()>,
) {
    // Turn every handler into a route once, not per request (what
    // `axum::serve` does through `into_make_service`).
    let router = router.with_state::<()>(());
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.read_buffer_bytes.max(8192));
    let open = Arc::new(Semaphore::new(limits.max_connections.get()));
    let per_client = ConnectionCounts::new(
        limits.max_connections_per_client.get(),
        limits.max_connections_per_network.get(),
    );
    let graceful = GracefulShutdown::new();
    let mut accept_errors = AcceptErrors::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    accept_errors.record(&error);
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(total) = open.clone().try_acquire_owned() else {
            tracing::debug!("connection cap reached: closing a new connection");
            continue;
        };
        let client = (!identity.is_trusted(peer.ip())).then(|| identity.key_for(peer.ip()));
        let Some(slot) = per_client.take(client, total) else {
            tracing::debug!("per-client connection cap reached: closing a new connection");
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        metrics::gauge!("connections_open").increment(1.0);
        tokio::spawn(async move {
            // Errors here are the client's doing (a timeout, a reset, bad HTTP).
            let _ = connection.await;
            drop(slot);
            metrics::gauge!("connections_open").decrement(1.0);
        });
    }
    drop(listener);
    // Requests in flight end within their own deadlines; a client that reads
    // its answer slowly does not keep the process up past this.
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: closing connections still open after 30 s");
    }
}

/// Counts each client's open connections, and each IPv6 client's wider
/// network's (its /[`NETWORK_PREFIX`]): so one allocation of many /64s
/// cannot take the whole table. An entry lives while it has a connection, so
/// there are at most twice `max_connections` entries.
#[derive(Clone)]
struct ConnectionCounts {
    cap: usize,
    network_cap: usize,
    open: Arc<Mutex<HashMap<ClientKey, usize>>>,
}

/// The IPv6 network whose connections are capped together.
const NETWORK_PREFIX: u8 = 48;

/// One open connection's place in the caps, given back on drop.
struct Slot {
    _total: OwnedSemaphorePermit,
    /// The keys it counts against, and their counts.
    counted: Vec<ClientKey>,
    owner: ConnectionCounts,
}

impl ConnectionCounts {
    fn new(cap: usize, network_cap: usize) -> Self {
        Self {
            cap,
            network_cap,
            open: Arc::default(),
        }
    }

    /// A slot for `client` (none for trusted proxies), or `None` when the
    /// client or its network is at its cap.
    fn take(&self, client: Option<ClientKey>, total: OwnedSemaphorePermit) -> Option<Slot> {
        let counted: Vec<(ClientKey, usize)> = match client {
            None => Vec::new(),
            Some(key) => std::iter::once((key, self.cap))
                .chain(key.widened(NETWORK_PREFIX).map(|n| (n, self.network_cap)))
                .collect(),
        };
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        if counted
            .iter()
            .any(|(key, cap)| open.get(key).is_some_and(|n| n >= cap))
        {
            return None;
        }
        for (key, _) in &counted {
            *open.entry(*key).or_insert(0) += 1;
        }
        Some(Slot {
            _total: total,
            counted: counted.into_iter().map(|(key, _)| key).collect(),
            owner: self.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self
            .owner
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for key in &self.counted {
            if let Some(count) = open.get_mut(key) {
                *count -= 1;
                if *count == 0 {
                    open.remove(key);
                }
            }
        }
    }
}

/// Accept errors, logged once per burst with how many were not.
#[derive(Default)]
struct AcceptErrors {
    last_logged: Option<Instant>,
    unlogged: u64,
}

impl AcceptErrors {
    fn record(&mut self, error: &std::io::Error) {
        let now = Instant::now();
        if self
            .last_logged
            .is_some_and(|at| now.duration_since(at) < ACCEPT_ERROR_LOG_EVERY)
        {
            self.unlogged += 1;
            return;
        }
        tracing::warn!(
            %error,
            since_last_logged = self.unlogged,
            "cannot accept connections (logged at most every 10 s)"
        );
        self.last_logged = Some(now);
        self.unlogged = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_accept_errors_is_logged_once_and_counted() {
        let mut errors = AcceptErrors::default();
        let error = std::io::Error::from_raw_os_error(24); // EMFILE
        errors.record(&error);
        let first = errors.last_logged.expect("the first error is logged");
        for _ in 0..1000 {
            errors.record(&error);
        }
        assert_eq!(
            errors.last_logged,
            Some(first),
            "not logged again within 10 s"
        );
        assert_eq!(errors.unlogged, 1000);
        errors.last_logged = Some(first - ACCEPT_ERROR_LOG_EVERY);
        errors.record(&error);
        assert_eq!(
            errors.unlogged, 0,
            "logged again, with the count, after 10 s"
        );
    }

    #[test]
    fn per_client_places_are_capped_and_given_back() {
        let open = Arc::new(Semaphore::new(10));
        let per_client = ConnectionCounts::new(2, 100);
        let key = ClientKey::from_ip("192.0.2.1".parse().unwrap());
        let take = || per_client.take(Some(key), open.clone().try_acquire_owned().unwrap());
        let (a, b) = (take(), take());
        assert!(a.is_some() && b.is_some());
        assert!(take().is_none(), "the third from one client is refused");
        assert_eq!(
            open.available_permits(),
            8,
            "a refused one gives its total place back"
        );
        assert!(
            per_client
                .take(None, open.clone().try_acquire_owned().unwrap())
                .is_some()
        );
        drop((a, b));
        assert!(
            per_client.open.lock().unwrap().is_empty(),
            "the client is forgotten"
        );
    }

    #[test]
    fn the_64s_of_one_ipv6_48_share_its_connection_cap() {
        let open = Arc::new(Semaphore::new(100));
        let per_client = ConnectionCounts::new(2, 5);
        let take = |ip: &str| {
            let key = ClientKey::from_ip(ip.parse().unwrap());
            per_client.take(Some(key), open.clone().try_acquire_owned().unwrap())
        };
        let held: Vec<_> = (0..5)
            .map(|n| take(&format!("2001:db8:0:{n:x}::1")).expect("under both caps"))
            .collect();
        assert!(take("2001:db8:0:ff::1").is_none(), "the /48 is full");
        assert!(take("2001:db8:1::1").is_some(), "another /48 is not");
        drop(held);
        assert!(take("2001:db8:0:ff::1").is_some(), "places come back");
    }
}

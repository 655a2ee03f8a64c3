//! [`PerClient`]: at most `cap` of one client's requests are worked on at
//! once; the others wait their turn, in order. Waiting, not refusing, keeps
//! the rate limit's promise (every request it allows is answered) while one
//! client cannot take every shared place.
//!
//! Memory: one entry per client with a request working or waiting, removed
//! when its last one ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::domain::client_ip::ClientKey;

#[derive(Clone)]
pub struct PerClient {
    cap: usize,
    clients: Arc<Mutex<HashMap<ClientKey, Arc<Semaphore>>>>,
}

/// One request's place; the next waiting request of the client gets it on drop.
pub struct Place {
    permit: Option<OwnedSemaphorePermit>,
    key: ClientKey,
    owner: PerClient,
}

impl PerClient {
    pub fn new(cap: usize) -> Self {
        Self {
            cap: cap.max(1),
            clients: Arc::default(),
        }
    }

    /// Waits for one of `key`'s places.
    pub async fn enter(&self, key: ClientKey) -> Place {
        // Cloned under the lock, so an entry with a waiter is never removed;
        // and forgotten through `Waiting`'s drop, whether this future ends or
        // is cancelled (its request timed out, its client left).
        let waiting = Waiting {
            semaphore: Some(
                self.lock()
                    .entry(key)
                    .or_insert_with(|| Arc::new(Semaphore::new(self.cap)))
                    .clone(),
            ),
            key,
            owner: self.clone(),
        };
        let semaphore = waiting.semaphore.clone().expect("set above");
        let permit = semaphore
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        drop(waiting);
        Place {
            permit: Some(permit),
            key,
            owner: self.clone(),
        }
    }

    /// Drops `key`'s entry when nothing but the map holds it.
    fn forget_if_idle(&self, key: &ClientKey) {
        let mut clients = self.lock();
        if clients.get(key).is_some_and(|s| Arc::strong_count(s) == 1) {
            clients.remove(key);
        }
    }

    /// Clients with a request working or waiting.
    pub fn clients(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ClientKey, Arc<Semaphore>>> {
        self.clients.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A request waiting for a place: holds a clone of its client's semaphore.
struct Waiting {
    semaphore: Option<Arc<Semaphore>>,
    key: ClientKey,
    owner: PerClient,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        drop(self.semaphore.take());
        self.owner.forget_if_idle(&self.key);
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        // Only the map holds it afterwards: nobody works or waits for this client.
        drop(self.permit.take());
        self.owner.forget_if_idle(&self.key);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::time::Duration;

    use super::*;

    fn key(n: u8) -> ClientKey {
        ClientKey::from_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)))
    }

    #[tokio::test]
    async fn a_client_over_its_cap_waits_its_turn_while_others_go_ahead() {
        let places = PerClient::new(2);
        let first = places.enter(key(1)).await;
        let _second = places.enter(key(1)).await;
        let waiting = tokio::spawn({
            let places = places.clone();
            async move { places.enter(key(1)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the third waits");
        let _other = tokio::time::timeout(Duration::from_secs(1), places.enter(key(2)))
            .await
            .expect("another client does not wait");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("the third goes when the first ends")
            .unwrap();
        drop(third);
    }

    #[tokio::test]
    async fn a_client_is_forgotten_when_its_last_request_ends() {
        let places = PerClient::new(1);
        let one = places.enter(key(1)).await;
        let two = places.enter(key(2)).await;
        assert_eq!(places.clients(), 2);
        drop(one);
        assert_eq!(places.clients(), 1);
        drop(two);
        assert_eq!(places.clients(), 0);
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_leaves_nothing_behind() {
        let places = PerClient::new(1);
        let first = places.enter(key(1)).await;
        let gave_up = tokio::time::timeout(Duration::from_millis(50), places.enter(key(1))).await;
        assert!(gave_up.is_err(), "it waited and was cancelled");
        drop(first);
        assert_eq!(places.clients(), 0, "no entry is left for the client");
    }
}

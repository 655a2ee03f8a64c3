//! The chat limiter's cost per decision and memory per client at 1 M
//! clients, against a baseline measured in the same run: a bare
//! single-threaded `HashMap` upsert of the same keys (the least any
//! in-memory per-client counter can cost).
//!
//! `cargo bench --bench limiter` (release build); prints one JSON line.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Instant;

use support_chat::domain::client_ip::ClientKey;
use support_chat::domain::clock::SystemClock;
use support_chat::domain::rate_limit::{FixedWindow, Quota};

const CLIENTS: u32 = 1_000_000;
const PASSES: u32 = 3;
const HOT_CHECKS: u32 = 5_000_000;

/// Resident memory, from /proc/self/statm (Linux, 4 KiB pages).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(0)
        * 4096
}

fn ns_per(start: Instant, ops: u64) -> f64 {
    start.elapsed().as_nanos() as f64 / ops as f64
}

fn run(limiter: &FixedWindow, keys: &[ClientKey], passes: u32) -> u64 {
    let mut allowed = 0;
    for _ in 0..passes {
        for &key in keys {
            allowed += u64::from(black_box(limiter.check_now(key)).allowed);
        }
    }
    allowed
}

fn two_threads(limiter: &Arc<FixedWindow>, keys: &Arc<Vec<ClientKey>>, passes: u32) -> f64 {
    let start = Instant::now();
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let (limiter, keys) = (Arc::clone(limiter), Arc::clone(keys));
            std::thread::spawn(move || {
                let half = keys.len() / 2;
                run(&limiter, &keys[t * half..(t + 1) * half], passes)
            })
        })
        .collect();
    for handle in handles {
        black_box(handle.join().unwrap());
    }
    ns_per(start, u64::from(passes) * keys.len() as u64)
}

fn baseline(keys: &[ClientKey], passes: u32) -> (f64, f64) {
    let mut map: HashMap<ClientKey, (u64, u32)> = HashMap::new();
    let before = rss_bytes();
    for (i, &key) in keys.iter().enumerate() {
        map.entry(key).or_insert((i as u64, 0)).1 += 1;
    }
    let bytes = rss_bytes().saturating_sub(before) as f64 / keys.len() as f64;
    let start = Instant::now();
    for _ in 0..passes {
        for &key in keys {
            map.entry(black_box(key)).or_insert((0, 0)).1 += 1;
        }
    }
    black_box(&map);
    (ns_per(start, u64::from(passes) * keys.len() as u64), bytes)
}

fn main() {
    let quota: Quota = "60/60s".parse().unwrap();
    let keys: Arc<Vec<ClientKey>> = Arc::new(
        (0..CLIENTS)
            .map(|i| ClientKey::from_ip(IpAddr::V4(Ipv4Addr::from(0x0A00_0000 + i * 7))))
            .collect(),
    );
    let (baseline_ns, baseline_bytes) = baseline(&keys, PASSES);

    let limiter = Arc::new(FixedWindow::new(quota, SystemClock));
    let rss_before = rss_bytes();
    let start = Instant::now();
    black_box(run(&limiter, &keys, 1));
    let new_key_ns = ns_per(start, u64::from(CLIENTS));
    let bytes_per_client = rss_bytes().saturating_sub(rss_before) as f64 / f64::from(CLIENTS);
    assert_eq!(limiter.len(), CLIENTS as usize);

    let start = Instant::now();
    black_box(run(&limiter, &keys, PASSES));
    let repeat_ns = ns_per(start, u64::from(PASSES * CLIENTS));
    let repeat_2t_ns = two_threads(&limiter, &keys, PASSES);

    let start = Instant::now();
    black_box(run(&limiter, &[keys[0]], HOT_CHECKS));
    let hot_ns = ns_per(start, u64::from(HOT_CHECKS));

    let start = Instant::now();
    limiter.sweep();
    let sweep_ms = start.elapsed().as_secs_f64() * 1e3;

    println!(
        "{{\"clients\":{CLIENTS},\"entry_bytes\":{entry},\
\"baseline_hashmap_ns\":{baseline_ns:.1},\"baseline_hashmap_bytes_per_client\":{baseline_bytes:.1},\
\"new_client_ns\":{new_key_ns:.1},\"known_client_ns\":{repeat_ns:.1},\"known_client_ns_2_threads\":{repeat_2t_ns:.1},\
\"hot_client_ns\":{hot_ns:.1},\"bytes_per_client\":{bytes_per_client:.1},\"sweep_ms_1m_live\":{sweep_ms:.1},\
\"ratio_known_client_vs_baseline\":{ratio:.2},\"ratio_bytes_vs_baseline\":{bytes_ratio:.2}}}",
        entry = FixedWindow::<SystemClock>::ENTRY_BYTES,
        ratio = repeat_ns / baseline_ns,
        bytes_ratio = bytes_per_client / baseline_bytes,
    );
}

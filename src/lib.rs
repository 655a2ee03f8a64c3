//! support-chat: the public support assistant of a UK business lender.
//!
//! Without the default `ssr` feature this crate is only [`api`], the wire
//! types that the wasm widget (`widget/`) compiles in. With it, it is the
//! server: [`app::app`] builds the whole axum router without a socket, and
//! [`serve`] binds it.

pub mod api;

// The server, module by module; none of it is compiled into the widget.
#[cfg(feature = "ssr")]
pub mod app;
#[cfg(feature = "ssr")]
pub mod assets;
#[cfg(feature = "ssr")]
pub mod assistant;
#[cfg(feature = "ssr")]
pub mod chat;
#[cfg(feature = "ssr")]
pub mod client_ip;
#[cfg(feature = "ssr")]
pub mod config;
#[cfg(feature = "ssr")]
pub mod demo;
#[cfg(feature = "ssr")]
pub mod error;
#[cfg(feature = "ssr")]
pub mod extract;
#[cfg(feature = "ssr")]
pub mod guard;
#[cfg(feature = "ssr")]
pub mod openapi;
#[cfg(feature = "ssr")]
pub mod rate_limit;
#[cfg(feature = "ssr")]
pub mod request_id;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod telemetry;

/// `N` bytes from the operating system's CSPRNG, as `2 * N` lowercase hex digits.
#[cfg(feature = "ssr")]
pub fn random_hex<const N: usize>() -> String {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
        .iter()
        .fold(String::with_capacity(2 * N), |mut hex, b| {
            use std::fmt::Write;
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

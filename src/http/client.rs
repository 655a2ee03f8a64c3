//! Who sent a request, as the domain's [`ClientKey`]: the one place that
//! reads the TCP peer and `X-Forwarded-For` off a request.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

use crate::domain::client_ip::{ClientIpConfig, ClientKey};

/// The rate-limit key of a request: its TCP peer, or with trusted proxies
/// configured, the first untrusted `X-Forwarded-For` hop from the right.
pub fn client_key(
    config: &ClientIpConfig,
    headers: &HeaderMap,
    extensions: &Extensions,
) -> ClientKey {
    // Without ConnectInfo (never the case when served by `startup::serve`)
    // all requests share one key: the safe direction to fail.
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .map(|v| v.to_str().unwrap_or("<invalid>"))
        .collect();
    config.client_key(peer, &forwarded)
}

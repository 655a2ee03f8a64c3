//! Who sent a request: the one place that reads the TCP peer and
//! `X-Forwarded-For`, and turns them into the domain's [`ClientKey`].
//!
//! By default the client is the TCP peer, and `X-Forwarded-For` is ignored:
//! anyone can send that header, so trusting it from an arbitrary peer would
//! let a client pick its own identity (and its own rate-limit bucket).
//!
//! With a list of trusted proxies configured ([`TrustedProxies`], e.g.
//! `"10.0.0.0/8,192.168.1.1"`; a bare address means `/32` or `/128`):
//!
//! * If the TCP peer is **not** trusted, it is the client; the header is not
//!   looked at.
//! * If the peer is trusted, `X-Forwarded-For` is walked from the **right**
//!   (the entry appended by the nearest proxy) to the left, skipping trusted
//!   proxies. The first untrusted address is the client. Entries to its left
//!   were written by the client or by proxies we know nothing about, so they
//!   are never believed, however plausible they look.
//! * If every entry is trusted, the leftmost entry is the client (the request
//!   came from inside the trusted network).
//! * If an entry cannot be parsed, the walk stops and the nearest hop we
//!   reached — the peer or the last trusted proxy parsed — is the client.
//!   That is the nearest address we can vouch for: it may lump several real
//!   clients behind that proxy into one bucket, but a malformed entry can
//!   never be used to choose an arbitrary identity. (Note that a client can
//!   only get its own garbage this far if the client itself is trusted: a
//!   trusted proxy appends the untrusted client's real address, and the walk
//!   stops there.)
//! * Empty list elements (`"a, , b"`, empty header lines) are ignored, as
//!   RFC 9110 §5.6.1 asks of list-based fields.
//!
//! Several `X-Forwarded-For` header lines are one list, concatenated in order.
//! Each line is split on commas as raw bytes: an entry that is not UTF-8 (a
//! byte of 0x80 or more) is malformed like any other unparsable entry, and
//! the entries to its right, which the trusted proxies appended, still count.
//!
//! Entries may carry ports (`1.2.3.4:5678`, `[2001:db8::1]:443`) or brackets
//! (`[2001:db8::1]`). IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are
//! treated as the IPv4 address everywhere: in the peer, in header entries and
//! in the trusted-proxy list. The RFC 7239 `Forwarded` header is not read.
//!

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderValue};
// `ipnet` gives CIDR parsing, host-bit truncation and containment for both
// address families (`IpNet::contains`), which is fiddly and security-relevant
// to hand-roll.
use ipnet::{IpNet, Ipv4Net};

use crate::domain::client_ip::{ClientKey, Ipv6Prefix};

/// How to find a request's client: the trusted proxies, and the prefix IPv6
/// clients are keyed by. `Default` trusts no proxy (the TCP peer is always
/// the client) and keys IPv6 by `/64`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientIdentity {
    trusted: Vec<IpNet>,
    ipv6_prefix: Ipv6Prefix,
}

impl ClientIdentity {
    pub fn new(trusted: TrustedProxies, ipv6_prefix: Ipv6Prefix) -> Self {
        Self {
            trusted: trusted.0,
            ipv6_prefix,
        }
    }

    /// The trusted proxy networks (IPv4-mapped ranges normalised to IPv4).
    pub fn trusted_proxies(&self) -> &[IpNet] {
        &self.trusted
    }

    /// Whether `ip` (IPv4-mapped normalised) is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// The client's address, from the TCP `peer` and the request's
    /// `X-Forwarded-For` header lines in order (see the module docs).
    /// Always returns a canonical address (IPv4-mapped become IPv4).
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[&[u8]]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        // Nearest hop we can vouch for so far.
        let mut nearest = peer;
        let entries = forwarded_for
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(|&b| b == b','))
            .filter(|entry| !entry.trim_ascii().is_empty());
        for entry in entries {
            let Some(hop) = parse_forwarded_entry(entry) else {
                return nearest;
            };
            if !self.is_trusted(hop) {
                return hop;
            }
            nearest = hop;
        }
        nearest
    }

    /// The rate-limit key of `ip` under the configured IPv6 prefix.
    pub fn key_for(&self, ip: IpAddr) -> ClientKey {
        ClientKey::new(ip, self.ipv6_prefix)
    }

    /// The rate-limit key of a request: its TCP peer, or with trusted
    /// proxies, the first untrusted `X-Forwarded-For` hop from the right.
    pub fn client_key(&self, headers: &HeaderMap, extensions: &Extensions) -> ClientKey {
        // Without ConnectInfo (never the case when served by our accept
        // loop) all requests share one key: the safe direction to fail.
        let peer = extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let forwarded: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(HeaderValue::as_bytes)
            .collect();
        self.key_for(self.client_ip(peer, &forwarded))
    }
}

/// The proxies whose `X-Forwarded-For` is believed, parsed once from a
/// comma-separated list of CIDRs or bare addresses
/// (`"10.0.0.0/8, 192.168.1.1, 2001:db8::/32"`; empty means none).
///
/// A CIDR with host bits set (`10.1.2.3/8`) is rejected rather than
/// silently widened, since it is usually a typo for a narrower range.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl std::str::FromStr for TrustedProxies {
    type Err = TrustedProxyError;

    fn from_str(list: &str) -> Result<Self, TrustedProxyError> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_trusted_net)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

fn parse_trusted_net(entry: &str) -> Result<IpNet, TrustedProxyError> {
    let error = |why: String| TrustedProxyError {
        entry: entry.to_owned(),
        why,
    };
    let net = if entry.contains('/') {
        let net: IpNet = entry.parse().map_err(|_| error("not a CIDR".into()))?;
        if net.trunc() != net {
            return Err(error(format!(
                "host bits are set; did you mean {}?",
                net.trunc()
            )));
        }
        net
    } else {
        let ip: IpAddr = entry
            .parse()
            .map_err(|_| error("not an IP address".into()))?;
        IpNet::from(ip)
    };
    Ok(canonical_net(net))
}

/// `::ffff:a.b.c.d/104` → `a.b.c.0/8`, so mapped ranges match canonical addresses.
fn canonical_net(net: IpNet) -> IpNet {
    if let IpNet::V6(v6) = net
        && v6.prefix_len() >= 96
        && let Some(v4) = v6.addr().to_ipv4_mapped()
        && let Ok(v4net) = Ipv4Net::new(v4, v6.prefix_len() - 96)
    {
        return IpNet::V4(v4net);
    }
    net
}

/// One `X-Forwarded-For` entry: `ip`, `ipv4:port`, `[ipv6]` or `[ipv6]:port`,
/// with white space around it; `None` for anything else, bytes that are not
/// UTF-8 included.
fn parse_forwarded_entry(entry: &[u8]) -> Option<IpAddr> {
    let entry = std::str::from_utf8(entry).ok()?.trim();
    let ip = if let Ok(ip) = entry.parse::<IpAddr>() {
        ip
    } else if let Ok(sock) = entry.parse::<SocketAddr>() {
        sock.ip()
    } else {
        entry
            .strip_prefix('[')?
            .strip_suffix(']')?
            .parse::<Ipv6Addr>()
            .ok()
            .map(IpAddr::V6)?
    };
    Some(ip.to_canonical())
}

/// A `--trusted-proxies` entry that is not an address or a CIDR.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid trusted proxy {entry:?}: {why} (expected an IP address or CIDR, e.g. \"10.0.0.0/8,192.168.1.1\")"
)]
pub struct TrustedProxyError {
    entry: String,
    why: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn config(trusted: &str) -> ClientIdentity {
        ClientIdentity::new(trusted.parse().unwrap(), Ipv6Prefix::default())
    }

    /// The client behind `peer` with these `X-Forwarded-For` lines.
    fn walk(cfg: &ClientIdentity, peer: IpAddr, lines: &[&str]) -> IpAddr {
        let lines: Vec<&[u8]> = lines.iter().map(|line| line.as_bytes()).collect();
        cfg.client_ip(peer, &lines)
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_and_the_header_is_ignored() {
        let cfg = ClientIdentity::default();
        assert_eq!(
            walk(&cfg, ip("203.0.113.7"), &["1.1.1.1"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn spoofed_xff_from_an_untrusted_peer_is_ignored() {
        let cfg = config("10.0.0.0/8");
        let got = walk(&cfg, ip("203.0.113.7"), &["10.0.0.1, 198.51.100.1"]);
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn a_trusted_proxy_chain_is_walked_from_the_right() {
        let cfg = config("10.0.0.0/8,192.168.1.1");
        // client 198.51.100.9 -> 192.168.1.1 -> 10.0.0.2 -> peer 10.0.0.1
        let got = walk(
            &cfg,
            ip("10.0.0.1"),
            &["198.51.100.9, 192.168.1.1, 10.0.0.2"],
        );
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn the_leftmost_entry_is_never_trusted_when_an_untrusted_hop_is_to_its_right() {
        let cfg = config("10.0.0.0/8");
        // The client sent "1.1.1.1" itself; the proxy appended its real address.
        let got = walk(&cfg, ip("10.0.0.1"), &["1.1.1.1, 203.0.113.7"]);
        assert_eq!(got, ip("203.0.113.7"));
        // Even a forged "trusted" address to the left changes nothing.
        let got = walk(&cfg, ip("10.0.0.1"), &["10.9.9.9, 203.0.113.7, 10.0.0.2"]);
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn when_every_entry_is_trusted_the_leftmost_entry_is_the_client() {
        let cfg = config("10.0.0.0/8");
        let got = walk(&cfg, ip("10.0.0.1"), &["10.1.1.1, 10.2.2.2"]);
        assert_eq!(got, ip("10.1.1.1"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let cfg = config("10.0.0.0/8");
        assert_eq!(walk(&cfg, ip("10.0.0.1"), &[]), ip("10.0.0.1"));
        assert_eq!(walk(&cfg, ip("10.0.0.1"), &[""]), ip("10.0.0.1"));
    }

    #[test]
    fn multiple_header_lines_are_concatenated_in_order() {
        let cfg = config("10.0.0.0/8");
        let lines = ["1.1.1.1, 198.51.100.9", "10.0.0.3", "10.0.0.2"];
        assert_eq!(walk(&cfg, ip("10.0.0.1"), &lines), ip("198.51.100.9"));
        let lines = ["198.51.100.9", "203.0.113.7"];
        assert_eq!(walk(&cfg, ip("10.0.0.1"), &lines), ip("203.0.113.7"));
    }

    #[test]
    fn empty_list_elements_are_ignored() {
        let cfg = config("10.0.0.0/8");
        let lines = ["198.51.100.9, ,", "", " , 10.0.0.2"];
        assert_eq!(walk(&cfg, ip("10.0.0.1"), &lines), ip("198.51.100.9"));
    }

    #[test]
    fn entries_with_ports_and_brackets_are_accepted() {
        let cfg = config("10.0.0.0/8,2001:db8:ffff::/48");
        let peer = ip("10.0.0.1");
        assert_eq!(walk(&cfg, peer, &["198.51.100.9:5678"]), ip("198.51.100.9"));
        assert_eq!(walk(&cfg, peer, &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(walk(&cfg, peer, &["[2001:db8::1]"]), ip("2001:db8::1"));
        let chain = ["198.51.100.9, [2001:db8:ffff::1]:80, 10.0.0.2:1234"];
        assert_eq!(walk(&cfg, peer, &chain), ip("198.51.100.9"));
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4_in_peer_entries_and_config() {
        let cfg = config("10.0.0.0/8");
        // Mapped peer is trusted by the IPv4 range.
        let got = walk(&cfg, ip("::ffff:10.0.0.1"), &["::ffff:198.51.100.9"]);
        assert_eq!(got, ip("198.51.100.9"));
        // Mapped untrusted peer comes back as plain IPv4.
        assert_eq!(walk(&cfg, ip("::ffff:203.0.113.7"), &[]), ip("203.0.113.7"));
        // Mapped trusted entry is skipped.
        let got = walk(
            &cfg,
            ip("10.0.0.1"),
            &["198.51.100.9, [::ffff:10.0.0.2]:80"],
        );
        assert_eq!(got, ip("198.51.100.9"));
        // Mapped range in the config matches plain IPv4.
        let cfg = config("::ffff:10.0.0.0/104");
        assert_eq!(
            cfg.trusted_proxies(),
            &["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert!(cfg.is_trusted(ip("10.1.2.3")));
    }

    #[test]
    fn a_malformed_entry_makes_the_nearest_vouched_hop_the_client() {
        let cfg = config("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        assert_eq!(walk(&cfg, peer, &["198.51.100.9, garbage"]), peer);
        let got = walk(&cfg, peer, &["198.51.100.9, unknown, 10.0.0.2"]);
        assert_eq!(got, ip("10.0.0.2"));
        assert_eq!(walk(&cfg, peer, &["1.2.3.4:notaport"]), peer);
        assert_eq!(walk(&cfg, peer, &["fe80::1%eth0"]), peer);
        // Garbage to the left of the first untrusted hop is never reached.
        assert_eq!(
            walk(&cfg, peer, &["garbage, 198.51.100.9"]),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn trusted_proxies_parse_cidrs_and_bare_addresses() {
        let cfg = config(" 10.0.0.0/8, 192.168.1.1 ,2001:db8::1,, ");
        let nets: Vec<String> = cfg
            .trusted_proxies()
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.168.1.1/32", "2001:db8::1/128"]);
        assert!(cfg.is_trusted(ip("192.168.1.1")));
        assert!(!cfg.is_trusted(ip("192.168.1.2")));
        assert!(config("").trusted_proxies().is_empty());
    }

    #[test]
    fn bad_trusted_proxies_are_rejected_with_a_clear_message() {
        for (input, needle) in [
            ("10.0.0.0/33", "not a CIDR"),
            ("localhost", "not an IP address"),
            ("10.0.0.1:80", "not an IP address"),
            ("10.1.2.3/8", "did you mean 10.0.0.0/8?"),
            ("10.0.0.0/8;192.168.0.1", "not a CIDR"),
        ] {
            let err = input.parse::<TrustedProxies>().unwrap_err().to_string();
            assert!(err.contains(needle), "{input}: {err}");
            assert!(err.contains("invalid trusted proxy"), "{input}: {err}");
        }
    }

    #[test]
    fn a_byte_over_0x7f_spoils_only_its_own_entry_not_the_proxys() {
        let cfg = config("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        // The client wrote garbage with a high byte; the proxy appended the
        // client's real address to the same line.
        let line: &[u8] = b"\xff\xfe garbage, 198.51.100.9";
        assert_eq!(cfg.client_ip(peer, &[line]), ip("198.51.100.9"));
        let line: &[u8] = b"1.1.1.1, 198.51.100.9\xe9";
        assert_eq!(
            cfg.client_ip(peer, &[line]),
            peer,
            "a spoilt hop stops the walk"
        );
    }

    #[test]
    fn a_request_is_keyed_by_its_peer_and_its_forwarded_for_lines() {
        let cfg = config("10.0.0.0/8");
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 4000))));
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("1.1.1.1"));
        headers.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff, 198.51.100.9").unwrap(),
        );
        let key = cfg.client_key(&headers, &extensions);
        assert_eq!(key, ClientKey::from_ip(ip("198.51.100.9")));
    }
}

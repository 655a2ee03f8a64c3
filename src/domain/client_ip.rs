//! Which client sent a request, and the key it is rate-limited under.
//!
//! # Client IP
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
//! Several `X-Forwarded-For` header lines are one list, concatenated in order,
//! so pass every line, in order, as `&[&str]`. A line that is not valid UTF-8
//! should be passed as some unparsable text (e.g. `"<invalid>"`), not dropped,
//! so that it counts as a malformed entry.
//!
//! Entries may carry ports (`1.2.3.4:5678`, `[2001:db8::1]:443`) or brackets
//! (`[2001:db8::1]`). IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`) are
//! treated as the IPv4 address everywhere: in the peer, in header entries and
//! in the trusted-proxy list. The RFC 7239 `Forwarded` header is not read.
//!
//! # Client key
//!
//! [`ClientKey`] is what the rate limiter counts against. An IPv4 client is
//! keyed by its address. An IPv6 client is keyed by its network prefix, `/64`
//! by default (configurable 32..=128): a single host is normally handed a
//! whole `/64`, so keying by the full address would give it 2^64 buckets.
//!
//! # Logging
//!
//! Logs must not hold full client addresses: log [`ClientKey::redacted`] or
//! [`redact_ip`] (IPv4 with the last octet zeroed, IPv6 as its `/48`), never
//! the `Display`/`Debug` of a [`ClientKey`] or an [`IpAddr`].

use std::error::Error;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

// `ipnet` gives CIDR parsing, host-bit truncation and containment for both
// address families (`IpNet::contains`), which is fiddly and security-relevant
// to hand-roll; it is small, widely used and has no dependencies of its own.
use ipnet::{IpNet, Ipv4Net};

/// Default IPv6 prefix length a client is keyed by.
pub const DEFAULT_IPV6_PREFIX: u8 = 64;

/// Prefix length IPv6 addresses are reduced to by [`redact_ip`].
const REDACTED_IPV6_PREFIX: u8 = 48;

/// Rate-limit key of a client: an IPv4 address, or an IPv6 network prefix.
///
/// 18 bytes, `Copy`. `Display` gives the full key (`"203.0.113.7"`,
/// `"2001:db8:1:2::/64"`), suitable as a shared-store key but **not** for
/// logs; use [`ClientKey::redacted`] there.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ClientKey(Repr);

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Repr {
    V4(Ipv4Addr),
    /// Network address (host bits zeroed) and prefix length.
    V6(Ipv6Addr, u8),
}

impl ClientKey {
    /// Key for `ip`, with IPv6 masked to [`DEFAULT_IPV6_PREFIX`].
    /// IPv4-mapped IPv6 addresses become IPv4 keys.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self::with_prefix(ip, DEFAULT_IPV6_PREFIX)
    }

    /// Key for `ip`, with IPv6 masked to `ipv6_prefix` (clamped to 32..=128;
    /// [`ClientIpConfig`] validates it instead of clamping). An IPv6 address
    /// that carries an IPv4 address ([`embedded_ipv4`]) is keyed as that IPv4.
    fn with_prefix(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey(Repr::V4(v4)),
            IpAddr::V6(v6) => match embedded_ipv4(v6) {
                Some(v4) => ClientKey(Repr::V4(v4)),
                None => {
                    let prefix = ipv6_prefix.clamp(32, 128);
                    ClientKey(Repr::V6(mask_v6(v6, prefix), prefix))
                }
            },
        }
    }

    /// The key of the wider IPv6 network of `prefix` bits that holds this
    /// one (an aggregate quota's key); `None` for IPv4 keys and for a prefix
    /// not shorter than the key's own.
    pub fn widened(&self, prefix: u8) -> Option<ClientKey> {
        match self.0 {
            Repr::V6(net, own) if prefix < own => {
                Some(ClientKey(Repr::V6(mask_v6(net, prefix), prefix)))
            }
            _ => None,
        }
    }

    /// The key's address: the IPv4 address, or the IPv6 network address.
    pub fn ip(&self) -> IpAddr {
        match self.0 {
            Repr::V4(v4) => IpAddr::V4(v4),
            Repr::V6(net, _) => IpAddr::V6(net),
        }
    }

    /// Prefix length the key covers: 32 for IPv4, the configured length for IPv6.
    pub fn prefix_len(&self) -> u8 {
        match self.0 {
            Repr::V4(_) => 32,
            Repr::V6(_, prefix) => prefix,
        }
    }

    /// A log-safe form of the key: IPv4 with the last octet zeroed
    /// (`1.2.3.0`), IPv6 as its `/48` (or the key's own prefix if shorter).
    pub fn redacted(&self) -> RedactedIp {
        match self.0 {
            Repr::V4(v4) => RedactedIp::v4(v4),
            Repr::V6(net, prefix) => RedactedIp::v6(net, prefix.min(REDACTED_IPV6_PREFIX)),
        }
    }
}

impl From<IpAddr> for ClientKey {
    fn from(ip: IpAddr) -> Self {
        Self::from_ip(ip)
    }
}

impl fmt::Display for ClientKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::V4(v4) => write!(f, "{v4}"),
            Repr::V6(net, prefix) => write!(f, "{net}/{prefix}"),
        }
    }
}

/// Log-safe form of a client address, from [`redact_ip`] or
/// [`ClientKey::redacted`]. Displays as `1.2.3.0` or `2001:db8:1::/48`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct RedactedIp(Repr);

impl RedactedIp {
    fn v4(ip: Ipv4Addr) -> Self {
        let [a, b, c, _] = ip.octets();
        RedactedIp(Repr::V4(Ipv4Addr::new(a, b, c, 0)))
    }

    fn v6(ip: Ipv6Addr, prefix: u8) -> Self {
        RedactedIp(Repr::V6(mask_v6(ip, prefix), prefix))
    }
}

impl fmt::Display for RedactedIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Repr::V4(v4) => write!(f, "{v4}"),
            Repr::V6(net, prefix) => write!(f, "{net}/{prefix}"),
        }
    }
}

/// Log-safe form of `ip`: IPv4 (including IPv4-mapped IPv6) with the last
/// octet zeroed, IPv6 reduced to its `/48`.
pub fn redact_ip(ip: IpAddr) -> RedactedIp {
    match ip.to_canonical() {
        IpAddr::V4(v4) => RedactedIp::v4(v4),
        IpAddr::V6(v6) => RedactedIp::v6(v6, REDACTED_IPV6_PREFIX),
    }
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let bits = u128::from(ip);
    let mask = match prefix {
        0 => 0,
        p if p >= 128 => u128::MAX,
        p => u128::MAX << (128 - u32::from(p)),
    };
    Ipv6Addr::from(bits & mask)
}

/// The IPv4 address an IPv6 address stands for, where it carries one:
/// IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`, not `::`
/// or `::1`), 6to4 (`2002:aabb:ccdd::/48`, RFC 3056) or the NAT64
/// well-known prefix (`64:ff9b::a.b.c.d`, RFC 6052). One IPv4 host is
/// thereby one client however it is written.
pub fn embedded_ipv4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && u32::from(low) > 1 {
        return Some(low);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    None
}

/// Error in the client-IP configuration; the message says what and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIpConfigError {
    message: String,
}

impl fmt::Display for ClientIpConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for ClientIpConfigError {}

/// How to find a request's client: trusted proxies and IPv6 keying prefix.
///
/// `Default` trusts no proxy (the TCP peer is always the client) and keys
/// IPv6 by `/64`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientIpConfig {
    trusted: Vec<IpNet>,
    ipv6_prefix: u8,
}

impl Default for ClientIpConfig {
    fn default() -> Self {
        ClientIpConfig {
            trusted: Vec::new(),
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

impl ClientIpConfig {
    /// Trusts `trusted` proxies and keys IPv6 clients by `ipv6_prefix`,
    /// which must be in 32..=128.
    pub fn new(trusted: TrustedProxies, ipv6_prefix: u8) -> Result<Self, ClientIpConfigError> {
        if !(32..=128).contains(&ipv6_prefix) {
            return Err(ClientIpConfigError {
                message: format!(
                    "invalid IPv6 client prefix length {ipv6_prefix}: must be between 32 and 128"
                ),
            });
        }
        Ok(ClientIpConfig {
            trusted: trusted.0,
            ipv6_prefix,
        })
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
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.is_trusted(peer) {
            return peer;
        }
        // Nearest hop we can vouch for so far.
        let mut nearest = peer;
        let entries = forwarded_for
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(','))
            .map(str::trim)
            .filter(|entry| !entry.is_empty());
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

    /// The rate-limit key of [`client_ip`](Self::client_ip).
    pub fn client_key(&self, peer: IpAddr, forwarded_for: &[&str]) -> ClientKey {
        self.key_for(self.client_ip(peer, forwarded_for))
    }

    /// The rate-limit key of `ip` under this config's IPv6 prefix.
    pub fn key_for(&self, ip: IpAddr) -> ClientKey {
        ClientKey::with_prefix(ip, self.ipv6_prefix)
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
    type Err = ClientIpConfigError;

    fn from_str(list: &str) -> Result<Self, ClientIpConfigError> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_trusted_net)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }
}

fn parse_trusted_net(entry: &str) -> Result<IpNet, ClientIpConfigError> {
    let error = |why: String| ClientIpConfigError {
        message: format!(
            "invalid trusted proxy {entry:?}: {why} (expected an IP address or CIDR, e.g. \"10.0.0.0/8,192.168.1.1\")"
        ),
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

/// One `X-Forwarded-For` entry: `ip`, `ipv4:port`, `[ipv6]` or `[ipv6]:port`.
fn parse_forwarded_entry(entry: &str) -> Option<IpAddr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn config(trusted: &str) -> ClientIpConfig {
        ClientIpConfig::new(trusted.parse().unwrap(), DEFAULT_IPV6_PREFIX).unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_and_the_header_is_ignored() {
        let cfg = ClientIpConfig::default();
        assert_eq!(
            cfg.client_ip(ip("203.0.113.7"), &["1.1.1.1"]),
            ip("203.0.113.7")
        );
    }

    #[test]
    fn spoofed_xff_from_an_untrusted_peer_is_ignored() {
        let cfg = config("10.0.0.0/8");
        let got = cfg.client_ip(ip("203.0.113.7"), &["10.0.0.1, 198.51.100.1"]);
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn a_trusted_proxy_chain_is_walked_from_the_right() {
        let cfg = config("10.0.0.0/8,192.168.1.1");
        // client 198.51.100.9 -> 192.168.1.1 -> 10.0.0.2 -> peer 10.0.0.1
        let got = cfg.client_ip(ip("10.0.0.1"), &["198.51.100.9, 192.168.1.1, 10.0.0.2"]);
        assert_eq!(got, ip("198.51.100.9"));
    }

    #[test]
    fn the_leftmost_entry_is_never_trusted_when_an_untrusted_hop_is_to_its_right() {
        let cfg = config("10.0.0.0/8");
        // The client sent "1.1.1.1" itself; the proxy appended its real address.
        let got = cfg.client_ip(ip("10.0.0.1"), &["1.1.1.1, 203.0.113.7"]);
        assert_eq!(got, ip("203.0.113.7"));
        // Even a forged "trusted" address to the left changes nothing.
        let got = cfg.client_ip(ip("10.0.0.1"), &["10.9.9.9, 203.0.113.7, 10.0.0.2"]);
        assert_eq!(got, ip("203.0.113.7"));
    }

    #[test]
    fn when_every_entry_is_trusted_the_leftmost_entry_is_the_client() {
        let cfg = config("10.0.0.0/8");
        let got = cfg.client_ip(ip("10.0.0.1"), &["10.1.1.1, 10.2.2.2"]);
        assert_eq!(got, ip("10.1.1.1"));
    }

    #[test]
    fn a_trusted_peer_without_the_header_is_the_client() {
        let cfg = config("10.0.0.0/8");
        assert_eq!(cfg.client_ip(ip("10.0.0.1"), &[]), ip("10.0.0.1"));
        assert_eq!(cfg.client_ip(ip("10.0.0.1"), &[""]), ip("10.0.0.1"));
    }

    #[test]
    fn multiple_header_lines_are_concatenated_in_order() {
        let cfg = config("10.0.0.0/8");
        let lines = ["1.1.1.1, 198.51.100.9", "10.0.0.3", "10.0.0.2"];
        assert_eq!(cfg.client_ip(ip("10.0.0.1"), &lines), ip("198.51.100.9"));
        let lines = ["198.51.100.9", "203.0.113.7"];
        assert_eq!(cfg.client_ip(ip("10.0.0.1"), &lines), ip("203.0.113.7"));
    }

    #[test]
    fn empty_list_elements_are_ignored() {
        let cfg = config("10.0.0.0/8");
        let lines = ["198.51.100.9, ,", "", " , 10.0.0.2"];
        assert_eq!(cfg.client_ip(ip("10.0.0.1"), &lines), ip("198.51.100.9"));
    }

    #[test]
    fn entries_with_ports_and_brackets_are_accepted() {
        let cfg = config("10.0.0.0/8,2001:db8:ffff::/48");
        let peer = ip("10.0.0.1");
        assert_eq!(
            cfg.client_ip(peer, &["198.51.100.9:5678"]),
            ip("198.51.100.9")
        );
        assert_eq!(
            cfg.client_ip(peer, &["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
        assert_eq!(cfg.client_ip(peer, &["[2001:db8::1]"]), ip("2001:db8::1"));
        let chain = ["198.51.100.9, [2001:db8:ffff::1]:80, 10.0.0.2:1234"];
        assert_eq!(cfg.client_ip(peer, &chain), ip("198.51.100.9"));
    }

    #[test]
    fn ipv4_mapped_addresses_count_as_ipv4_in_peer_entries_and_config() {
        let cfg = config("10.0.0.0/8");
        // Mapped peer is trusted by the IPv4 range.
        let got = cfg.client_ip(ip("::ffff:10.0.0.1"), &["::ffff:198.51.100.9"]);
        assert_eq!(got, ip("198.51.100.9"));
        // Mapped untrusted peer comes back as plain IPv4.
        assert_eq!(
            cfg.client_ip(ip("::ffff:203.0.113.7"), &[]),
            ip("203.0.113.7")
        );
        // Mapped trusted entry is skipped.
        let got = cfg.client_ip(ip("10.0.0.1"), &["198.51.100.9, [::ffff:10.0.0.2]:80"]);
        assert_eq!(got, ip("198.51.100.9"));
        // Mapped range in the config matches plain IPv4.
        let cfg = config("::ffff:10.0.0.0/104");
        assert_eq!(
            cfg.trusted_proxies(),
            &["10.0.0.0/8".parse::<IpNet>().unwrap()]
        );
        assert!(cfg.is_trusted(ip("10.1.2.3")));
        // And the keys are equal.
        assert_eq!(
            ClientKey::from_ip(ip("::ffff:1.2.3.4")),
            ClientKey::from_ip(ip("1.2.3.4"))
        );
    }

    #[test]
    fn a_malformed_entry_makes_the_nearest_vouched_hop_the_client() {
        let cfg = config("10.0.0.0/8");
        let peer = ip("10.0.0.1");
        assert_eq!(cfg.client_ip(peer, &["198.51.100.9, garbage"]), peer);
        let got = cfg.client_ip(peer, &["198.51.100.9, unknown, 10.0.0.2"]);
        assert_eq!(got, ip("10.0.0.2"));
        assert_eq!(cfg.client_ip(peer, &["1.2.3.4:notaport"]), peer);
        assert_eq!(cfg.client_ip(peer, &["fe80::1%eth0"]), peer);
        // Garbage to the left of the first untrusted hop is never reached.
        assert_eq!(
            cfg.client_ip(peer, &["garbage, 198.51.100.9"]),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn ipv6_addresses_in_the_same_64_share_a_key_and_different_64s_do_not() {
        let cfg = ClientIpConfig::default();
        let a = cfg.key_for(ip("2001:db8:1:2::1"));
        let b = cfg.key_for(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = cfg.key_for(ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.to_string(), "2001:db8:1:2::/64");
        assert_eq!(a.prefix_len(), 64);
        assert_eq!(a.ip(), ip("2001:db8:1:2::"));
    }

    #[test]
    fn ipv4_clients_are_keyed_by_their_full_address() {
        let a = ClientKey::from_ip(ip("203.0.113.7"));
        assert_ne!(a, ClientKey::from_ip(ip("203.0.113.8")));
        assert_eq!(a.to_string(), "203.0.113.7");
        assert_eq!(a.prefix_len(), 32);
    }

    #[test]
    fn the_ipv6_prefix_is_configurable_within_32_to_128() {
        let cfg = ClientIpConfig::new(TrustedProxies::default(), 48).unwrap();
        assert_eq!(
            cfg.key_for(ip("2001:db8:1:2::1")),
            cfg.key_for(ip("2001:db8:1:ffff::1"))
        );
        assert_ne!(
            cfg.key_for(ip("2001:db8:1::1")),
            cfg.key_for(ip("2001:db8:2::1"))
        );
        let cfg = ClientIpConfig::new(TrustedProxies::default(), 128).unwrap();
        assert_ne!(
            cfg.key_for(ip("2001:db8::1")),
            cfg.key_for(ip("2001:db8::2"))
        );
        let cfg = ClientIpConfig::new(TrustedProxies::default(), 32).unwrap();
        assert_eq!(
            cfg.client_key(ip("2001:db8:1::1"), &[]),
            cfg.client_key(ip("2001:db8:ffff::1"), &[])
        );
        for bad in [0, 31, 129, 255] {
            let err = ClientIpConfig::new(TrustedProxies::default(), bad)
                .unwrap_err()
                .to_string();
            assert!(err.contains("between 32 and 128"), "{err}");
        }
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
    fn redaction_zeroes_the_last_ipv4_octet_and_keeps_the_ipv6_48() {
        assert_eq!(redact_ip(ip("203.0.113.7")).to_string(), "203.0.113.0");
        assert_eq!(
            redact_ip(ip("::ffff:203.0.113.7")).to_string(),
            "203.0.113.0"
        );
        assert_eq!(
            redact_ip(ip("2001:db8:1:2:3:4:5:6")).to_string(),
            "2001:db8:1::/48"
        );
        let key = ClientKey::from_ip(ip("2001:db8:1:2:3:4:5:6"));
        assert_eq!(key.redacted().to_string(), "2001:db8:1::/48");
        let key = ClientIpConfig::new(TrustedProxies::default(), 32)
            .unwrap()
            .key_for(ip("2001:db8:1::1"));
        assert_eq!(key.redacted().to_string(), "2001:db8::/32");
        assert_eq!(
            ClientKey::from_ip(ip("198.51.100.9"))
                .redacted()
                .to_string(),
            "198.51.100.0"
        );
    }

    #[test]
    fn ipv6_addresses_that_carry_an_ipv4_address_are_keyed_as_it() {
        let v4 = ClientKey::from_ip(ip("192.0.2.33"));
        for carrier in [
            "::ffff:192.0.2.33",
            "::192.0.2.33",
            "2002:c000:0221::1",
            "2002:c000:0221:ffff:1:2:3:4",
            "64:ff9b::192.0.2.33",
        ] {
            assert_eq!(ClientKey::from_ip(ip(carrier)), v4, "{carrier}");
        }
        for plain in ["::", "::1", "2001:db8::c000:221", "64:ff9b:1::c000:221"] {
            assert!(
                matches!(ClientKey::from_ip(ip(plain)).ip(), IpAddr::V6(_)),
                "{plain}"
            );
        }
    }

    #[test]
    fn an_ipv6_key_widens_to_its_aggregate_networks_and_ipv4_does_not() {
        let key = ClientKey::from_ip(ip("2001:db8:aa:bb01::1"));
        let wide = key.widened(56).unwrap();
        assert_eq!(wide.to_string(), "2001:db8:aa:bb00::/56");
        assert_eq!(key.widened(48).unwrap().to_string(), "2001:db8:aa::/48");
        assert_eq!(
            ClientKey::from_ip(ip("2001:db8:aa:bbff::9")).widened(56),
            Some(wide),
            "two /64s of one /56 share its key"
        );
        assert_eq!(key.widened(64), None);
        assert_eq!(ClientKey::from_ip(ip("192.0.2.1")).widened(24), None);
    }
}

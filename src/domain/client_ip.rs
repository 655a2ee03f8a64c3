//! Which client sent a request, as the key it is rate-limited under, and
//! how a client address may appear in logs. Finding the client's address
//! (the TCP peer, or `X-Forwarded-For` behind trusted proxies) is the edge's
//! job (`http/client.rs`); this module keys and redacts what it found.
//!
//! # Client key
//!
//! [`ClientKey`] is what the rate limiter counts against. An IPv4 client is
//! keyed by its address. An IPv6 client is keyed by its network prefix, `/64`
//! by default ([`Ipv6Prefix`], 32..=128): a single host is normally handed a
//! whole `/64`, so keying by the full address would give it 2^64 buckets.
//! IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`), and the other IPv6 forms
//! that carry an IPv4 address ([`embedded_ipv4`]), are keyed as that IPv4.
//!
//! # Logging
//!
//! Logs must not hold full client addresses: log [`ClientKey::redacted`] or
//! [`redact_ip`] (IPv4 with the last octet zeroed, IPv6 as its `/48`), never
//! the `Display`/`Debug` of a [`ClientKey`] or an [`IpAddr`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use ipnet::Ipv6Net;

/// Prefix length IPv6 addresses are reduced to by [`redact_ip`].
const REDACTED_IPV6_PREFIX: u8 = 48;

/// The prefix length IPv6 clients are keyed by: 32 to 128, `/64` by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Prefix(u8);

impl Ipv6Prefix {
    /// A prefix of `bits`, if it is in 32..=128.
    pub const fn new(bits: u8) -> Option<Self> {
        if bits >= 32 && bits <= 128 {
            Some(Self(bits))
        } else {
            None
        }
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

impl Default for Ipv6Prefix {
    fn default() -> Self {
        Self(64)
    }
}

impl FromStr for Ipv6Prefix {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        input
            .trim()
            .parse::<u8>()
            .ok()
            .and_then(Ipv6Prefix::new)
            .ok_or_else(|| {
                format!("invalid IPv6 client prefix length {input:?}: must be between 32 and 128")
            })
    }
}

impl fmt::Display for Ipv6Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

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
    /// Key for `ip`, with IPv6 keyed by the default `/64`.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self::new(ip, Ipv6Prefix::default())
    }

    /// Key for `ip`, with IPv6 masked to `prefix`. An IPv6 address that
    /// carries an IPv4 address ([`embedded_ipv4`]) is keyed as that IPv4.
    pub fn new(ip: IpAddr, prefix: Ipv6Prefix) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey(Repr::V4(v4)),
            IpAddr::V6(v6) => match embedded_ipv4(v6) {
                Some(v4) => ClientKey(Repr::V4(v4)),
                None => ClientKey(Repr::V6(mask_v6(v6, prefix.0), prefix.0)),
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

/// `ip` with every bit past the first `prefix` zeroed (`prefix` ≤ 128).
fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    Ipv6Net::new_assert(ip, prefix.min(128)).network()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key(s: &str, prefix: u8) -> ClientKey {
        ClientKey::new(ip(s), Ipv6Prefix::new(prefix).unwrap())
    }

    #[test]
    fn ipv6_addresses_in_the_same_64_share_a_key_and_different_64s_do_not() {
        let a = ClientKey::from_ip(ip("2001:db8:1:2::1"));
        let b = ClientKey::from_ip(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"));
        let c = ClientKey::from_ip(ip("2001:db8:1:3::1"));
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
        assert_eq!(key("2001:db8:1:2::1", 48), key("2001:db8:1:ffff::1", 48));
        assert_ne!(key("2001:db8:1::1", 48), key("2001:db8:2::1", 48));
        assert_ne!(key("2001:db8::1", 128), key("2001:db8::2", 128));
        assert_eq!(key("2001:db8:1::1", 32), key("2001:db8:ffff::1", 32));
        for bad in ["0", "31", "129", "255", "x"] {
            let err = bad.parse::<Ipv6Prefix>().unwrap_err();
            assert!(err.contains("between 32 and 128"), "{err}");
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
        let key = super::tests::key("2001:db8:1::1", 32);
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

    #[test]
    fn ipv4_mapped_addresses_key_as_the_ipv4() {
        assert_eq!(
            ClientKey::from_ip(ip("::ffff:1.2.3.4")),
            ClientKey::from_ip(ip("1.2.3.4"))
        );
    }
}

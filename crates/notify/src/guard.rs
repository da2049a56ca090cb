//! The outbound address guard: a webhook, robot or mail server configured by a user must not
//! point the server at its own network (the cloud metadata service, an admin port on
//! localhost, the database on the private LAN) unless an administrator allowed it.
//!
//! Refused unless allowed: loopback, private (RFC 1918), carrier-grade NAT (100.64/10),
//! link-local (169.254/16, fe80::/10), unique-local (fc00::/7), site-local (fec0::/10),
//! multicast, broadcast, unspecified (0.0.0.0/8, ::) and reserved (240/4) addresses, also
//! when an IPv4 address hides inside an IPv6 one (::ffff:a.b.c.d, ::a.b.c.d, 64:ff9b::/96,
//! 2002::/16). A host name is resolved and **every** address it resolves to is checked; the
//! senders resolve again right before connecting and connect only to the addresses they
//! checked, so a name that re-binds to 127.0.0.1 after the first check gains nothing.
//!
//! An administrator allows internal targets with [`Policy::allow_private`] (all of them) or
//! with an allow-list of CIDRs ([`Policy::allow_cidrs`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use reqwest::Url;

/// What an administrator allowed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Allow every internal address.
    pub allow_private: bool,
    /// Internal addresses inside these networks are allowed.
    pub allow_cidrs: Vec<Cidr>,
}

impl Policy {
    /// Is a connection to this address allowed?
    pub fn allows(&self, ip: IpAddr) -> bool {
        !is_internal(ip) || self.allow_private || self.allow_cidrs.iter().any(|c| c.contains(ip))
    }
}

/// A network in CIDR notation, e.g. `10.0.0.0/8`, `127.0.0.1` (a single host) or `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = mask32(self.prefix);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = mask128(self.prefix);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn mask128(prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(prefix))
    }
}

impl FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("not an IP network: {s}"))?;
        let net = canonical(net);
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("bad prefix length: {s}"))?,
        };
        Ok(Cidr { net, prefix })
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

/// Why an outbound address was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuardError {
    #[error("not a valid http(s) URL: {0}")]
    BadUrl(String),
    #[error("the host {0} does not resolve")]
    Unresolvable(String),
    #[error("{host} resolves to the internal address {ip}, which is not allowed")]
    Internal { host: String, ip: IpAddr },
}

/// An IPv4 address carried inside an IPv6 one is judged as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let o = v6.octets();
    let tail = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    // ::ffff:a.b.c.d (mapped)
    if s[..5] == [0, 0, 0, 0, 0] && s[5] == 0xffff {
        return Some(tail);
    }
    // ::a.b.c.d (compatible, deprecated); :: and ::1 are judged as IPv6.
    if s[..6] == [0, 0, 0, 0, 0, 0] && (s[6] != 0 || s[7] > 1) {
        return Some(tail);
    }
    // 64:ff9b::/96 (NAT64)
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    // 2002:AABB:CCDD::/48 (6to4)
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// Is this an address of the server's own or a private network?
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(a) => {
            let [b0, b1, ..] = a.octets();
            a.is_unspecified()
                || b0 == 0 // 0.0.0.0/8 "this network"
                || a.is_loopback()
                || a.is_private()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast()
                || (b0 == 100 && (64..128).contains(&b1)) // 100.64/10 carrier-grade NAT
                || b0 >= 240 // 240/4 reserved
        }
        IpAddr::V6(a) => {
            let s0 = a.segments()[0];
            a.is_unspecified()
                || a.is_loopback()
                || a.is_multicast()
                || (s0 & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (s0 & 0xffc0) == 0xfe80 // fe80::/10 link-local
                || (s0 & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
        }
    }
}

/// Parse a webhook or robot URL: http or https with a host.
pub fn parse_url(url: &str) -> Result<Url, GuardError> {
    let u = Url::parse(url.trim()).map_err(|e| GuardError::BadUrl(e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(GuardError::BadUrl(
            "the scheme must be http or https".into(),
        ));
    }
    if u.host().is_none() {
        return Err(GuardError::BadUrl("no host".into()));
    }
    Ok(u)
}

/// How long a name may take to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Resolve `host` (a name or an IP literal, IPv6 with or without brackets) and check every
/// address; the checked addresses are returned, to connect to exactly those.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    policy: &Policy,
) -> Result<Vec<SocketAddr>, GuardError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let addrs: Vec<SocketAddr> = if let Ok(ip) = bare.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, port)]
    } else {
        match tokio::time::timeout(RESOLVE_TIMEOUT, tokio::net::lookup_host((bare, port))).await {
            Ok(Ok(it)) => it.collect(),
            _ => return Err(GuardError::Unresolvable(bare.to_string())),
        }
    };
    if addrs.is_empty() {
        return Err(GuardError::Unresolvable(bare.to_string()));
    }
    for a in &addrs {
        if !policy.allows(a.ip()) {
            return Err(GuardError::Internal {
                host: bare.to_string(),
                ip: a.ip(),
            });
        }
    }
    Ok(addrs)
}

/// Check a URL: its host resolves, and only to allowed addresses (returned).
pub async fn check_url(url: &Url, policy: &Policy) -> Result<Vec<SocketAddr>, GuardError> {
    let host = url
        .host_str()
        .ok_or_else(|| GuardError::BadUrl("no host".into()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| GuardError::BadUrl("no port".into()))?;
    resolve_checked(host, port, policy).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_ranges() {
        for a in [
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "fd12:3456::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
        ] {
            assert!(is_internal(ip(a)), "{a} should be internal");
        }
        for a in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "223.5.5.5",
            "2400:3200::1",
            "2001:4860:4860::8888",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip(a)), "{a} should be public");
        }
    }

    #[test]
    fn cidr_allow_list() {
        let c: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.200.1.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.9")));
        let one: Cidr = "127.0.0.1".parse().unwrap();
        assert_eq!(one.to_string(), "127.0.0.1/32");
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: Cidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("192.168.0.1")));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense".parse::<Cidr>().is_err());
        assert_eq!("[::1]/128".parse::<Cidr>().unwrap().to_string(), "::1/128");

        let p = Policy {
            allow_private: false,
            allow_cidrs: vec![c],
        };
        assert!(p.allows(ip("10.0.0.1")));
        assert!(!p.allows(ip("192.168.0.1")));
        assert!(p.allows(ip("8.8.8.8")));
        let open = Policy {
            allow_private: true,
            allow_cidrs: vec![],
        };
        assert!(open.allows(ip("169.254.169.254")));
    }

    #[tokio::test]
    async fn urls_are_checked_before_any_connection() {
        let deny = Policy::default();
        for u in [
            "http://127.0.0.1:8080/hook",
            "http://10.0.0.5/hook",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]:9000/",
            "http://[::ffff:127.0.0.1]/",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://localhost:1/",
        ] {
            let url = parse_url(u).unwrap();
            let e = check_url(&url, &deny).await.unwrap_err();
            assert!(matches!(e, GuardError::Internal { .. }), "{u}: {e:?}");
        }
        for u in ["ftp://example.com/", "not a url", "file:///etc/passwd"] {
            assert!(matches!(parse_url(u), Err(GuardError::BadUrl(_))), "{u}");
        }
        let lo: Cidr = "127.0.0.0/8".parse().unwrap();
        let allow_lo = Policy {
            allow_private: false,
            allow_cidrs: vec![lo],
        };
        let url = parse_url("http://127.0.0.1:8080/hook").unwrap();
        assert_eq!(
            check_url(&url, &allow_lo).await.unwrap(),
            vec!["127.0.0.1:8080".parse().unwrap()]
        );
        // The allow-list opens only what it names.
        let url = parse_url("http://10.0.0.5/hook").unwrap();
        assert!(check_url(&url, &allow_lo).await.is_err());
    }
}

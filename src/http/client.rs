//! Who the client is: the one place a request becomes the `IpAddr` that every per-IP limit and
//! the passphrase lockout count under.
//!
//! Behind a proxy (`server.trust_proxy`) the address comes from `X-Forwarded-For`, read from
//! every header line in order (a proxy may add its own line after the client's forged one).
//! The result is normalised, so that one client cannot pose as many: an IPv4-mapped IPv6
//! address is its IPv4 address, and an IPv6 address is cut to its `limits.ipv6_prefix` network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use actix_web::HttpRequest;
use ipnet::IpNet;

use crate::config::Settings;

/// How client addresses are worked out; built once from the settings.
#[derive(Debug, Clone)]
pub struct ClientResolver {
    /// Believe `X-Forwarded-For` at all (the peer is our proxy).
    trust_proxy: bool,
    /// Proxies behind the peer whose entries are skipped, right to left.
    trusted: Vec<IpNet>,
    /// Bits of an IPv6 address that name one client.
    ipv6_prefix: u8,
}

impl ClientResolver {
    /// From `server.trust_proxy`, `server.trusted_proxies` and `limits.ipv6_prefix`.
    pub fn new(settings: &Settings) -> Self {
        Self {
            trust_proxy: settings.server.trust_proxy,
            trusted: settings.trusted_proxies(),
            ipv6_prefix: settings.limits.ipv6_prefix.min(128),
        }
    }

    /// The normalised client address of `req`.
    pub fn client_ip(&self, req: &HttpRequest) -> IpAddr {
        let peer = req
            .peer_addr()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
        let lines = req
            .headers()
            .get_all("x-forwarded-for")
            // A line that is not even text is one entry that is not an address.
            .map(|v| v.to_str().unwrap_or("\u{fffd}"));
        self.resolve(peer, lines)
    }

    /// The client behind `peer`, given the `X-Forwarded-For` header lines in arrival order.
    pub fn resolve<'a>(&self, peer: IpAddr, lines: impl Iterator<Item = &'a str>) -> IpAddr {
        let client = if self.trust_proxy {
            self.forwarded_client(peer, lines)
        } else {
            unmap(peer)
        };
        self.key_address(client)
    }

    /// Walks the forwarded chain (the joined header lines, then the peer) from the right: the
    /// peer is our proxy; each entry to its left that is a trusted proxy is skipped; the first
    /// one that is not is the client. With no trusted proxies that is the last entry.
    ///
    /// An entry that is not an address stops the walk, and the address to its right (a proxy
    /// we trust, or the peer) is taken as the client. Why not skip it and read on: everything
    /// left of it was written by a party we cannot vouch for, so reading on would let a client
    /// choose its own address (and with it a fresh budget per request); the proxy's address is
    /// one budget the client cannot change, which is the safe side.
    fn forwarded_client<'a>(&self, peer: IpAddr, lines: impl Iterator<Item = &'a str>) -> IpAddr {
        let entries: Vec<&str> = lines
            .flat_map(|line| line.split(','))
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect();
        let mut client = unmap(peer);
        for entry in entries.iter().rev() {
            let Some(addr) = parse_entry(entry) else {
                return client;
            };
            client = addr;
            if !self.is_trusted(addr) {
                return client;
            }
        }
        // Every entry was a trusted proxy: the left-most one is as far as we can see.
        client
    }

    fn is_trusted(&self, addr: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&addr))
    }

    /// The address per-IP budgets are kept under: IPv6 cut to its prefix.
    fn key_address(&self, addr: IpAddr) -> IpAddr {
        match addr {
            IpAddr::V4(_) => addr,
            IpAddr::V6(v6) => {
                let bits = u128::from(v6);
                let mask = match self.ipv6_prefix {
                    0 => 0,
                    n => u128::MAX << (128 - u32::from(n)),
                };
                IpAddr::V6(Ipv6Addr::from(bits & mask))
            }
        }
    }
}

/// An IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) as the IPv4 address it is.
fn unmap(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// One `X-Forwarded-For` entry: an address, optionally `[v6]` bracketed or with a port as some
/// proxies write it (`1.2.3.4:5678`, `[::1]:5678`).
fn parse_entry(entry: &str) -> Option<IpAddr> {
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(unmap(addr));
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(unmap(sock.ip()));
    }
    let bracketed = entry.strip_prefix('[')?.strip_suffix(']')?;
    bracketed.parse::<Ipv6Addr>().ok().map(|a| unmap(a.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(trust_proxy: bool, trusted: &[&str], ipv6_prefix: u8) -> ClientResolver {
        ClientResolver {
            trust_proxy,
            trusted: trusted.iter().map(|t| t.parse().expect("cidr")).collect(),
            ipv6_prefix,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    const PEER: &str = "10.0.0.1";

    fn resolve(r: &ClientResolver, lines: &[&str]) -> IpAddr {
        r.resolve(ip(PEER), lines.iter().copied())
    }

    #[test]
    fn without_trust_proxy_the_peer_is_the_client() {
        let r = resolver(false, &[], 64);
        assert_eq!(resolve(&r, &["203.0.113.7"]), ip(PEER));
    }

    #[test]
    fn every_header_line_counts_and_the_last_entry_is_the_client() {
        let r = resolver(true, &[], 64);
        assert_eq!(resolve(&r, &["1.1.1.1", "203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(
            resolve(&r, &["1.1.1.1, 2.2.2.2", "203.0.113.7 , "]),
            ip("203.0.113.7")
        );
        assert_eq!(resolve(&r, &[]), ip(PEER));
    }

    #[test]
    fn trusted_proxies_are_skipped_from_the_right() {
        let r = resolver(true, &["10.0.0.0/8", "192.0.2.1/32"], 64);
        let chain = ["6.6.6.6, 203.0.113.7", "10.1.2.3, 192.0.2.1"];
        assert_eq!(resolve(&r, &chain), ip("203.0.113.7"));
        // All trusted: the left-most is as far as we can see.
        assert_eq!(resolve(&r, &["10.9.9.9, 10.1.1.1"]), ip("10.9.9.9"));
    }

    #[test]
    fn an_entry_that_is_no_address_is_never_believed() {
        let r = resolver(true, &["10.0.0.0/8"], 64);
        // Garbage as the last entry: the peer.
        assert_eq!(resolve(&r, &["203.0.113.7, unknown"]), ip(PEER));
        // Garbage behind a trusted proxy: that proxy, never what stands left of the garbage.
        assert_eq!(
            resolve(&r, &["6.6.6.6, nonsense, 10.2.2.2"]),
            ip("10.2.2.2")
        );
        assert_eq!(resolve(&r, &["6.6.6.6", "\u{fffd}"]), ip(PEER));
    }

    #[test]
    fn entries_with_ports_and_brackets_are_addresses() {
        let r = resolver(true, &[], 128);
        assert_eq!(resolve(&r, &["203.0.113.7:4711"]), ip("203.0.113.7"));
        assert_eq!(resolve(&r, &["[2001:db8::1]:4711"]), ip("2001:db8::1"));
        assert_eq!(resolve(&r, &["[2001:db8::1]"]), ip("2001:db8::1"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_prefix_and_mapped_ipv4_is_ipv4() {
        let r = resolver(true, &[], 64);
        let a = resolve(&r, &["2001:db8:1:2:aaaa::1"]);
        let b = resolve(&r, &["2001:db8:1:2:ffff:1:2:3"]);
        let other = resolve(&r, &["2001:db8:1:3::1"]);
        assert_eq!(a, b);
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_ne!(a, other);
        assert_eq!(resolve(&r, &["::ffff:203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(
            resolver(false, &[], 64).resolve(ip("::ffff:10.0.0.9"), [].into_iter()),
            ip("10.0.0.9")
        );
        assert_eq!(
            resolver(true, &[], 0).resolve(ip("::1"), [].into_iter()),
            ip("::")
        );
        assert_eq!(
            resolver(true, &[], 128).resolve(ip("2001:db8::7"), [].into_iter()),
            ip("2001:db8::7")
        );
    }

    #[test]
    fn a_mapped_address_is_matched_against_ipv4_proxies() {
        let r = resolver(true, &["10.0.0.0/8"], 64);
        assert_eq!(
            resolve(&r, &["203.0.113.7, ::ffff:10.1.1.1"]),
            ip("203.0.113.7")
        );
    }
}

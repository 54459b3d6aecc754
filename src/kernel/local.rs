//! Which client addresses are this namespace's own, and the ephemeral port range its kernel
//! picks source ports from (`net.ipv4.ip_local_port_range`, which applies to IPv6 as well):
//! for port pressure, where the client is local (an LB host opening connections to backends).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The namespace's local addresses and ephemeral range, read once at the start of a run.
#[derive(Clone, Debug, Default)]
pub struct LocalClients {
    /// Local addresses (IPv4 from `/proc/net/fib_trie` `host LOCAL`, IPv6 from
    /// `/proc/net/if_inet6`).
    pub addrs: Vec<IpAddr>,
    /// `net.ipv4.ip_local_port_range`, both ends inclusive.
    pub range: Option<(u16, u16)>,
}

impl LocalClients {
    /// Read them from `/proc` (of the namespace ackscope runs in).
    pub fn read() -> LocalClients {
        let fib = std::fs::read_to_string("/proc/net/fib_trie").unwrap_or_default();
        let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok().and_then(|s| parse_range(&s));
        LocalClients { addrs: parse_addrs(&fib, &v6), range }
    }

    /// The ephemeral range when `ip` is a local address.
    pub fn range_of(&self, ip: IpAddr) -> Option<(u16, u16)> {
        self.addrs.contains(&ip).then_some(self.range).flatten()
    }
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let mut it = s.split_whitespace().map(|x| x.parse::<u16>().ok());
    Some((it.next()??, it.next()??))
}

fn parse_addrs(fib: &str, if_inet6: &str) -> Vec<IpAddr> {
    let mut out = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for l in fib.lines() {
        let t = l.trim_start_matches([' ', '|', '+', '-']).trim();
        if let Ok(a) = t.parse::<Ipv4Addr>() {
            last = Some(a);
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(a) = last {
                if !out.contains(&IpAddr::V4(a)) {
                    out.push(IpAddr::V4(a));
                }
            }
        }
    }
    for l in if_inet6.lines() {
        let Some(h) = l.split_whitespace().next() else { continue };
        if h.len() == 32 {
            if let Ok(v) = u128::from_str_radix(h, 16) {
                out.push(IpAddr::V6(Ipv6Addr::from(v)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fib_trie_local_hosts_and_if_inet6() {
        let fib = "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.77.0.0\n        /24 link UNICAST\n     |-- 10.77.0.2\n        /32 host LOCAL\nLocal:\n     |-- 10.77.0.2\n        /32 host LOCAL\n     |-- 127.0.0.1\n        /32 host LOCAL\n";
        let v6 = "00000000000000000000000000000001 01 80 10 80       lo\n";
        let a = parse_addrs(fib, v6);
        assert_eq!(a, vec![IpAddr::V4("10.77.0.2".parse().unwrap()), IpAddr::V4(Ipv4Addr::LOCALHOST), IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        assert_eq!(parse_range("32768\t60999\n"), Some((32768, 60999)));
    }
}

//! The TCP MIB counters that move with stale ACKs, from `/proc/net/netstat` (`TcpExt:`) and
//! `/proc/net/snmp` (`Tcp:`) of the calling thread's network namespace.

/// The counters read, as (table, name), in output order.
pub const MIB_COUNTERS: [(&str, &str); 12] = [
    ("TcpExt", "TCPChallengeACK"),
    ("TcpExt", "TCPSYNChallenge"),
    ("TcpExt", "TCPACKSkippedChallenge"),
    ("TcpExt", "TCPACKSkippedTimeWait"),
    ("TcpExt", "TCPACKSkippedSynRecv"),
    ("TcpExt", "TWRecycled"),
    ("TcpExt", "TCPTimeWaitOverflow"),
    ("TcpExt", "TCPAbortOnData"),
    ("TcpExt", "TW"),
    ("Tcp", "ActiveOpens"),
    ("Tcp", "AttemptFails"),
    ("Tcp", "OutRsts"),
];

/// One reading of [`MIB_COUNTERS`] (a counter the kernel does not have reads 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Mib(pub [u64; MIB_COUNTERS.len()]);

impl Mib {
    /// Read them now (`/proc/thread-self/net/...`: the namespace of this thread).
    pub fn read() -> std::io::Result<Mib> {
        let netstat = std::fs::read_to_string("/proc/thread-self/net/netstat")?;
        let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp")?;
        Ok(Mib::parse(&(netstat + &snmp)))
    }

    /// From the text of netstat and snmp (header line of names, then a line of values).
    pub fn parse(text: &str) -> Mib {
        let mut m = Mib::default();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.windows(2) {
            let (Some((t1, names)), Some((t2, vals))) = (pair[0].split_once(": "), pair[1].split_once(": ")) else { continue };
            if t1 != t2 || names.split(' ').next().is_some_and(|n| n.parse::<i64>().is_ok()) {
                continue;
            }
            for (n, v) in names.split(' ').zip(vals.split(' ')) {
                if let Some(i) = MIB_COUNTERS.iter().position(|(t, name)| *t == t1 && *name == n) {
                    m.0[i] = v.parse().unwrap_or(0);
                }
            }
        }
        m
    }

    /// `self - earlier`, counter by counter (saturating: a gauge such as TW may fall).
    pub fn since(&self, earlier: &Mib) -> Mib {
        let mut d = Mib::default();
        for i in 0..self.0.len() {
            d.0[i] = self.0[i].saturating_sub(earlier.0[i]);
        }
        d
    }

    /// (name, value) pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        MIB_COUNTERS.iter().zip(self.0).map(|((_, n), v)| (*n, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_tables() {
        let t = "TcpExt: SyncookiesSent TW TCPChallengeACK\nTcpExt: 0 7 3\nIpExt: InNoRoutes\nIpExt: 1\n\
                 Tcp: RtoAlgorithm ActiveOpens OutRsts\nTcp: 1 42 5\n";
        let m = Mib::parse(t);
        let get = |n: &str| m.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(get("TCPChallengeACK"), 3);
        assert_eq!(get("TW"), 7);
        assert_eq!(get("ActiveOpens"), 42);
        assert_eq!(get("OutRsts"), 5);
        assert_eq!(get("TWRecycled"), 0);
    }

    #[test]
    fn reads_this_namespace() {
        let m = Mib::read().expect("/proc/thread-self/net readable");
        let _ = m; // values vary; reading must work
    }
}

//! One NETLINK_SOCK_DIAG socket and exact 4-tuple lookups (inet_diag, the interface `ss`
//! uses), through `netlink-packet-sock-diag` and `netlink-sys`.

use std::net::{IpAddr, SocketAddr};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::nlas::Nla;
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use super::KernelError;

/// TCP states as Linux numbers them (`include/net/tcp_states.h`), named as `ss` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpState {
    /// ESTABLISHED.
    Established,
    /// SYN-SENT.
    SynSent,
    /// SYN-RECV.
    SynRecv,
    /// FIN-WAIT-1.
    FinWait1,
    /// FIN-WAIT-2.
    FinWait2,
    /// TIME-WAIT.
    TimeWait,
    /// CLOSE.
    Close,
    /// CLOSE-WAIT.
    CloseWait,
    /// LAST-ACK.
    LastAck,
    /// LISTEN.
    Listen,
    /// CLOSING.
    Closing,
    /// NEW-SYN-RECV (a request socket).
    NewSynRecv,
    /// A number this table does not know.
    Other(u8),
}

impl TcpState {
    /// From the kernel's number.
    pub fn from_kernel(n: u8) -> TcpState {
        use TcpState::*;
        match n {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            n => Other(n),
        }
    }

    /// The name `ss` prints.
    pub fn as_str(self) -> &'static str {
        use TcpState::*;
        match self {
            Established => "ESTABLISHED",
            SynSent => "SYN-SENT",
            SynRecv => "SYN-RECV",
            FinWait1 => "FIN-WAIT-1",
            FinWait2 => "FIN-WAIT-2",
            TimeWait => "TIME-WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE-WAIT",
            LastAck => "LAST-ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
            NewSynRecv => "NEW-SYN-RECV",
            Other(_) => "UNKNOWN",
        }
    }
}

/// One socket as sock_diag reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSocket {
    /// Its state.
    pub state: TcpState,
    /// The running timer's remaining time, ms (`idiag_expires`; for TIME-WAIT the time left
    /// before the kernel forgets the 4-tuple).
    pub timer_ms: Option<u32>,
    /// Since the last segment received on it, ms (`tcpi_last_ack_recv`, `tcpi_last_data_recv`,
    /// the smaller; full sockets only).
    pub idle_ms: Option<u32>,
    /// Socket inode (0 for TIME-WAIT and request sockets).
    pub inode: u32,
    /// Owner uid.
    pub uid: u32,
}

/// A NETLINK_SOCK_DIAG socket in the namespace it was opened in.
pub struct SockDiag {
    sock: Socket,
    buf: Vec<u8>,
    seq: u32,
}

// inet_diag_msg after the netlink header: family, state, timer, retrans (1 byte each), the
// 48-byte inet_diag_sockid, then idiag_expires. The crate drops the expiry of TIME-WAIT timers
// (its `Timer::TimeWait` has no duration), so it is read from the reply at this offset.
const NLMSG_HDR: usize = 16;
const EXPIRES_AT: usize = NLMSG_HDR + 4 + 48;
const TIMER_AT: usize = NLMSG_HDR + 2;

impl SockDiag {
    /// Open it in the current thread's network namespace.
    pub fn open() -> Result<SockDiag, KernelError> {
        let mut sock = Socket::new(NETLINK_SOCK_DIAG).map_err(KernelError::Open)?;
        sock.bind_auto().map_err(KernelError::Open)?;
        sock.connect(&netlink_sys::SocketAddr::new(0, 0)).map_err(KernelError::Open)?;
        Ok(SockDiag { sock, buf: vec![0; 8192], seq: 0 })
    }

    /// The socket whose local end is `local` and remote end `remote`, if the kernel holds one
    /// (established-hash lookup: full sockets, TIME-WAIT and request sockets).
    pub fn find(&mut self, local: SocketAddr, remote: SocketAddr) -> Result<Option<KernelSocket>, KernelError> {
        let (family, src, dst) = match (local.ip(), remote.ip()) {
            (IpAddr::V4(a), IpAddr::V4(b)) => (AF_INET, IpAddr::V4(a), IpAddr::V4(b)),
            (a, b) => (AF_INET6, IpAddr::V6(to_v6(a)), IpAddr::V6(to_v6(b))),
        };
        let mut hdr = NetlinkHeader::default();
        hdr.flags = NLM_F_REQUEST;
        self.seq = self.seq.wrapping_add(1);
        hdr.sequence_number = self.seq;
        let mut id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
        id.source_port = local.port();
        id.destination_port = remote.port();
        id.source_address = src;
        id.destination_address = dst;
        id.cookie = [0xff; 8]; // INET_DIAG_NOCOOKIE: match by address only
        let mut msg = NetlinkMessage::new(
            hdr,
            SockDiagMessage::InetRequest(InetRequest { family, protocol: IPPROTO_TCP, extensions: ExtensionFlags::INFO, states: StateFlags::all(), socket_id: id }).into(),
        );
        msg.finalize();
        let mut out = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut out);
        self.sock.send(&out, 0).map_err(KernelError::Io)?;
        loop {
            let n = self.sock.recv(&mut &mut self.buf[..], 0).map_err(KernelError::Io)?;
            let bytes = &self.buf[..n];
            let rx = NetlinkMessage::<SockDiagMessage>::deserialize(bytes).map_err(|e| KernelError::Parse(e.to_string()))?;
            if rx.header.sequence_number != self.seq {
                continue; // a late answer to an earlier request
            }
            return Ok(match rx.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    let timer = bytes.get(TIMER_AT).copied().unwrap_or(0);
                    let expires = bytes.get(EXPIRES_AT..EXPIRES_AT + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    let mut idle_ms = None;
                    for nla in r.nlas.iter() {
                        if let Nla::TcpInfo(raw) = nla {
                            idle_ms = idle_from_tcp_info(raw);
                        }
                    }
                    Some(KernelSocket {
                        state: TcpState::from_kernel(r.header.state),
                        timer_ms: if timer != 0 { expires } else { None },
                        idle_ms,
                        inode: r.header.inode,
                        uid: r.header.uid,
                    })
                }
                // ENOENT: no socket for the 4-tuple.
                NetlinkPayload::Error(_) | NetlinkPayload::Done(_) => None,
                _ => None,
            });
        }
    }
}

fn to_v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// `struct tcp_info`: 8 one-byte fields, then u32s; `tcpi_last_data_recv` at 52 and
/// `tcpi_last_ack_recv` at 56 (include/uapi/linux/tcp.h). There is no `rcv_nxt` in tcp_info.
fn idle_from_tcp_info(raw: &[u8]) -> Option<u32> {
    let at = |o: usize| raw.get(o..o + 4).map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    Some(at(52)?.min(at(56)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_info_idle_takes_the_latest_receive() {
        let mut raw = vec![0u8; 104];
        raw[52..56].copy_from_slice(&900u32.to_ne_bytes());
        raw[56..60].copy_from_slice(&40u32.to_ne_bytes());
        assert_eq!(idle_from_tcp_info(&raw), Some(40));
        assert_eq!(idle_from_tcp_info(&raw[..50]), None);
    }

    #[test]
    fn states_are_named_as_ss_names_them() {
        assert_eq!(TcpState::from_kernel(6).as_str(), "TIME-WAIT");
        assert_eq!(TcpState::from_kernel(2).as_str(), "SYN-SENT");
        assert_eq!(TcpState::from_kernel(1), TcpState::Established);
    }
}

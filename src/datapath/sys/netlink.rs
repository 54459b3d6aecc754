//! rtnetlink, synchronously, through the kept `netlink-packet-route` (messages) and
//! `netlink-sys` (socket) crates: look links up, create a veth pair, set an alias, bring a link
//! up, delete it, and list links (e.g. by alias prefix, to find what a killed run left); and
//! read the traffic-control side: which qdiscs an interface has and whether a hook has filters
//! (`RTM_GETQDISC` / `RTM_GETTFILTER` dumps, what `tc qdisc show` / `tc filter show` print).
//!
//! Every call opens its own `NETLINK_ROUTE` socket, sends one request and reads until the
//! kernel's acknowledgement (or the end of a dump), so callers need no state. Everything runs
//! in process: teardown happens after the capabilities were dropped to CAP_NET_ADMIN, which a
//! child such as `ip` would not inherit. The calls act in the caller's network namespace.
//!
//! Errors are `io::Error`s carrying the kernel's errno (e.g. `EEXIST` for a veth name in use,
//! `ENODEV` for a link that is gone, `EPERM` without CAP_NET_ADMIN); callers say what to do.

use std::io;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::tc::{TcAttribute, TcHandle, TcMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// One network interface as rtnetlink reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: u32,
    /// Interface name.
    pub name: String,
    /// `IFLA_IFALIAS`, empty when unset.
    pub alias: String,
    /// Administratively up (IFF_UP).
    pub up: bool,
    /// The link's `tx_dropped` counter (`IFLA_STATS64`; 0 when the kernel sent none): on a
    /// veth it includes the frames XDP_REDIRECT could not put into the peer's ring.
    pub tx_dropped: u64,
}

impl Link {
    fn from_message(m: &LinkMessage) -> Link {
        let mut l = Link {
            index: m.header.index,
            name: String::new(),
            alias: String::new(),
            up: m.header.flags.contains(LinkFlags::Up),
            tx_dropped: 0,
        };
        for a in &m.attributes {
            match a {
                LinkAttribute::IfName(n) => l.name.clone_from(n),
                LinkAttribute::IfAlias(s) => l.alias.clone_from(s),
                LinkAttribute::Stats64(s) => l.tx_dropped = s.tx_dropped,
                _ => {}
            }
        }
        l
    }
}

/// The link called `name`, or `None` when there is none in this namespace.
pub fn link_by_name(name: &str) -> io::Result<Option<Link>> {
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(name.to_string()));
    one_link(m)
}

/// The link with index `index`, or `None` when there is none in this namespace.
pub fn link_by_index(index: u32) -> io::Result<Option<Link>> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    one_link(m)
}

fn one_link(m: LinkMessage) -> io::Result<Option<Link>> {
    match request(RouteNetlinkMessage::GetLink(m), 0) {
        Ok(v) => Ok(v.iter().find_map(|r| match r {
            RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
            _ => None,
        })),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Every link of this namespace.
pub fn list_links() -> io::Result<Vec<Link>> {
    let v = request(RouteNetlinkMessage::GetLink(LinkMessage::default()), NLM_F_DUMP)?;
    Ok(v.iter()
        .filter_map(|r| match r {
            RouteNetlinkMessage::NewLink(l) => Some(Link::from_message(l)),
            _ => None,
        })
        .collect())
}

/// The links whose alias starts with `prefix` (how leftovers of a killed run are found).
pub fn links_with_alias_prefix(prefix: &str) -> io::Result<Vec<Link>> {
    Ok(list_links()?.into_iter().filter(|l| l.alias.starts_with(prefix)).collect())
}

/// Creates the veth pair `a` ⇄ `b`, each end with `queues` rx and tx queues (at least 1), both
/// down (`ip link add A numtxqueues Q numrxqueues Q type veth peer name B numtxqueues Q
/// numrxqueues Q`). Fails with `EEXIST` when either name is taken.
pub fn create_veth(a: &str, b: &str, queues: u32) -> io::Result<()> {
    let q = queues.max(1);
    let mut peer = LinkMessage::default();
    peer.attributes.push(LinkAttribute::IfName(b.to_string()));
    peer.attributes.push(LinkAttribute::NumTxQueues(q));
    peer.attributes.push(LinkAttribute::NumRxQueues(q));
    let mut m = LinkMessage::default();
    m.attributes.push(LinkAttribute::IfName(a.to_string()));
    m.attributes.push(LinkAttribute::NumTxQueues(q));
    m.attributes.push(LinkAttribute::NumRxQueues(q));
    m.attributes.push(LinkAttribute::LinkInfo(vec![
        LinkInfo::Kind(InfoKind::Veth),
        LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
    ]));
    request(RouteNetlinkMessage::NewLink(m), NLM_F_CREATE | NLM_F_EXCL).map(drop)
}

/// Sets the alias (`IFLA_IFALIAS`, `/sys/class/net/DEV/ifalias`) of link `index`.
pub fn set_alias(index: u32, alias: &str) -> io::Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.attributes.push(LinkAttribute::IfAlias(alias.to_string()));
    request(RouteNetlinkMessage::SetLink(m), 0).map(drop)
}

/// Brings link `index` administratively up (`ip link set dev DEV up`).
pub fn set_up(index: u32) -> io::Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    m.header.flags = LinkFlags::Up;
    m.header.change_mask = LinkFlags::Up;
    request(RouteNetlinkMessage::SetLink(m), 0).map(drop)
}

/// Deletes link `index` (for a veth: both ends).
pub fn delete_link(index: u32) -> io::Result<()> {
    let mut m = LinkMessage::default();
    m.header.index = index;
    request(RouteNetlinkMessage::DelLink(m), 0).map(drop)
}

/// The kinds of the qdiscs on link `index` (`tc qdisc show dev DEV`), e.g. `clsact`, `noqueue`.
pub fn qdisc_kinds(index: u32) -> io::Result<Vec<String>> {
    // The kernel dumps every link's qdiscs whatever the header says: keep link `index`'s.
    let v = request(RouteNetlinkMessage::GetQueueDiscipline(TcMessage::with_index(index as i32)), NLM_F_DUMP)?;
    Ok(v.iter()
        .filter_map(|r| match r {
            RouteNetlinkMessage::NewQueueDiscipline(m) if m.header.index == index as i32 => {
                m.attributes.iter().find_map(|a| match a {
                    TcAttribute::Kind(k) => Some(k.clone()),
                    _ => None,
                })
            }
            _ => None,
        })
        .collect())
}

/// Which clsact hook a filter query is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClsactHook {
    /// `tc filter show dev DEV ingress` (parent ffff:fff2).
    Ingress,
    /// `tc filter show dev DEV egress` (parent ffff:fff3).
    Egress,
}

/// The kinds of the filters on one clsact hook of link `index`, one entry per filter message
/// of the dump (a u32 filter gives several: its hash table and each node; empty: no filter).
/// Fails with `EINVAL` or `ENOENT` when the link has no clsact qdisc.
pub fn clsact_filter_kinds(index: u32, hook: ClsactHook) -> io::Result<Vec<String>> {
    // TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS / TC_H_MIN_EGRESS).
    let minor = match hook {
        ClsactHook::Ingress => 0xfff2,
        ClsactHook::Egress => 0xfff3,
    };
    let mut m = TcMessage::with_index(index as i32);
    m.header.parent = TcHandle { major: 0xffff, minor };
    let v = request(RouteNetlinkMessage::GetTrafficFilter(m), NLM_F_DUMP)?;
    Ok(v.iter()
        .filter_map(|r| match r {
            RouteNetlinkMessage::NewTrafficFilter(m) if m.header.index == index as i32 => Some(
                m.attributes
                    .iter()
                    .find_map(|a| match a {
                        TcAttribute::Kind(k) => Some(k.clone()),
                        _ => None,
                    })
                    .unwrap_or_default(),
            ),
            _ => None,
        })
        .collect())
}

/// Sends `msg` with `NLM_F_REQUEST | NLM_F_ACK | flags` and returns the answers, up to the
/// acknowledgement (or `NLMSG_DONE` for a dump). A negative acknowledgement is the error.
fn request(msg: RouteNetlinkMessage, flags: u16) -> io::Result<Vec<RouteNetlinkMessage>> {
    let mut sock = Socket::new(NETLINK_ROUTE)?;
    sock.bind_auto()?;
    sock.connect(&SocketAddr::new(0, 0))?;
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    header.sequence_number = 1;
    let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
    req.finalize();
    let mut buf = vec![0u8; req.buffer_len()];
    req.serialize(&mut buf);
    sock.send(&buf, 0)?;

    let mut answers = Vec::new();
    loop {
        let (data, _) = sock.recv_from_full()?;
        if data.is_empty() {
            return Err(io::Error::other("rtnetlink closed the socket before answering"));
        }
        let mut off = 0;
        while off < data.len() {
            let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..])
                .map_err(|e| io::Error::other(format!("undecodable rtnetlink answer: {e}")))?;
            let len = m.header.length as usize;
            match m.payload {
                NetlinkPayload::Error(e) => {
                    return match e.code {
                        None => Ok(answers),
                        Some(c) => Err(io::Error::from_raw_os_error(-c.get())),
                    };
                }
                NetlinkPayload::Done(_) => return Ok(answers),
                NetlinkPayload::InnerMessage(r) => answers.push(r),
                _ => {}
            }
            if len == 0 {
                break;
            }
            off += (len + 3) & !3;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Needs no privilege: every namespace has `lo`.
    #[test]
    fn loopback_by_name_index_and_dump() {
        let lo = link_by_name("lo").unwrap().expect("lo exists");
        assert_eq!(lo.name, "lo");
        assert_eq!(link_by_index(lo.index).unwrap().unwrap().name, "lo");
        assert!(list_links().unwrap().iter().any(|l| l.index == lo.index));
        assert_eq!(link_by_name("acks-nolink0").unwrap(), None);
        // lo has a qdisc (noqueue) and, without a clsact, no clsact filters to list.
        assert!(!qdisc_kinds(lo.index).unwrap().iter().any(|k| k == "clsact"));
    }
}

//! The `tunnel` object of an event (only present when the flow came in an encapsulation):
//! `{"type":"vxlan","vni":42,"outer_src":"10.0.0.1","outer_dst":"10.0.0.2","depth":1}`. The id
//! field is named after the type (`vni`, `key`, `session_id`, `label`) and left out when the
//! header has none; the outer addresses are left out for MPLS/PPPoE straight on Ethernet.

use std::fmt::Write as _;

use crate::packet::Tunnel;

/// Append `,"tunnel":{…}` to a JSON object being written.
pub(crate) fn write_tunnel_json(s: &mut String, t: &Tunnel) {
    let _ = write!(s, ",\"tunnel\":{{\"type\":\"{}\"", t.kind.as_str());
    if let Some(id) = t.id {
        let _ = write!(s, ",\"{}\":{id}", t.kind.id_name());
    }
    if let (Some(a), Some(b)) = (t.outer_src_ip(), t.outer_dst_ip()) {
        let _ = write!(s, ",\"outer_src\":\"{a}\",\"outer_dst\":\"{b}\"");
    }
    let _ = write!(s, ",\"depth\":{}}}", t.depth);
}

//! The "control-only cut" of a capture: the frames the live steering would deliver to ackscope
//! (bpf/flowtrack.h), for replaying a whole capture the way host, mirror and inline mode see it.
//!
//! A test-side re-implementation of `ackscope_track()`, on purpose independent of the product's
//! parser: SYN, SYN-ACK, FIN and RST always; a bare ACK (ACK set, SYN/FIN/RST clear, no
//! payload) only while its 4-tuple is in handshake (after a SYN or SYN-ACK, until the client's
//! ACK) or teardown (after a FIN, until the ACK that follows both FINs); data segments never.
//! The BPF flow age (entries older than it are treated as absent) is not modelled: the
//! captures it is used on are shorter than it. Classic pcap, Ethernet (with up to two VLAN
//! tags), IPv4 and IPv6 without extension headers; other frames are dropped, as the XDP
//! program drops them.

use std::collections::HashMap;

const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const ACK: u8 = 0x10;

#[derive(Clone, Copy, PartialEq)]
enum Phase {
    Syn,
    SynAck,
    Fin,
}

struct Entry {
    phase: Phase,
    /// Bit 0: FIN from the lo endpoint, bit 1: from the hi endpoint.
    fins: u8,
    client_hi: bool,
}

type Endpoint = (Vec<u8>, u16);

struct Tcp {
    src: Endpoint,
    dst: Endpoint,
    flags: u8,
    payload: usize,
}

fn tcp_of(frame: &[u8]) -> Option<Tcp> {
    let mut p = 12;
    let mut et = u16::from_be_bytes([*frame.get(p)?, *frame.get(p + 1)?]);
    p += 2;
    for _ in 0..2 {
        if et == 0x8100 || et == 0x88a8 {
            et = u16::from_be_bytes([*frame.get(p + 2)?, *frame.get(p + 3)?]);
            p += 4;
        }
    }
    let ip = frame.get(p..)?;
    let (src, dst, t, l4len) = match et {
        0x0800 => {
            let ihl = usize::from(ip.first()? & 0xf) * 4;
            let tot = usize::from(u16::from_be_bytes([*ip.get(2)?, *ip.get(3)?]));
            if *ip.get(9)? != 6 || u16::from_be_bytes([*ip.get(6)?, *ip.get(7)?]) & 0x3fff != 0 {
                return None; // not TCP, or a fragment
            }
            (ip.get(12..16)?.to_vec(), ip.get(16..20)?.to_vec(), ihl, tot.checked_sub(ihl)?)
        }
        0x86dd => {
            if *ip.get(6)? != 6 {
                return None;
            }
            let plen = usize::from(u16::from_be_bytes([*ip.get(4)?, *ip.get(5)?]));
            (ip.get(8..24)?.to_vec(), ip.get(24..40)?.to_vec(), 40, plen)
        }
        _ => return None,
    };
    let tcp = ip.get(t..t + 20)?;
    let sport = u16::from_be_bytes([tcp[0], tcp[1]]);
    let dport = u16::from_be_bytes([tcp[2], tcp[3]]);
    let doff = usize::from(tcp[12] >> 4) * 4;
    Some(Tcp { src: (src, sport), dst: (dst, dport), flags: tcp[13], payload: l4len.checked_sub(doff)? })
}

/// Would the live steering deliver this segment? Updates `flows` as `ackscope_track()` does.
fn steer(flows: &mut HashMap<(Endpoint, Endpoint), Entry>, s: &Tcp) -> bool {
    let src_is_hi = s.src > s.dst;
    let key = if src_is_hi { (s.dst.clone(), s.src.clone()) } else { (s.src.clone(), s.dst.clone()) };
    let f = s.flags;
    if f & RST != 0 {
        // The client's RST while its SYN is outstanding keeps the entry (flowtrack.h).
        if !flows.get(&key).is_some_and(|e| e.phase == Phase::Syn && e.client_hi == src_is_hi) {
            flows.remove(&key);
        }
        return true;
    }
    if f & SYN != 0 {
        let (phase, client_hi) = if f & ACK != 0 { (Phase::SynAck, !src_is_hi) } else { (Phase::Syn, src_is_hi) };
        flows.insert(key, Entry { phase, fins: 0, client_hi });
        return true;
    }
    let bit = if src_is_hi { 2 } else { 1 };
    if f & FIN != 0 {
        match flows.get_mut(&key) {
            Some(e) if e.phase == Phase::Fin => e.fins |= bit,
            e => {
                let client_hi = e.map_or(false, |e| e.client_hi);
                flows.insert(key, Entry { phase: Phase::Fin, fins: bit, client_hi });
            }
        }
        return true;
    }
    if f & ACK == 0 || s.payload != 0 {
        return false; // data segment: never steered
    }
    let Some(e) = flows.get(&key) else { return false };
    let done = match e.phase {
        Phase::Fin => e.fins == 3,
        Phase::Syn | Phase::SynAck => src_is_hi == e.client_hi, // handshake complete
    };
    if done {
        flows.remove(&key);
    }
    true
}

/// The control-only cut of the classic pcap `input`, as a classic pcap.
pub fn control_cut(input: &[u8]) -> Vec<u8> {
    assert!(input.len() >= 24, "not a pcap");
    let le = match &input[..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        m => panic!("not a classic pcap: magic {m:x?}"),
    };
    let u32_at = |b: &[u8], o: usize| {
        let a = [b[o], b[o + 1], b[o + 2], b[o + 3]];
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(u32_at(input, 20), 1, "control_cut: Ethernet captures only");
    let mut out = input[..24].to_vec();
    let mut flows = HashMap::new();
    let mut off = 24;
    while off + 16 <= input.len() {
        let incl = u32_at(input, off + 8) as usize;
        let end = (off + 16 + incl).min(input.len());
        let frame = &input[off + 16..end];
        if tcp_of(frame).is_some_and(|t| steer(&mut flows, &t)) {
            out.extend_from_slice(&input[off..end]);
        }
        off = end;
    }
    out
}

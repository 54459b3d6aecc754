//! Capture file reader: classic pcap (µs and ns, both byte orders) and pcapng (sections,
//! several interfaces, EPB/SPB/OPB), plain or gzip-compressed (`.pcap.gz`, `.pcapng.gz`,
//! told by the gzip magic, decompressed on the fly by the `flate2` crate; byte offsets in
//! errors are then offsets in the decompressed capture).
//!
//! Written here rather than taken from a crate (pcap-file, pcap-parser) for three reasons the
//! issue cares about: every error names the byte offset where the file goes wrong, a truncated
//! last record is told apart from a corrupt header, and the per-frame path reuses one buffer
//! (no allocation per frame, no per-block `Vec`). Formats: <https://www.tcpdump.org/manpages/pcap-savefile.5.html>,
//! draft-ietf-opsawg-pcapng.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::packet::LinkType;

/// Largest record or block we accept (pcapng blocks and pcap records above this are corrupt;
/// libpcap's own limit for records is 256 KiB for most link types, we allow jumbo TSO frames).
pub const MAX_RECORD: usize = 16 * 1024 * 1024;

/// What went wrong reading a capture.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source} (check the path and permissions)")]
    Io {
        /// File.
        path: PathBuf,
        /// OS error.
        source: io::Error,
    },
    /// The first bytes are not a pcap or pcapng magic number.
    #[error(
        "{path}: not a pcap or pcapng capture (first 4 bytes {magic:08x} at byte 0); \
         give a file written by tcpdump -w, dumpcap or Wireshark"
    )]
    NotACapture {
        /// File.
        path: PathBuf,
        /// First four bytes, big-endian.
        magic: u32,
    },
    /// The file ends inside a header or a record.
    #[error(
        "{path}: truncated at byte {offset}: {what} needs {needed} bytes, only {available} left \
         (the capture was cut short; frames before it were processed)"
    )]
    Truncated {
        /// File.
        path: PathBuf,
        /// Where the cut header/record starts.
        offset: u64,
        /// What was being read.
        what: &'static str,
        /// Bytes it needs.
        needed: u64,
        /// Bytes there were.
        available: u64,
    },
    /// A header field makes no sense.
    #[error("{path}: corrupt {what} at byte {offset}: {detail} (frames before it were processed)")]
    Corrupt {
        /// File.
        path: PathBuf,
        /// Where.
        offset: u64,
        /// Which structure.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
}

impl CaptureError {
    /// True when nothing of the file could be read (not a capture, unreadable).
    pub fn is_fatal(&self) -> bool {
        matches!(self, CaptureError::Io { .. } | CaptureError::NotACapture { .. })
    }
}

/// One frame, borrowed from the reader's buffer until the next call.
#[derive(Debug)]
pub struct Frame<'a> {
    /// Captured bytes.
    pub data: &'a [u8],
    /// Length on the wire.
    pub orig_len: u32,
    /// Timestamp, ns since the Unix epoch.
    pub ts_ns: u64,
    /// Link type of the interface it was captured on.
    pub link: LinkType,
    /// 1-based frame number in the file, as Wireshark counts.
    pub number: u64,
}

#[derive(Clone, Copy)]
struct Iface {
    link: LinkType,
    snaplen: u32,
    /// Timestamp units per second: 10^n or 2^n.
    units: TsUnits,
    offset_s: i64,
}

#[derive(Clone, Copy)]
enum TsUnits {
    Dec(u32),
    Bin(u32),
}

impl TsUnits {
    fn to_ns(self, ts: u64) -> u64 {
        match self {
            TsUnits::Dec(n) if n <= 9 => ts.saturating_mul(10u64.pow(9 - n)),
            TsUnits::Dec(n) => ts / 10u64.pow((n - 9).min(19)),
            TsUnits::Bin(n) => ((u128::from(ts) * 1_000_000_000) >> n.min(127)) as u64,
        }
    }
}

enum Format {
    Pcap { swap: bool, nanos: bool, link: LinkType },
    PcapNg { swap: bool, ifaces: Vec<Iface> },
}

/// The file's bytes: as they are, or gunzipped.
enum Source {
    Plain(File),
    Gzip(Box<flate2::read::MultiGzDecoder<BufReader<File>>>),
}

/// The capture's bytes, with the few already read to find the format served again first
/// (a gzip stream cannot seek back).
struct Input {
    head: [u8; 24],
    pos: usize,
    len: usize,
    src: Source,
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.len {
            let n = (self.len - self.pos).min(buf.len());
            buf[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        match &mut self.src {
            Source::Plain(f) => f.read(buf),
            Source::Gzip(g) => g.read(buf),
        }
    }
}

/// Reads frames from one capture file.
pub struct CaptureReader {
    path: PathBuf,
    r: BufReader<Input>,
    offset: u64,
    format: Format,
    buf: Vec<u8>,
    frames: u64,
    /// Classic pcap: `buf` is a read window; unread bytes are `buf[win_pos..win_end]`.
    win_pos: usize,
    win_end: usize,
    eof: bool,
    /// Classic pcap records whose sub-second field was out of range (≥ 10⁶ µs or 10⁹ ns):
    /// normalised, the excess carried into the seconds (the value libpcap hands on unchecked).
    pub timestamps_normalised: u64,
}

/// Bytes read at a time for classic pcap; records are parsed in place from this window.
/// Small enough to stay in the L2 cache between the kernel's copy into it and the parse
/// (measured on bench/replay.sh's capture: 256 KiB walked the headers in 0.19 s, a 4 MiB
/// window in 0.21-0.35 s, `mmap` in 0.21-0.42 s: the VM's page faults cost more than the copy).
const WINDOW: usize = 256 << 10;

/// Read exactly `buf.len()` bytes; `Ok(n)` with `n < len` only at end of file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[inline]
fn u32_at(b: &[u8], at: usize, swap: bool) -> u32 {
    let v = u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    if swap {
        v.swap_bytes()
    } else {
        v
    }
}

#[inline]
fn u16_at(b: &[u8], at: usize, swap: bool) -> u16 {
    let v = u16::from_le_bytes([b[at], b[at + 1]]);
    if swap {
        v.swap_bytes()
    } else {
        v
    }
}

const SHB: u32 = 0x0A0D_0D0A;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

impl CaptureReader {
    /// Open `path` and read its file header (pcap) or first section header (pcapng).
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        let io_err = |source| CaptureError::Io { path: path.to_path_buf(), source };
        let mut file = File::open(path).map_err(io_err)?;
        let mut file_len = file.metadata().map(|m| m.len()).unwrap_or(WINDOW as u64);
        let mut gz = [0u8; 2];
        let gzip = read_full(&mut file, &mut gz).map_err(io_err)? == 2 && gz == [0x1F, 0x8B];
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        let src = if gzip {
            file_len = WINDOW as u64;
            Source::Gzip(Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 16, file))))
        } else {
            Source::Plain(file)
        };
        let mut input = Input { head: [0; 24], pos: 0, len: 0, src };
        let mut head = [0u8; 24];
        let n = read_full(&mut input, &mut head).map_err(io_err)?;
        let r = BufReader::with_capacity(1 << 20, input);
        let magic_be = if n >= 4 { u32::from_be_bytes([head[0], head[1], head[2], head[3]]) } else { 0 };
        let magic_le = if n >= 4 { u32::from_le_bytes([head[0], head[1], head[2], head[3]]) } else { 0 };
        let mut me = CaptureReader {
            path: path.to_path_buf(),
            r,
            offset: 0,
            format: Format::Pcap { swap: false, nanos: false, link: LinkType::Ethernet },
            buf: Vec::with_capacity(65_536),
            frames: 0,
            win_pos: 0,
            win_end: 0,
            eof: false,
            timestamps_normalised: 0,
        };
        let pcap = match magic_le {
            0xA1B2_C3D4 => Some((false, false)),
            0xA1B2_3C4D => Some((false, true)),
            _ => match magic_be {
                0xA1B2_C3D4 => Some((true, false)),
                0xA1B2_3C4D => Some((true, true)),
                _ => None,
            },
        };
        if let Some((swap, nanos)) = pcap {
            if n < 24 {
                return Err(me.truncated(0, "pcap file header", 24, n as u64));
            }
            let link = u32_at(&head, 20, swap) & 0x0FFF_FFFF;
            me.format = Format::Pcap { swap, nanos, link: LinkType::from_linktype(link) };
            me.offset = 24;
            // A small file needs no full window; `fill` grows it for a larger record.
            me.buf = vec![0; (file_len as usize).clamp(64, WINDOW)];
            return Ok(me);
        }
        if magic_le == SHB {
            // The section header's byte-order magic tells the byte order.
            if n < 12 {
                return Err(me.truncated(0, "pcapng section header", 28, n as u64));
            }
            let swap = match u32::from_le_bytes([head[8], head[9], head[10], head[11]]) {
                BYTE_ORDER_MAGIC => false,
                m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
                m => {
                    return Err(CaptureError::Corrupt {
                        path: path.to_path_buf(),
                        offset: 8,
                        what: "pcapng section header",
                        detail: format!("byte-order magic {m:08x}, expected 1a2b3c4d"),
                    })
                }
            };
            me.format = Format::PcapNg { swap, ifaces: Vec::new() };
            // Read the section header again through the generic block path.
            let input = me.r.get_mut();
            input.head = head;
            input.pos = 0;
            input.len = n;
            return Ok(me);
        }
        Err(CaptureError::NotACapture { path: path.to_path_buf(), magic: magic_be })
    }

    /// Frames returned so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Byte offset of the next record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn truncated(&self, offset: u64, what: &'static str, needed: u64, available: u64) -> CaptureError {
        CaptureError::Truncated { path: self.path.clone(), offset, what, needed, available }
    }

    fn corrupt(&self, offset: u64, what: &'static str, detail: String) -> CaptureError {
        CaptureError::Corrupt { path: self.path.clone(), offset, what, detail }
    }

    /// The next frame, `Ok(None)` at a clean end of file.
    pub fn next_frame(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        match self.format {
            Format::Pcap { swap, nanos, link } => self.next_pcap(swap, nanos, link),
            Format::PcapNg { .. } => self.next_pcapng(),
        }
    }

    /// Make at least `n` unread bytes available in the window if the file has them; returns
    /// how many are available.
    #[inline]
    fn fill(&mut self, n: usize) -> Result<usize, CaptureError> {
        let have = self.win_end - self.win_pos;
        if have >= n || self.eof {
            return Ok(have);
        }
        self.refill(n)
    }

    /// [`Self::fill`] when the window runs short: once per window, not per record.
    #[cold]
    #[inline(never)]
    fn refill(&mut self, n: usize) -> Result<usize, CaptureError> {
        self.buf.copy_within(self.win_pos..self.win_end, 0);
        self.win_end -= self.win_pos;
        self.win_pos = 0;
        if n > self.buf.len() {
            self.buf.resize(n, 0);
        }
        // Straight from the file (or the gzip decoder): classic pcap never reads through the
        // `BufReader`, whose buffer would only add a copy.
        debug_assert!(self.r.buffer().is_empty());
        while self.win_end < n {
            match self.r.get_mut().read(&mut self.buf[self.win_end..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(k) => self.win_end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(source) => return Err(CaptureError::Io { path: self.path.clone(), source }),
            }
        }
        Ok(self.win_end - self.win_pos)
    }

    fn next_pcap(&mut self, swap: bool, nanos: bool, link: LinkType) -> Result<Option<Frame<'_>>, CaptureError> {
        let at = self.offset;
        let n = self.fill(16)?;
        if n == 0 {
            return Ok(None);
        }
        if n < 16 {
            return Err(self.truncated(at, "record header", 16, n as u64));
        }
        let h = &self.buf[self.win_pos..self.win_pos + 16];
        let (sec, frac) = (u32_at(h, 0, swap), u32_at(h, 4, swap));
        let (incl, orig) = (u32_at(h, 8, swap) as usize, u32_at(h, 12, swap));
        if incl > MAX_RECORD {
            return Err(self.corrupt(at, "record header", format!("captured length {incl} exceeds {MAX_RECORD}")));
        }
        if (nanos && frac >= 1_000_000_000) || (!nanos && frac >= 1_000_000) {
            // Written by broken tools; libpcap passes it on as it is, and every reader that
            // adds it up carries the excess into the seconds. Do that, count it, go on.
            self.timestamps_normalised += 1;
        }
        let got = self.fill(16 + incl)?;
        if got < 16 + incl {
            return Err(self.truncated(at, "record", 16 + incl as u64, got as u64));
        }
        let start = self.win_pos + 16;
        self.win_pos = start + incl;
        self.offset = at + 16 + incl as u64;
        self.frames += 1;
        let ts_ns = u64::from(sec) * 1_000_000_000 + if nanos { u64::from(frac) } else { u64::from(frac) * 1000 };
        Ok(Some(Frame { data: &self.buf[start..start + incl], orig_len: orig, ts_ns, link, number: self.frames }))
    }

    fn next_pcapng(&mut self) -> Result<Option<Frame<'_>>, CaptureError> {
        loop {
            let at = self.offset;
            let mut h = [0u8; 8];
            let n = read_full(&mut self.r, &mut h).map_err(|source| CaptureError::Io { path: self.path.clone(), source })?;
            if n == 0 {
                return Ok(None);
            }
            if n < 8 {
                return Err(self.truncated(at, "pcapng block header", 8, n as u64));
            }
            let Format::PcapNg { swap, .. } = self.format else { unreachable!() };
            let raw_type = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
            // A new section may switch byte order: read its byte-order magic first.
            let swap = if raw_type == SHB {
                let mut bom = [0u8; 4];
                let extra = read_full(&mut self.r, &mut bom).map_err(|source| CaptureError::Io { path: self.path.clone(), source })?;
                if extra < 4 {
                    return Err(self.truncated(at, "pcapng section header", 12, 8 + extra as u64));
                }
                let m = u32::from_le_bytes(bom);
                let s = if m == BYTE_ORDER_MAGIC {
                    false
                } else if m.swap_bytes() == BYTE_ORDER_MAGIC {
                    true
                } else {
                    return Err(self.corrupt(at + 8, "pcapng section header", format!("byte-order magic {m:08x}")));
                };
                self.format = Format::PcapNg { swap: s, ifaces: Vec::new() };
                // Put the magic back at the body's start.
                self.buf.clear();
                self.buf.extend_from_slice(&bom);
                s
            } else {
                self.buf.clear();
                swap
            };
            let btype = if swap { raw_type.swap_bytes() } else { raw_type };
            let total = u32_at(&h, 4, swap) as usize;
            if total < 12 || total % 4 != 0 || total > MAX_RECORD {
                return Err(self.corrupt(at, "pcapng block header", format!("block total length {total}")));
            }
            let already = self.buf.len();
            let body_len = total - 8; // body + trailing length
            self.buf.resize(body_len, 0);
            let got = already
                + read_full(&mut self.r, &mut self.buf[already..]).map_err(|source| CaptureError::Io { path: self.path.clone(), source })?;
            if got < body_len {
                return Err(self.truncated(at, "pcapng block", total as u64, 8 + got as u64));
            }
            if u32_at(&self.buf, body_len - 4, swap) as usize != total {
                return Err(self.corrupt(at, "pcapng block", "trailing total length differs from the leading one".into()));
            }
            self.offset = at + total as u64;
            let body_end = body_len - 4;
            match btype {
                SHB => {}
                1 => self.read_idb(at, body_end, swap)?,
                6 | 2 => {
                    // EPB (6): if_id u32, ts hi, ts lo, caplen, origlen. OPB (2): if_id u16, drops u16, ...
                    if body_end < 20 {
                        return Err(self.corrupt(at, "pcapng packet block", format!("body of {body_end} bytes")));
                    }
                    let if_id = if btype == 6 { u32_at(&self.buf, 0, swap) as usize } else { u16_at(&self.buf, 0, swap) as usize };
                    let ts = (u64::from(u32_at(&self.buf, 4, swap)) << 32) | u64::from(u32_at(&self.buf, 8, swap));
                    let caplen = u32_at(&self.buf, 12, swap) as usize;
                    let orig = u32_at(&self.buf, 16, swap);
                    if caplen > body_end - 20 {
                        return Err(self.corrupt(at, "pcapng packet block", format!("captured length {caplen} beyond the block")));
                    }
                    let Format::PcapNg { ifaces, .. } = &self.format else { unreachable!() };
                    let Some(iface) = ifaces.get(if_id).copied() else {
                        return Err(self.corrupt(at, "pcapng packet block", format!("interface {if_id} was never described")));
                    };
                    let ts_ns = (iface.units.to_ns(ts) as i64).saturating_add(iface.offset_s.saturating_mul(1_000_000_000)) as u64;
                    self.frames += 1;
                    return Ok(Some(Frame { data: &self.buf[20..20 + caplen], orig_len: orig, ts_ns, link: iface.link, number: self.frames }));
                }
                3 => {
                    // SPB: origlen, data; interface 0, no timestamp.
                    if body_end < 4 {
                        return Err(self.corrupt(at, "pcapng simple packet block", "no length".into()));
                    }
                    let orig = u32_at(&self.buf, 0, swap);
                    let Format::PcapNg { ifaces, .. } = &self.format else { unreachable!() };
                    let Some(iface) = ifaces.first().copied() else {
                        return Err(self.corrupt(at, "pcapng simple packet block", "no interface described".into()));
                    };
                    let mut caplen = (orig as usize).min(body_end - 4);
                    if iface.snaplen != 0 {
                        caplen = caplen.min(iface.snaplen as usize);
                    }
                    self.frames += 1;
                    return Ok(Some(Frame { data: &self.buf[4..4 + caplen], orig_len: orig, ts_ns: 0, link: iface.link, number: self.frames }));
                }
                _ => {} // NRB, ISB, DSB, custom: not needed.
            }
        }
    }

    fn read_idb(&mut self, at: u64, body_end: usize, swap: bool) -> Result<(), CaptureError> {
        if body_end < 8 {
            return Err(self.corrupt(at, "pcapng interface block", format!("body of {body_end} bytes")));
        }
        let link = LinkType::from_linktype(u32::from(u16_at(&self.buf, 0, swap)));
        let snaplen = u32_at(&self.buf, 4, swap);
        let mut iface = Iface { link, snaplen, units: TsUnits::Dec(6), offset_s: 0 };
        let mut o = 8;
        while o + 4 <= body_end {
            let code = u16_at(&self.buf, o, swap);
            let len = u16_at(&self.buf, o + 2, swap) as usize;
            let v = o + 4;
            if v + len > body_end {
                return Err(self.corrupt(at, "pcapng interface block", format!("option {code} overruns the block")));
            }
            match (code, len) {
                (0, _) => break,
                (9, 1) => {
                    let r = self.buf[v];
                    iface.units = if r & 0x80 == 0 { TsUnits::Dec(u32::from(r)) } else { TsUnits::Bin(u32::from(r & 0x7F)) };
                }
                (14, 8) => {
                    let lo = u32_at(&self.buf, v, swap) as u64;
                    let hi = u32_at(&self.buf, v + 4, swap) as u64;
                    iface.offset_s = (if swap { (lo << 32) | hi } else { (hi << 32) | lo }) as i64;
                }
                _ => {}
            }
            o = v + len.div_ceil(4) * 4;
        }
        if let Format::PcapNg { ifaces, .. } = &mut self.format {
            ifaces.push(iface);
        }
        Ok(())
    }
}

//! The process that owns a socket inode: `/proc/<pid>/fd/*` links read `socket:[<inode>]`.
//! There is no kernel interface from inode to process, so `ss -p` and this scan every process's
//! descriptors; the scan is cached and rate-limited.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Socket inodes remembered at most (one scan stops adding beyond this).
pub const OWNER_CACHE_MAX: usize = 65_536;
/// A miss rescans `/proc` at most this often.
pub const RESCAN_EVERY: Duration = Duration::from_millis(200);

/// A process owning a socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// Its pid.
    pub pid: u32,
    /// `/proc/<pid>/comm`.
    pub comm: String,
    /// Its cgroup v2 path (`/proc/<pid>/cgroup`, the `0::` line), e.g. a container's.
    pub cgroup: String,
}

/// Inode → pid from the latest `/proc` scan.
#[derive(Debug, Default)]
pub struct OwnerCache {
    pids: HashMap<u32, u32>,
    scanned: Option<Instant>,
    /// Descriptors read by all scans (the cost).
    pub fds_read: u64,
    /// Scans made.
    pub scans: u64,
}

impl OwnerCache {
    /// The owner of socket `inode`, rescanning on a miss (at most every [`RESCAN_EVERY`]).
    pub fn owner(&mut self, inode: u32) -> Option<Owner> {
        let cached = self.pids.get(&inode).copied().filter(|&pid| still_owns(pid, inode));
        let pid = match cached {
            Some(p) => p,
            None => {
                if self.scanned.is_some_and(|t| t.elapsed() < RESCAN_EVERY) {
                    return None;
                }
                self.scan();
                *self.pids.get(&inode)?
            }
        };
        Some(Owner { pid, comm: read_trim(&format!("/proc/{pid}/comm")), cgroup: cgroup_of(pid) })
    }

    fn scan(&mut self) {
        self.pids.clear();
        self.scans += 1;
        self.scanned = Some(Instant::now());
        let Ok(procs) = std::fs::read_dir("/proc") else { return };
        for p in procs.flatten() {
            let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else { continue };
            for fd in fds.flatten() {
                self.fds_read += 1;
                if let Some(ino) = std::fs::read_link(fd.path()).ok().and_then(|l| socket_inode(l.to_str()?)) {
                    if self.pids.len() < OWNER_CACHE_MAX {
                        self.pids.entry(ino).or_insert(pid);
                    }
                }
            }
        }
    }
}

fn still_owns(pid: u32, inode: u32) -> bool {
    // A cached pid may have exited or closed the socket; check one directory, not all.
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.flatten().any(|fd| std::fs::read_link(fd.path()).ok().and_then(|l| socket_inode(l.to_str()?)) == Some(inode)))
        .unwrap_or(false)
}

fn socket_inode(link: &str) -> Option<u32> {
    link.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim_end().to_string()).unwrap_or_default()
}

fn cgroup_of(pid: u32) -> String {
    let s = read_trim(&format!("/proc/{pid}/cgroup"));
    s.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_links_parse() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn finds_its_own_socket() {
        use std::os::unix::fs::MetadataExt;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        use std::os::fd::AsRawFd;
        let ino = std::fs::metadata(format!("/proc/self/fd/{}", l.as_raw_fd())).unwrap().ino() as u32;
        let mut c = OwnerCache::default();
        let o = c.owner(ino).expect("own socket found");
        assert_eq!(o.pid, std::process::id());
        assert!(!o.comm.is_empty());
    }
}

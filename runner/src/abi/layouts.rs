//! x86-64 Linux struct layouts the file and socket syscalls copy through
//! the tunnel: `struct stat`, `struct statx`, `struct linux_dirent64`,
//! `struct sockaddr_in`/`sockaddr_in6`, `struct iovec`, and the sizes of
//! `struct sockaddr_storage` and `struct utsname`. Encoded and decoded
//! byte by byte (little-endian), never by casting guest memory.

use crate::abi::Errno;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::constants::STATX_BASIC_STATS;
pub use super::constants::{AF_INET, AF_INET6, S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};

/// `sizeof(struct stat)` on x86-64.
pub const STAT_SIZE: usize = 144;
/// `sizeof(struct statx)`.
pub const STATX_SIZE: usize = 256;
/// `sizeof(struct iovec)`.
pub const IOVEC_SIZE: usize = 16;
/// `sizeof(struct sockaddr_storage)`: the largest sockaddr the guest may
/// pass.
pub const SOCKADDR_MAX: u64 = 128;
/// `sizeof(struct utsname)`: six 65-byte fields.
pub const UTSNAME_LEN: usize = 6 * 65;

/// The fields of a `struct stat`, from the host or synthesized.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatInfo {
    pub dev: u64,
    pub ino: u64,
    pub nlink: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u64,
    pub size: i64,
    pub blksize: i64,
    pub blocks: i64,
    pub atime: (i64, u64),
    pub mtime: (i64, u64),
    pub ctime: (i64, u64),
}

impl StatInfo {
    /// A host `fstat` result, as is (real sizes, modes, times, device and
    /// inode numbers).
    pub fn from_host(s: &rustix::fs::Stat) -> StatInfo {
        StatInfo {
            dev: s.st_dev,
            ino: s.st_ino,
            nlink: s.st_nlink,
            mode: s.st_mode,
            uid: s.st_uid,
            gid: s.st_gid,
            rdev: s.st_rdev,
            size: s.st_size,
            blksize: s.st_blksize,
            blocks: s.st_blocks,
            atime: (s.st_atime, s.st_atime_nsec),
            mtime: (s.st_mtime, s.st_mtime_nsec),
            ctime: (s.st_ctime, s.st_ctime_nsec),
        }
    }

    /// A synthesized directory (an ancestor of rule paths): read-only,
    /// device 0, inode `ino` (the vfs's stable number for its path), times 0.
    pub fn virtual_dir(ino: u64) -> StatInfo {
        StatInfo {
            dev: 0,
            ino,
            nlink: 2,
            mode: S_IFDIR | 0o555,
            blksize: 4096,
            ..StatInfo::default()
        }
    }

    /// A disconnected standard stream: `/dev/null` (character device 1:3).
    pub fn null_device() -> StatInfo {
        StatInfo::device(3)
    }

    /// A memory device of /dev (major 1: null 3, zero 5, full 7, random 8,
    /// urandom 9), as devtmpfs shows it: a character device anyone may
    /// read and write.
    pub fn device(minor: u32) -> StatInfo {
        StatInfo {
            dev: 5,
            ino: u64::from(minor) + 1,
            nlink: 1,
            mode: S_IFCHR | 0o666,
            rdev: makedev(1, u64::from(minor)),
            blksize: 4096,
            ..StatInfo::default()
        }
    }

    pub fn is_dir(&self) -> bool {
        self.mode & S_IFMT == S_IFDIR
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & S_IFMT == S_IFLNK
    }

    /// `struct stat` (144 bytes).
    pub fn encode_stat(&self) -> [u8; STAT_SIZE] {
        let mut b = [0u8; STAT_SIZE];
        put(&mut b, 0, &self.dev.to_le_bytes());
        put(&mut b, 8, &self.ino.to_le_bytes());
        put(&mut b, 16, &self.nlink.to_le_bytes());
        put(&mut b, 24, &self.mode.to_le_bytes());
        put(&mut b, 28, &self.uid.to_le_bytes());
        put(&mut b, 32, &self.gid.to_le_bytes());
        put(&mut b, 40, &self.rdev.to_le_bytes());
        put(&mut b, 48, &self.size.to_le_bytes());
        put(&mut b, 56, &self.blksize.to_le_bytes());
        put(&mut b, 64, &self.blocks.to_le_bytes());
        for (off, (sec, nsec)) in [(72, self.atime), (88, self.mtime), (104, self.ctime)] {
            put(&mut b, off, &sec.to_le_bytes());
            put(&mut b, off + 8, &nsec.to_le_bytes());
        }
        b
    }

    /// `struct statx` (256 bytes) with `stx_mask = STATX_BASIC_STATS`
    /// (no birth time, mount id or DIO alignment: the host's stay hidden).
    pub fn encode_statx(&self) -> [u8; STATX_SIZE] {
        let mut b = [0u8; STATX_SIZE];
        put(&mut b, 0, &STATX_BASIC_STATS.to_le_bytes());
        put(&mut b, 4, &(self.blksize as u32).to_le_bytes());
        put(&mut b, 16, &(self.nlink as u32).to_le_bytes());
        put(&mut b, 20, &self.uid.to_le_bytes());
        put(&mut b, 24, &self.gid.to_le_bytes());
        put(&mut b, 28, &(self.mode as u16).to_le_bytes());
        put(&mut b, 32, &self.ino.to_le_bytes());
        put(&mut b, 40, &(self.size as u64).to_le_bytes());
        put(&mut b, 48, &(self.blocks as u64).to_le_bytes());
        // atime 64, btime 80 (absent), ctime 96, mtime 112.
        for (off, (sec, nsec)) in [(64, self.atime), (96, self.ctime), (112, self.mtime)] {
            put(&mut b, off, &sec.to_le_bytes());
            put(&mut b, off + 8, &(nsec as u32).to_le_bytes());
        }
        put(&mut b, 128, &major(self.rdev).to_le_bytes());
        put(&mut b, 132, &minor(self.rdev).to_le_bytes());
        put(&mut b, 136, &major(self.dev).to_le_bytes());
        put(&mut b, 140, &minor(self.dev).to_le_bytes());
        b
    }
}

fn put(b: &mut [u8], off: usize, v: &[u8]) {
    b[off..off + v.len()].copy_from_slice(v);
}

/// Linux's `new_encode_dev` split.
pub fn major(dev: u64) -> u32 {
    (((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)) as u32
}

pub fn minor(dev: u64) -> u32 {
    ((dev & 0xff) | ((dev >> 12) & !0xff)) as u32
}

pub fn makedev(major: u64, minor: u64) -> u64 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// Which directory-entry record a listing call writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirentFormat {
    /// `struct linux_dirent64` (getdents64): ino, off, reclen, type, name.
    Sixty4,
    /// `struct linux_dirent` (the original getdents): ino, off, reclen,
    /// name and its NUL, the type in the record's last byte.
    Legacy,
}

impl DirentFormat {
    /// `d_reclen` of one record with a `name_len`-byte name (8-aligned).
    pub fn len(self, name_len: usize) -> usize {
        match self {
            Self::Sixty4 => (19 + name_len + 1 + 7) & !7,
            Self::Legacy => (18 + name_len + 2 + 7) & !7,
        }
    }

    /// Appends one record to `out`.
    pub fn push(self, out: &mut Vec<u8>, ino: u64, off: i64, d_type: u8, name: &[u8]) {
        let len = self.len(name.len());
        let start = out.len();
        out.extend_from_slice(&ino.to_le_bytes());
        out.extend_from_slice(&off.to_le_bytes());
        out.extend_from_slice(&(len as u16).to_le_bytes());
        if self == Self::Sixty4 {
            out.push(d_type);
        }
        out.extend_from_slice(name);
        out.resize(start + len, 0);
        if self == Self::Legacy {
            out[start + len - 1] = d_type;
        }
    }
}

/// Decodes one `struct iovec` (base, len).
pub fn iovec(b: &[u8]) -> (u64, u64) {
    let mut base = [0u8; 8];
    let mut len = [0u8; 8];
    base.copy_from_slice(&b[..8]);
    len.copy_from_slice(&b[8..16]);
    (u64::from_le_bytes(base), u64::from_le_bytes(len))
}

/// Decodes a guest `sockaddr_in` / `sockaddr_in6`. `EINVAL` when too short,
/// `EAFNOSUPPORT` for any other family.
pub fn decode_sockaddr(b: &[u8]) -> Result<SocketAddr, Errno> {
    if b.len() < 2 {
        return Err(Errno::INVAL);
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    match family {
        AF_INET => {
            if b.len() < 16 {
                return Err(Errno::INVAL);
            }
            let port = u16::from_be_bytes([b[2], b[3]]);
            let ip = Ipv4Addr::new(b[4], b[5], b[6], b[7]);
            Ok(SocketAddr::V4(SocketAddrV4::new(ip, port)))
        }
        AF_INET6 => {
            if b.len() < 24 {
                return Err(Errno::INVAL);
            }
            let port = u16::from_be_bytes([b[2], b[3]]);
            let flow = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&b[8..24]);
            let scope = if b.len() >= 28 {
                u32::from_le_bytes([b[24], b[25], b[26], b[27]])
            } else {
                0
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(ip),
                port,
                flow,
                scope,
            )))
        }
        _ => Err(Errno::AFNOSUPPORT),
    }
}

/// Encodes a `sockaddr_in` (16 bytes) or `sockaddr_in6` (28 bytes).
pub fn encode_sockaddr(a: &SocketAddr) -> Vec<u8> {
    match a {
        SocketAddr::V4(v4) => {
            let mut b = vec![0u8; 16];
            put(&mut b, 0, &AF_INET.to_le_bytes());
            put(&mut b, 2, &v4.port().to_be_bytes());
            put(&mut b, 4, &v4.ip().octets());
            b
        }
        SocketAddr::V6(v6) => {
            let mut b = vec![0u8; 28];
            put(&mut b, 0, &AF_INET6.to_le_bytes());
            put(&mut b, 2, &v6.port().to_be_bytes());
            put(&mut b, 4, &v6.flowinfo().to_be_bytes());
            put(&mut b, 8, &v6.ip().octets());
            put(&mut b, 24, &v6.scope_id().to_le_bytes());
            b
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_layout() {
        let s = StatInfo {
            dev: 1,
            ino: 2,
            nlink: 3,
            mode: S_IFREG | 0o644,
            uid: 5,
            gid: 6,
            rdev: 7,
            size: 8,
            blksize: 9,
            blocks: 10,
            atime: (11, 12),
            mtime: (13, 14),
            ctime: (15, 16),
        };
        let b = s.encode_stat();
        let q = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
        assert_eq!((q(0), q(8), q(16)), (1, 2, 3));
        assert_eq!(
            u32::from_le_bytes(b[24..28].try_into().expect("4")),
            S_IFREG | 0o644
        );
        assert_eq!((q(48), q(56), q(64)), (8, 9, 10));
        assert_eq!(
            (q(72), q(80), q(88), q(96), q(104), q(112)),
            (11, 12, 13, 14, 15, 16)
        );
        let x = s.encode_statx();
        assert_eq!(
            u32::from_le_bytes(x[0..4].try_into().expect("4")),
            STATX_BASIC_STATS
        );
        assert_eq!(
            u16::from_le_bytes(x[28..30].try_into().expect("2")),
            (S_IFREG | 0o644) as u16
        );
        assert_eq!(u64::from_le_bytes(x[40..48].try_into().expect("8")), 8);
        assert_eq!(i64::from_le_bytes(x[112..120].try_into().expect("8")), 13);
    }

    #[test]
    fn devices() {
        let d = makedev(259, 70000);
        assert_eq!((major(d), minor(d)), (259, 70000));
    }

    #[test]
    fn dirents() {
        let f = DirentFormat::Sixty4;
        let mut v = Vec::new();
        f.push(&mut v, 7, 1, 8, b"hello");
        assert_eq!(v.len(), 32);
        assert_eq!(u16::from_le_bytes([v[16], v[17]]), 32);
        assert_eq!(&v[19..25], b"hello\0");
        assert_eq!(f.len(4), 24);
        assert_eq!(f.len(5), 32);
        // The original record: the name right after d_reclen, its NUL, the
        // type in the last byte.
        let old = DirentFormat::Legacy;
        let mut v = Vec::new();
        old.push(&mut v, 7, 1, 4, b"hello");
        assert_eq!(v.len(), 32);
        assert_eq!(u16::from_le_bytes([v[16], v[17]]), 32);
        assert_eq!(&v[18..24], b"hello\0");
        assert_eq!(v[31], 4);
        assert_eq!(old.len(4), 24);
        assert_eq!(old.len(5), 32);
        assert_eq!(old.len(12), 32);
        assert_eq!(old.len(13), 40);
    }

    #[test]
    fn sockaddrs_round_trip() {
        for a in ["127.0.0.1:8080", "[::1]:53", "[fe80::1%3]:9"] {
            let a: SocketAddr = a.parse().expect("addr");
            assert_eq!(decode_sockaddr(&encode_sockaddr(&a)), Ok(a));
        }
        assert_eq!(decode_sockaddr(&[1, 0, 0, 0]), Err(Errno::AFNOSUPPORT));
        assert_eq!(decode_sockaddr(&[2, 0, 0]), Err(Errno::INVAL));
    }
}

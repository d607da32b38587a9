//! Addresses: [`SockAddr`] (an IPv4 address and a port, as in
//! `struct sockaddr_custom`) and the family number in use, [`family()`].
//!
//! `struct sockaddr_custom` (see `rust/uapi/linux/af_custom.h`) is laid
//! out exactly like `struct sockaddr_in`: a native-endian `u16` family, a
//! big-endian `u16` port, a big-endian `u32` address and 8 zero bytes.
//! This module converts between that and [`SockAddr`].

use std::fmt;
use std::io;
use std::mem;
use std::net::{AddrParseError, Ipv4Addr, SocketAddrV4};
use std::str::FromStr;
use std::sync::OnceLock;

/// Where the module publishes the family number it registered
/// (`AF_CUSTOM_FAMILY_PATH` of the uapi header).
pub const FAMILY_PATH: &str = "/sys/module/af_custom/parameters/family";

/// The socket option level of the protocol (`SOL_AF_CUSTOM`).
pub const SOL_AF_CUSTOM: libc::c_int = 283;

/// Option `AFC_NODELAY` at level [`SOL_AF_CUSTOM`]: like `TCP_NODELAY`.
pub const AFC_NODELAY: libc::c_int = 1;
/// Option `AFC_MAXSEG`: like `TCP_MAXSEG` (the MSS; a clamp before connect).
pub const AFC_MAXSEG: libc::c_int = 2;
/// Option `AFC_CORK`: like `TCP_CORK` (only full segments until cleared).
pub const AFC_CORK: libc::c_int = 3;
/// Option `AFC_DEFER_ACCEPT`: like `TCP_DEFER_ACCEPT` (seconds, on a listener).
pub const AFC_DEFER_ACCEPT: libc::c_int = 9;
/// Option `AFC_INFO`: like `TCP_INFO` (a `struct tcp_info`, read only).
pub const AFC_INFO: libc::c_int = 11;
/// Option `AFC_QUICKACK`: like `TCP_QUICKACK`.
pub const AFC_QUICKACK: libc::c_int = 12;
/// Option `AFC_CONGESTION`: like `TCP_CONGESTION` (a name; AF_CUSTOM's is "reno").
pub const AFC_CONGESTION: libc::c_int = 13;
/// Option `AFC_USER_TIMEOUT`: like `TCP_USER_TIMEOUT` (milliseconds).
pub const AFC_USER_TIMEOUT: libc::c_int = 18;
/// Option `AFC_NOTSENT_LOWAT`: like `TCP_NOTSENT_LOWAT` (bytes).
pub const AFC_NOTSENT_LOWAT: libc::c_int = 25;
/// Option `AFC_PKTINFO` (the number of `IP_PKTINFO`): `recvmsg` returns a
/// control message (level `SOL_AF_CUSTOM`, type `AFC_PKTINFO`) holding a
/// `struct afc_pktinfo`: the ingress ifindex (an `i32`), then the local
/// and the peer address (`struct sockaddr_custom` each).
pub const AFC_PKTINFO: libc::c_int = 8;

/// The name of the test hook's environment variable; see [`family()`].
pub const FAMILY_ENV: &str = "AFC_FAMILY";

/// The size of `struct sockaddr_custom` (and of `struct sockaddr_in`).
pub(crate) const RAW_LEN: libc::socklen_t = mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;

/// An AF_CUSTOM socket address: an IPv4 address and a port.
///
/// `0.0.0.0` (`Ipv4Addr::UNSPECIFIED`) as a local address means every
/// local address of the network namespace, and port 0 asks the kernel to
/// pick a free port, as for TCP.
///
/// ```
/// use afc_socket::SockAddr;
/// use std::net::{Ipv4Addr, SocketAddrV4};
///
/// let a = SockAddr::new(Ipv4Addr::new(10, 77, 0, 1), 7000);
/// assert_eq!(a.to_string(), "10.77.0.1:7000");
/// assert_eq!(a, "10.77.0.1:7000".parse()?);
/// assert_eq!(SocketAddrV4::from(a), SocketAddrV4::new(Ipv4Addr::new(10, 77, 0, 1), 7000));
/// # Ok::<(), std::net::AddrParseError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SockAddr {
    ip: Ipv4Addr,
    port: u16,
}

impl SockAddr {
    /// The address `ip:port`.
    pub const fn new(ip: Ipv4Addr, port: u16) -> Self {
        Self { ip, port }
    }

    /// `0.0.0.0:port`: every local address (for [`Listener::bind`](crate::Listener::bind)).
    pub const fn any(port: u16) -> Self {
        Self::new(Ipv4Addr::UNSPECIFIED, port)
    }

    /// `127.0.0.1:port`.
    pub const fn localhost(port: u16) -> Self {
        Self::new(Ipv4Addr::LOCALHOST, port)
    }

    /// The IPv4 address.
    pub const fn ip(&self) -> Ipv4Addr {
        self.ip
    }

    /// The port (host byte order).
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// Changes the IPv4 address.
    pub fn set_ip(&mut self, ip: Ipv4Addr) {
        self.ip = ip;
    }

    /// Changes the port.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// The `struct sockaddr_custom` of this address with `family` in its
    /// family field (a `sockaddr_in`, which has the same layout).
    pub(crate) fn to_raw(self, family: libc::c_int) -> libc::sockaddr_in {
        libc::sockaddr_in {
            sin_family: family as libc::sa_family_t,
            sin_port: self.port.to_be(),
            sin_addr: libc::in_addr {
                s_addr: u32::from(self.ip).to_be(),
            },
            sin_zero: [0; 8],
        }
    }

    /// Decodes what the kernel wrote into `raw` (`len` bytes of it), which
    /// must be a `sockaddr_custom` of `family`.
    pub(crate) fn from_raw(
        raw: &libc::sockaddr_storage,
        len: libc::socklen_t,
        family: libc::c_int,
    ) -> io::Result<Self> {
        // Family, port and address: the zero padding need not be there.
        if (len as usize) < 8 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("socket address of {len} bytes is too short"),
            ));
        }
        if raw.ss_family as libc::c_int != family {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "socket address of family {} (expected {family})",
                    raw.ss_family
                ),
            ));
        }
        // SAFETY: sockaddr_storage is larger than and aligned at least like
        // sockaddr_in, and every bit pattern is a valid sockaddr_in.
        let sin = unsafe { &*(raw as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
        Ok(Self::new(
            Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
            u16::from_be(sin.sin_port),
        ))
    }
}

impl fmt::Display for SockAddr {
    /// `a.b.c.d:port`, as for [`SocketAddrV4`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&SocketAddrV4::from(*self), f)
    }
}

impl FromStr for SockAddr {
    type Err = AddrParseError;

    /// Parses `a.b.c.d:port`, as [`SocketAddrV4`] does.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<SocketAddrV4>().map(Self::from)
    }
}

impl From<SocketAddrV4> for SockAddr {
    fn from(a: SocketAddrV4) -> Self {
        Self::new(*a.ip(), a.port())
    }
}

impl From<SockAddr> for SocketAddrV4 {
    fn from(a: SockAddr) -> Self {
        SocketAddrV4::new(a.ip, a.port)
    }
}

impl From<(Ipv4Addr, u16)> for SockAddr {
    fn from((ip, port): (Ipv4Addr, u16)) -> Self {
        Self::new(ip, port)
    }
}

impl From<&SockAddr> for SockAddr {
    fn from(a: &SockAddr) -> Self {
        *a
    }
}

/// Which family the sockets of this process use, and how options are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// AF_CUSTOM with this family number; options at [`SOL_AF_CUSTOM`].
    Custom(libc::c_int),
    /// The `AFC_FAMILY=inet` test hook: AF_INET/TCP, options at `IPPROTO_TCP`.
    Inet,
}

impl Mode {
    /// The family number for `socket(2)` and in addresses.
    pub(crate) fn family(self) -> libc::c_int {
        match self {
            Mode::Custom(f) => f,
            Mode::Inet => libc::AF_INET,
        }
    }

    /// The level of the protocol options: their numbers are TCP's.
    pub(crate) fn opt_level(self) -> libc::c_int {
        match self {
            Mode::Custom(_) => SOL_AF_CUSTOM,
            Mode::Inet => libc::IPPROTO_TCP,
        }
    }

    /// The level and name of the no-delay option.
    pub(crate) fn nodelay_opt(self) -> (libc::c_int, libc::c_int) {
        match self {
            Mode::Custom(_) => (SOL_AF_CUSTOM, AFC_NODELAY),
            Mode::Inet => (libc::IPPROTO_TCP, libc::TCP_NODELAY),
        }
    }
}

/// Parses the value of `AFC_FAMILY` (`inet`, or a family number).
fn mode_from_env(v: &str) -> io::Result<Mode> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("inet") {
        return Ok(Mode::Inet);
    }
    match v.parse::<libc::c_int>() {
        Ok(n) if n > 0 && n != libc::AF_INET => Ok(Mode::Custom(n)),
        Ok(n) if n == libc::AF_INET => Ok(Mode::Inet),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{FAMILY_ENV}={v:?}: expected \"inet\" or a family number"),
        )),
    }
}

/// Parses the module parameter's contents.
fn mode_from_sysfs(s: &str) -> io::Result<Mode> {
    match s.trim().parse::<libc::c_int>() {
        Ok(n) if n > 0 => Ok(Mode::Custom(n)),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{FAMILY_PATH}: not a family number: {:?}", s.trim()),
        )),
    }
}

static MODE: OnceLock<Mode> = OnceLock::new();

/// The mode in use: decided once per process (a failure is not cached,
/// so a later call after `insmod` succeeds).
pub(crate) fn mode() -> io::Result<Mode> {
    if let Some(m) = MODE.get() {
        return Ok(*m);
    }
    let m = match std::env::var(FAMILY_ENV) {
        Ok(v) => mode_from_env(&v)?,
        Err(std::env::VarError::NotPresent) => {
            let s = std::fs::read_to_string(FAMILY_PATH).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("reading {FAMILY_PATH} (is af_custom.ko loaded?): {e}"),
                )
            })?;
            mode_from_sysfs(&s)?
        }
        Err(e) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{FAMILY_ENV}: {e}"),
            ))
        }
    };
    Ok(*MODE.get_or_init(|| m))
}

/// The address family number that sockets of this crate use.
///
/// Normally the number the loaded module registered, read once from
/// [`FAMILY_PATH`] (`/sys/module/af_custom/parameters/family`) and cached
/// for the life of the process; it fails (kind `NotFound`) while the
/// module is not loaded.
///
/// **Test hook:** if the environment variable `AFC_FAMILY` is set when
/// this is first called, it decides instead:
///
/// * `AFC_FAMILY=inet` switches the whole crate to `AF_INET` (plain TCP):
///   sockets, addresses and [`Stream::set_nodelay`](crate::Stream::set_nodelay)
///   (`IPPROTO_TCP`/`TCP_NODELAY`). It lets programs and tests written
///   against this crate run on a host without the module, and compares
///   AF_CUSTOM with TCP.
/// * `AFC_FAMILY=N` uses family number `N` without reading sysfs.
pub fn family() -> io::Result<libc::c_int> {
    mode().map(Mode::family)
}

/// True when the `AFC_FAMILY=inet` test hook is in force (sockets are TCP).
pub fn is_inet_test_mode() -> io::Result<bool> {
    mode().map(|m| m == Mode::Inet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(sin: &libc::sockaddr_in) -> [u8; 16] {
        // SAFETY: sockaddr_in is 16 bytes of plain data without padding.
        unsafe { mem::transmute_copy(sin) }
    }

    fn storage(b: &[u8]) -> libc::sockaddr_storage {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
        // SAFETY: b is at most 16 bytes, within sockaddr_storage's 128.
        unsafe {
            std::ptr::copy_nonoverlapping(
                b.as_ptr(),
                (&mut ss as *mut libc::sockaddr_storage).cast::<u8>(),
                b.len(),
            )
        };
        ss
    }

    #[test]
    fn layout_is_sockaddr_in() {
        assert_eq!(RAW_LEN, 16);
        assert_eq!(
            mem::size_of::<libc::sockaddr_in>(),
            mem::size_of::<libc::sockaddr>()
        );
    }

    #[test]
    fn to_raw_bytes() {
        let a = SockAddr::new(Ipv4Addr::new(10, 77, 0, 1), 0x1b58);
        let b = bytes(&a.to_raw(23));
        let mut want = [0u8; 16];
        want[0..2].copy_from_slice(&23u16.to_ne_bytes());
        want[2..4].copy_from_slice(&[0x1b, 0x58]);
        want[4..8].copy_from_slice(&[10, 77, 0, 1]);
        assert_eq!(b, want);
    }

    #[test]
    fn raw_round_trip() {
        for (ip, port) in [
            (Ipv4Addr::UNSPECIFIED, 0),
            (Ipv4Addr::LOCALHOST, 1),
            (Ipv4Addr::new(10, 77, 0, 2), 7000),
            (Ipv4Addr::BROADCAST, 65535),
        ] {
            let a = SockAddr::new(ip, port);
            let ss = storage(&bytes(&a.to_raw(23)));
            assert_eq!(SockAddr::from_raw(&ss, RAW_LEN, 23).unwrap(), a);
        }
    }

    #[test]
    fn from_raw_rejects() {
        let a = SockAddr::localhost(80);
        let ss = storage(&bytes(&a.to_raw(23)));
        // Another family.
        let e = SockAddr::from_raw(&ss, RAW_LEN, 2).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // Too short.
        let e = SockAddr::from_raw(&ss, 7, 23).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
        // Without the padding is fine.
        assert_eq!(SockAddr::from_raw(&ss, 8, 23).unwrap(), a);
    }

    #[test]
    fn display_and_parse() {
        let a = SockAddr::new(Ipv4Addr::new(192, 168, 1, 20), 443);
        assert_eq!(a.to_string(), "192.168.1.20:443");
        assert_eq!(format!("{a:>20}"), "    192.168.1.20:443");
        assert_eq!("192.168.1.20:443".parse::<SockAddr>().unwrap(), a);
        assert!("192.168.1.20".parse::<SockAddr>().is_err());
        assert!("[::1]:80".parse::<SockAddr>().is_err());
        assert!("1.2.3.4:65536".parse::<SockAddr>().is_err());
    }

    #[test]
    fn std_conversions() {
        let v4 = SocketAddrV4::new(Ipv4Addr::new(1, 2, 3, 4), 5);
        let a = SockAddr::from(v4);
        assert_eq!((a.ip(), a.port()), (Ipv4Addr::new(1, 2, 3, 4), 5));
        assert_eq!(SocketAddrV4::from(a), v4);
        assert_eq!(SockAddr::from((Ipv4Addr::new(1, 2, 3, 4), 5)), a);
        assert_eq!(SockAddr::from(&a), a);
        assert_eq!(SockAddr::any(9), SockAddr::new(Ipv4Addr::UNSPECIFIED, 9));
        let mut b = a;
        b.set_port(6);
        b.set_ip(Ipv4Addr::LOCALHOST);
        assert_eq!(b, SockAddr::localhost(6));
    }

    #[test]
    fn env_and_sysfs_parsing() {
        assert_eq!(mode_from_env("inet").unwrap(), Mode::Inet);
        assert_eq!(mode_from_env("INET\n").unwrap(), Mode::Inet);
        assert_eq!(mode_from_env("2").unwrap(), Mode::Inet);
        assert_eq!(mode_from_env("23").unwrap(), Mode::Custom(23));
        assert!(mode_from_env("").is_err());
        assert!(mode_from_env("inet6").is_err());
        assert!(mode_from_env("-1").is_err());
        assert_eq!(mode_from_sysfs("23\n").unwrap(), Mode::Custom(23));
        assert!(mode_from_sysfs("x").is_err());
        assert_eq!(Mode::Custom(23).nodelay_opt(), (283, 1));
        assert_eq!(
            Mode::Inet.nodelay_opt(),
            (libc::IPPROTO_TCP, libc::TCP_NODELAY)
        );
        assert_eq!(Mode::Inet.family(), libc::AF_INET);
    }
}

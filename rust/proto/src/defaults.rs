//! The defaults of the per-namespace settings (`net.af_custom.*`), each
//! Linux's for TCP where TCP has one; the module hands them to its sysctl
//! tables when a namespace is made (`rust/helpers/pernet.c` takes them from
//! `abstractions::pernet`; docs/DESIGN.md, "C helpers").

use super::ports::PortRange;
use super::syncookie::SyncookieMode;

/// `net.af_custom.ip_local_port_range` (`net.ipv4.ip_local_port_range`).
pub const PORT_RANGE: PortRange = PortRange::LINUX_DEFAULT;
/// `net.af_custom.rmem_default`: a new socket's receive buffer (`tcp_rmem[1]`).
pub const RMEM_DEFAULT: u32 = 128 * 1024;
/// `net.af_custom.wmem_default`: a new socket's send buffer (`tcp_wmem[1]`).
pub const WMEM_DEFAULT: u32 = 16 * 1024;
/// `net.af_custom.orphan_retries` (`tcp_orphan_retries`; 0 means 8).
pub const ORPHAN_RETRIES: u8 = 0;
/// `net.af_custom.fin_timeout`: seconds an orphan in FIN_WAIT_2 waits
/// for the peer's FIN (`tcp_fin_timeout`).
pub const FIN_TIMEOUT_S: u32 = 60;
/// `net.af_custom.syncookies` (`tcp_syncookies`: cookies when the SYN queue overflows).
pub const SYNCOOKIES: SyncookieMode = SyncookieMode::OnOverflow;
/// `net.af_custom.rst_ratelimit`: RSTs per destination per second for
/// frames that match no socket (as `icmp_ratelimit` limits per destination).
pub const RST_RATELIMIT: u32 = 1000;

#[cfg(test)]
mod tests {
    use super::*;

    /// Linux's values for TCP: `ip_local_port_range` 32768 60999,
    /// `tcp_rmem[1]` 131072, `tcp_wmem[1]` 16384, `tcp_orphan_retries` 0,
    /// `tcp_fin_timeout` 60, `tcp_syncookies` 1.
    #[test]
    fn defaults_are_linux_tcps() {
        assert_eq!((PORT_RANGE.lo(), PORT_RANGE.hi()), (32768, 60999));
        assert_eq!((RMEM_DEFAULT, WMEM_DEFAULT), (131_072, 16_384));
        assert_eq!(ORPHAN_RETRIES, 0);
        assert_eq!(FIN_TIMEOUT_S, 60);
        assert_eq!(SYNCOOKIES.as_sysctl(), 1);
        assert_eq!(
            SyncookieMode::from_sysctl(SYNCOOKIES.as_sysctl()),
            SYNCOOKIES
        );
        assert_eq!(RST_RATELIMIT, 1000);
    }
}

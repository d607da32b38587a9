//! socket(2) on AF_CUSTOM from Rust: a stream socket opens, other types
//! and protocols fail with the documented errno.

use afc_selftests::{check, family, run};
use std::io;

fn errno() -> i32 {
    io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn stream_socket_opens() -> Result<(), String> {
    let fam = family().map_err(|e| e.to_string())?;
    // SAFETY: plain syscalls on a descriptor we own.
    let fd = unsafe { libc::socket(fam, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    check(fd >= 0, "socket(AF_CUSTOM, SOCK_STREAM)")?;
    // SAFETY: fd is ours.
    check(unsafe { libc::close(fd) } == 0, "close")
}

fn dgram_is_esocktnosupport() -> Result<(), String> {
    let fam = family().map_err(|e| e.to_string())?;
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(fam, libc::SOCK_DGRAM, 0) };
    check(fd == -1, "SOCK_DGRAM must fail")?;
    check(
        errno() == libc::ESOCKTNOSUPPORT,
        "errno must be ESOCKTNOSUPPORT",
    )
}

fn bad_protocol_is_eprotonosupport() -> Result<(), String> {
    let fam = family().map_err(|e| e.to_string())?;
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(fam, libc::SOCK_STREAM, 17) };
    check(fd == -1, "protocol 17 must fail")?;
    check(
        errno() == libc::EPROTONOSUPPORT,
        "errno must be EPROTONOSUPPORT",
    )
}

fn std_wraps_the_fd() -> Result<(), String> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let fam = family().map_err(|e| e.to_string())?;
    for _ in 0..100 {
        // SAFETY: plain syscall; the fd is handed to OwnedFd once.
        let fd = unsafe { libc::socket(fam, libc::SOCK_STREAM, 0) };
        check(fd >= 0, "socket")?;
        // SAFETY: fd is a fresh descriptor nobody else owns.
        drop(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    Ok(())
}

fn main() {
    run(
        "rust_socket",
        &[
            ("stream_socket_opens", stream_socket_opens),
            ("dgram_is_esocktnosupport", dgram_is_esocktnosupport),
            (
                "bad_protocol_is_eprotonosupport",
                bad_protocol_is_eprotonosupport,
            ),
            ("std_wraps_the_fd", std_wraps_the_fd),
        ],
    )
}

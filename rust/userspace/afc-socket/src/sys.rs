//! Thin wrappers of the system calls, returning `io::Result` from errno.
//!
//! What `socket2` provides for any family (creating the socket, binding,
//! connecting, names, `O_NONBLOCK`, `SO_ERROR`, the socket timeouts) goes
//! through it; what it does not (options at `SOL_AF_CUSTOM`: it has no
//! generic `setsockopt`; `accept4` with `SOCK_NONBLOCK`; waiting out a
//! nonblocking connect) stays here.

use crate::addr::{mode, SockAddr, RAW_LEN};
use socket2::{Domain, SockRef, Type};
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

/// `Err(errno)` if `ret` is -1.
pub(crate) fn cvt<T: PartialEq + From<i8>>(ret: T) -> io::Result<T> {
    if ret == T::from(-1) {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Calls `f` again while it fails with `EINTR`.
pub(crate) fn cvt_r<T: PartialEq + From<i8>>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        match cvt(f()) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// A new close-on-exec stream socket of the family in use.
pub(crate) fn stream_socket() -> io::Result<OwnedFd> {
    let s = socket2::Socket::new(Domain::from(mode()?.family()), Type::STREAM, None)?;
    Ok(s.into())
}

/// `addr` as `socket2`'s address of the family in use.
fn sockaddr2(addr: SockAddr) -> io::Result<socket2::SockAddr> {
    let raw = addr.to_raw(mode()?.family());
    // SAFETY: try_init hands a zeroed sockaddr_storage and its length; we
    // write RAW_LEN bytes (a sockaddr_in, smaller than the storage) and
    // set the length to match.
    let ((), sa) = unsafe {
        socket2::SockAddr::try_init(|storage, len| {
            std::ptr::copy_nonoverlapping(
                (&raw as *const libc::sockaddr_in).cast::<u8>(),
                storage.cast::<u8>(),
                RAW_LEN as usize,
            );
            *len = RAW_LEN;
            Ok(())
        })
    }?;
    Ok(sa)
}

/// `bind(2)` to `addr`.
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: SockAddr) -> io::Result<()> {
    SockRef::from(&fd).bind(&sockaddr2(addr)?)
}

/// `connect(2)` to `addr`, once (an `EINTR` or `EINPROGRESS` is returned).
pub(crate) fn connect(fd: BorrowedFd<'_>, addr: SockAddr) -> io::Result<()> {
    SockRef::from(&fd).connect(&sockaddr2(addr)?)
}

/// Waits until a connection that `connect(2)` started is established or
/// has failed, or until `deadline`; then reports the outcome as
/// `connect(2)` would have.
pub(crate) fn finish_connect(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> io::Result<()> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "connection timed out",
                    ));
                }
                // Round up so that a sub-millisecond rest still waits.
                left.as_millis()
                    .saturating_add(1)
                    .min(libc::c_int::MAX as u128) as libc::c_int
            }
        };
        pfd.revents = 0;
        // SAFETY: pfd is one valid pollfd.
        match cvt(unsafe { libc::poll(&mut pfd, 1, timeout_ms) }) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
            Ok(0) => continue, // the deadline check above decides
            Ok(_) => {
                if let Some(e) = take_error(fd)? {
                    return Err(e);
                }
                if pfd.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionRefused,
                        "connection failed (POLLHUP without SO_ERROR)",
                    ));
                }
                return Ok(());
            }
        }
    }
}

/// `getsockname(2)` (`peer` false) or `getpeername(2)` (`peer` true).
pub(crate) fn name(fd: BorrowedFd<'_>, peer: bool) -> io::Result<SockAddr> {
    let s = SockRef::from(&fd);
    let sa = if peer {
        s.peer_addr()?
    } else {
        s.local_addr()?
    };
    // SAFETY: socket2's address is a sockaddr_storage filled by the kernel
    // up to sa.len() bytes.
    let ss = unsafe { &*sa.as_ptr().cast::<libc::sockaddr_storage>() };
    SockAddr::from_raw(ss, sa.len(), mode()?.family())
}

/// A new close-on-exec, nonblocking stream socket of the family in use.
pub(crate) fn stream_socket_nonblocking() -> io::Result<OwnedFd> {
    let s = socket2::Socket::new(
        Domain::from(mode()?.family()),
        Type::STREAM.nonblocking(),
        None,
    )?;
    Ok(s.into())
}

/// `accept4(2)` with `SOCK_CLOEXEC` and `flags`, retried on `EINTR`.
pub(crate) fn accept(fd: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<(OwnedFd, SockAddr)> {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: the pointer and len describe ss.
    let new = cvt_r(|| unsafe {
        libc::accept4(
            fd.as_raw_fd(),
            (&mut ss as *mut libc::sockaddr_storage).cast(),
            &mut len,
            libc::SOCK_CLOEXEC | flags,
        )
    })?;
    // SAFETY: new is a fresh descriptor that nothing else owns.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    let addr = SockAddr::from_raw(&ss, len, mode()?.family())?;
    Ok((new, addr))
}

/// `setsockopt(2)` with a value of type `T`.
pub(crate) fn setsockopt<T>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    val: T,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe val.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&val as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// `getsockopt(2)` of a value of type `T` (plain data: any bit pattern valid).
pub(crate) fn getsockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<T> {
    // SAFETY: only used with plain C types (int, timeval, byte arrays).
    let mut val: T = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: the pointer and len describe val.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut val as *mut T).cast(),
            &mut len,
        )
    })?;
    Ok(val)
}

/// `SO_ERROR`: the pending error, cleared by reading it.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    SockRef::from(&fd).take_error()
}

/// Sets or clears `O_NONBLOCK`.
pub(crate) fn set_nonblocking(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    SockRef::from(&fd).set_nonblocking(on)
}

/// Sets `SO_RCVTIMEO`/`SO_SNDTIMEO` as std does: `None` waits forever,
/// `Some(0)` is `InvalidInput`, less than a microsecond is one.
pub(crate) fn set_timeout(
    fd: BorrowedFd<'_>,
    dur: Option<Duration>,
    name: libc::c_int,
) -> io::Result<()> {
    let dur = match dur {
        Some(d) if d.is_zero() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        // socket2 would make it 0 µs, which the kernel reads as "forever".
        Some(d) => Some(d.max(Duration::from_micros(1))),
        None => None,
    };
    let s = SockRef::from(&fd);
    if name == libc::SO_RCVTIMEO {
        s.set_read_timeout(dur)
    } else {
        s.set_write_timeout(dur)
    }
}

/// Reads `SO_RCVTIMEO`/`SO_SNDTIMEO`.
pub(crate) fn timeout(fd: BorrowedFd<'_>, name: libc::c_int) -> io::Result<Option<Duration>> {
    let s = SockRef::from(&fd);
    if name == libc::SO_RCVTIMEO {
        s.read_timeout()
    } else {
        s.write_timeout()
    }
}

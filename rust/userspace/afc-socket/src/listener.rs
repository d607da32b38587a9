//! [`Listener`]: an AF_CUSTOM socket waiting for connections, like
//! [`std::net::TcpListener`].

use crate::addr::SockAddr;
use crate::stream::Stream;
use crate::sys;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// The backlog [`Listener::bind`] passes to `listen(2)` (as std does).
pub const DEFAULT_BACKLOG: i32 = 128;

/// An AF_CUSTOM socket listening for connections.
///
/// [`accept`](Listener::accept) or [`incoming`](Listener::incoming) give
/// the connected [`Stream`]s. The socket is closed when the `Listener` is
/// dropped.
#[derive(Debug)]
pub struct Listener {
    fd: OwnedFd,
}

impl Listener {
    /// Binds to `addr` and listens with a backlog of [`DEFAULT_BACKLOG`].
    ///
    /// Port 0 lets the kernel pick a free port ([`local_addr`](Self::local_addr)
    /// tells which); address `0.0.0.0` accepts connections to every local
    /// address. Sets `SO_REUSEADDR` first, as std's `TcpListener::bind`
    /// does, so that a restarted server can bind while old connections of
    /// the port linger in TIME_WAIT.
    pub fn bind(addr: impl Into<SockAddr>) -> io::Result<Listener> {
        Self::bind_with_backlog(addr, DEFAULT_BACKLOG)
    }

    /// Like [`bind`](Self::bind), with the `listen(2)` backlog given: how
    /// many established connections may wait for `accept`.
    pub fn bind_with_backlog(addr: impl Into<SockAddr>, backlog: i32) -> io::Result<Listener> {
        let addr = addr.into();
        let fd = sys::stream_socket()?;
        sys::setsockopt(
            fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            1 as libc::c_int,
        )?;
        sys::bind(fd.as_fd(), addr)?;
        // SAFETY: plain syscall on our descriptor.
        sys::cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
        Ok(Listener { fd })
    }

    /// Waits for a connection and returns it with the peer's address.
    ///
    /// In nonblocking mode, fails with `WouldBlock` when no connection
    /// waits. The new socket is close-on-exec and blocking.
    pub fn accept(&self) -> io::Result<(Stream, SockAddr)> {
        self.accept_with_flags(0)
    }

    /// [`accept`](Self::accept) with `accept4(2)` flags for the new
    /// socket: `libc::SOCK_NONBLOCK` makes it nonblocking from the start
    /// (what an event loop wants: no window in blocking mode).
    /// `SOCK_CLOEXEC` is always added; any other bit is `InvalidInput`.
    pub fn accept_with_flags(&self, flags: libc::c_int) -> io::Result<(Stream, SockAddr)> {
        if flags & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "accept flags other than SOCK_NONBLOCK and SOCK_CLOEXEC",
            ));
        }
        let (fd, addr) = sys::accept(self.fd.as_fd(), flags)?;
        Ok((Stream::from(fd), addr))
    }

    /// An endless iterator of [`accept`](Self::accept)ed streams (the
    /// peer addresses dropped).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        sys::name(self.fd.as_fd(), false)
    }

    /// Sets `AFC_DEFER_ACCEPT` (`TCP_DEFER_ACCEPT`): a connection is
    /// offered to `accept` only once data has come, or after about this
    /// many seconds (rounded up to 1, 3, 7, 15... as TCP's; 0: off).
    pub fn set_defer_accept(&self, secs: u32) -> io::Result<()> {
        let level = crate::addr::mode()?.opt_level();
        sys::setsockopt(
            self.fd.as_fd(),
            level,
            crate::AFC_DEFER_ACCEPT,
            secs.min(i32::MAX as u32) as libc::c_int,
        )
    }

    /// Reads `AFC_DEFER_ACCEPT` (seconds, as rounded).
    pub fn defer_accept(&self) -> io::Result<u32> {
        let level = crate::addr::mode()?.opt_level();
        let v: libc::c_int = sys::getsockopt(self.fd.as_fd(), level, crate::AFC_DEFER_ACCEPT)?;
        Ok(v.max(0) as u32)
    }

    /// Moves the listener into or out of nonblocking mode.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        sys::set_nonblocking(self.fd.as_fd(), nonblocking)
    }

    /// Reads and clears the socket's pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.fd.as_fd())
    }

    /// A second handle to the same listening socket (`F_DUPFD_CLOEXEC`).
    pub fn try_clone(&self) -> io::Result<Listener> {
        Ok(Listener {
            fd: self.fd.try_clone()?,
        })
    }
}

/// The iterator of [`Listener::incoming`]. It never returns `None`.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a Listener,
}

impl Iterator for Incoming<'_> {
    type Item = io::Result<Stream>;

    fn next(&mut self) -> Option<io::Result<Stream>> {
        Some(self.listener.accept().map(|(s, _)| s))
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl FromRawFd for Listener {
    /// Takes ownership of `fd`.
    ///
    /// # Safety
    ///
    /// `fd` must be an open, listening stream socket of the family in
    /// use that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Listener {
        // SAFETY: the caller's promise.
        Listener {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        }
    }
}

impl IntoRawFd for Listener {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<OwnedFd> for Listener {
    /// Takes a listening socket's descriptor.
    fn from(fd: OwnedFd) -> Listener {
        Listener { fd }
    }
}

impl From<Listener> for OwnedFd {
    fn from(l: Listener) -> OwnedFd {
        l.fd
    }
}

//! [`Stream`]: a connected AF_CUSTOM stream socket, like
//! [`std::net::TcpStream`].

use crate::addr::{mode, Mode, SockAddr};
use crate::sys;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

/// A connected AF_CUSTOM stream socket.
///
/// Made by [`Stream::connect`] or [`Listener::accept`](crate::Listener::accept).
/// Reading and writing go through [`Read`] and [`Write`], implemented for
/// both `Stream` and `&Stream`, so that one thread can read while another
/// writes. Writes use `send(2)` with `MSG_NOSIGNAL`: writing to a
/// connection the peer has closed fails with `BrokenPipe` instead of
/// raising `SIGPIPE`. The socket is closed when the `Stream` is dropped.
#[derive(Debug)]
pub struct Stream {
    fd: OwnedFd,
}

impl Stream {
    /// Opens a connection to `addr`, blocking until it is established.
    ///
    /// Fails with `ConnectionRefused` when nothing listens there, and
    /// with `TimedOut` when the peer never answers.
    pub fn connect(addr: impl Into<SockAddr>) -> io::Result<Stream> {
        let addr = addr.into();
        let fd = sys::stream_socket()?;
        match sys::connect(fd.as_fd(), addr) {
            Ok(()) => {}
            // Interrupted by a signal: the kernel goes on connecting in
            // the background; wait for the outcome as connect(2) would.
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                sys::finish_connect(fd.as_fd(), None)?
            }
            Err(e) => return Err(e),
        }
        Ok(Stream { fd })
    }

    /// Opens a connection to `addr`, giving up with `TimedOut` after
    /// `timeout`. A zero `timeout` is `InvalidInput`, as for std.
    pub fn connect_timeout(addr: impl Into<SockAddr>, timeout: Duration) -> io::Result<Stream> {
        if timeout.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot set a 0 duration timeout",
            ));
        }
        let deadline = Instant::now().checked_add(timeout);
        let addr = addr.into();
        let fd = sys::stream_socket()?;
        sys::set_nonblocking(fd.as_fd(), true)?;
        match sys::connect(fd.as_fd(), addr) {
            Ok(()) => {}
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::Interrupted =>
            {
                sys::finish_connect(fd.as_fd(), deadline)?
            }
            Err(e) => return Err(e),
        }
        sys::set_nonblocking(fd.as_fd(), false)?;
        Ok(Stream { fd })
    }

    /// Starts a connection to `addr` without waiting: returns a
    /// nonblocking socket whose `connect(2)` is in progress (or already
    /// done), for an event loop to finish.
    ///
    /// The connection is established once the socket polls writable
    /// (`POLLOUT`); then [`take_error`](Self::take_error) gives the
    /// outcome (`None`: connected, else e.g. `ConnectionRefused` or
    /// `TimedOut`), as for a nonblocking TCP connect. Errors that
    /// `connect(2)` reports at once (an unreachable address, a bad
    /// argument) are returned here.
    pub fn connect_nonblocking(addr: impl Into<SockAddr>) -> io::Result<Stream> {
        let addr = addr.into();
        let fd = sys::stream_socket_nonblocking()?;
        match sys::connect(fd.as_fd(), addr) {
            Ok(()) => {}
            // EINTR cannot come from a nonblocking connect, but if it did
            // the kernel goes on connecting: the same as in progress.
            Err(e)
                if e.raw_os_error() == Some(libc::EINPROGRESS)
                    || e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
        Ok(Stream { fd })
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        sys::name(self.fd.as_fd(), true)
    }

    /// The local address of this end.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        sys::name(self.fd.as_fd(), false)
    }

    /// Shuts down reading, writing or both (`shutdown(2)`). After
    /// `Shutdown::Write` the peer reads end of file once it has read what
    /// was sent before.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        let how = match how {
            Shutdown::Read => libc::SHUT_RD,
            Shutdown::Write => libc::SHUT_WR,
            Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: plain syscall on our descriptor.
        sys::cvt(unsafe { libc::shutdown(self.fd.as_raw_fd(), how) })?;
        Ok(())
    }

    /// Moves the socket into or out of nonblocking mode: reads and writes
    /// that would wait fail with `WouldBlock` instead.
    pub fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        sys::set_nonblocking(self.fd.as_fd(), nonblocking)
    }

    /// Sets `AFC_NODELAY` (level `SOL_AF_CUSTOM`), the twin of TCP's
    /// `TCP_NODELAY`: `true` sends small writes at once instead of
    /// coalescing them (Nagle). Under the `AFC_FAMILY=inet` test hook this
    /// sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let (level, name) = mode()?.nodelay_opt();
        sys::setsockopt(self.fd.as_fd(), level, name, libc::c_int::from(nodelay))
    }

    /// Reads `AFC_NODELAY` (see [`set_nodelay`](Self::set_nodelay)).
    pub fn nodelay(&self) -> io::Result<bool> {
        let (level, name) = mode()?.nodelay_opt();
        let v: libc::c_int = sys::getsockopt(self.fd.as_fd(), level, name)?;
        Ok(v != 0)
    }

    fn set_opt(&self, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
        sys::setsockopt(self.fd.as_fd(), mode()?.opt_level(), name, v)
    }

    fn opt(&self, name: libc::c_int) -> io::Result<libc::c_int> {
        sys::getsockopt(self.fd.as_fd(), mode()?.opt_level(), name)
    }

    /// Sets `AFC_CORK` (`TCP_CORK`): `true` sends only full segments
    /// until it is set back to `false`, which sends what was held.
    pub fn set_cork(&self, cork: bool) -> io::Result<()> {
        self.set_opt(crate::AFC_CORK, cork.into())
    }

    /// Reads `AFC_CORK`.
    pub fn cork(&self) -> io::Result<bool> {
        Ok(self.opt(crate::AFC_CORK)? != 0)
    }

    /// Sets `AFC_USER_TIMEOUT` (`TCP_USER_TIMEOUT`): how long sent data may
    /// stay unacknowledged before the connection fails with `TimedOut`
    /// (`None`: the retry counts decide). Whole milliseconds.
    pub fn set_user_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        let ms = dur.map_or(0, |d| d.as_millis().min(i32::MAX as u128) as libc::c_int);
        self.set_opt(crate::AFC_USER_TIMEOUT, ms)
    }

    /// Reads `AFC_USER_TIMEOUT` (`None`: not set).
    pub fn user_timeout(&self) -> io::Result<Option<Duration>> {
        let ms = self.opt(crate::AFC_USER_TIMEOUT)?;
        Ok((ms > 0).then(|| Duration::from_millis(ms as u64)))
    }

    /// Sets `AFC_QUICKACK` (`TCP_QUICKACK`): `true` acknowledges at once.
    pub fn set_quickack(&self, on: bool) -> io::Result<()> {
        self.set_opt(crate::AFC_QUICKACK, on.into())
    }

    /// Sets `AFC_NOTSENT_LOWAT` (`TCP_NOTSENT_LOWAT`): the socket is
    /// writable only while fewer bytes than this wait unsent (0: no limit).
    pub fn set_notsent_lowat(&self, bytes: u32) -> io::Result<()> {
        self.set_opt(crate::AFC_NOTSENT_LOWAT, bytes as libc::c_int)
    }

    /// Reads `AFC_NOTSENT_LOWAT`.
    pub fn notsent_lowat(&self) -> io::Result<u32> {
        Ok(self.opt(crate::AFC_NOTSENT_LOWAT)? as u32)
    }

    /// Sets `AFC_PKTINFO`: `recvmsg` then returns the ingress interface
    /// and the connection's addresses (AF_CUSTOM only; TCP has no twin).
    /// In the TCP test mode it fails with `ENOPROTOOPT` (number 8 at
    /// `IPPROTO_TCP` is `TCP_LINGER2`, not this).
    pub fn set_pktinfo(&self, on: bool) -> io::Result<()> {
        if matches!(mode()?, Mode::Inet) {
            return Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT));
        }
        self.set_opt(crate::AFC_PKTINFO, on.into())
    }

    /// Reads `AFC_PKTINFO` (`ENOPROTOOPT` in the TCP test mode).
    pub fn pktinfo(&self) -> io::Result<bool> {
        if matches!(mode()?, Mode::Inet) {
            return Err(io::Error::from_raw_os_error(libc::ENOPROTOOPT));
        }
        Ok(self.opt(crate::AFC_PKTINFO)? != 0)
    }

    /// Reads `AFC_MAXSEG` (`TCP_MAXSEG`): the MSS the connection sends with.
    pub fn maxseg(&self) -> io::Result<u32> {
        Ok(self.opt(crate::AFC_MAXSEG)? as u32)
    }

    /// Reads `AFC_INFO` (`TCP_INFO`): the connection's `struct tcp_info`
    /// (state, RTT, RTO, windows, segment and retransmission counts; what
    /// has no meaning for AF_CUSTOM is zero).
    pub fn info(&self) -> io::Result<libc::tcp_info> {
        sys::getsockopt(self.fd.as_fd(), mode()?.opt_level(), crate::AFC_INFO)
    }

    /// Reads `AFC_CONGESTION` (`TCP_CONGESTION`): the congestion control's
    /// name ("reno" on AF_CUSTOM).
    pub fn congestion(&self) -> io::Result<String> {
        let name: [u8; 16] =
            sys::getsockopt(self.fd.as_fd(), mode()?.opt_level(), crate::AFC_CONGESTION)?;
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        Ok(String::from_utf8_lossy(&name[..end]).into_owned())
    }

    /// Sets `SO_RCVTIMEO`: a blocking read that waits longer fails with
    /// `WouldBlock` (`EAGAIN`, as std reports it on Linux). `None` waits
    /// forever; `Some(Duration::ZERO)` is `InvalidInput`.
    pub fn set_read_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        sys::set_timeout(self.fd.as_fd(), dur, libc::SO_RCVTIMEO)
    }

    /// Sets `SO_SNDTIMEO`, like [`set_read_timeout`](Self::set_read_timeout) for writes.
    pub fn set_write_timeout(&self, dur: Option<Duration>) -> io::Result<()> {
        sys::set_timeout(self.fd.as_fd(), dur, libc::SO_SNDTIMEO)
    }

    /// The read timeout (`None`: none).
    pub fn read_timeout(&self) -> io::Result<Option<Duration>> {
        sys::timeout(self.fd.as_fd(), libc::SO_RCVTIMEO)
    }

    /// The write timeout (`None`: none).
    pub fn write_timeout(&self) -> io::Result<Option<Duration>> {
        sys::timeout(self.fd.as_fd(), libc::SO_SNDTIMEO)
    }

    /// Reads and clears the socket's pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.fd.as_fd())
    }

    /// A second handle to the same connection (`F_DUPFD_CLOEXEC`).
    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(Stream {
            fd: self.fd.try_clone()?,
        })
    }

    fn recv(&self, buf: &mut [u8], flags: libc::c_int) -> io::Result<usize> {
        // SAFETY: buf is valid for buf.len() bytes of writes.
        let n = sys::cvt(unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                flags,
            )
        })?;
        Ok(n as usize)
    }

    fn send(&self, buf: &[u8], flags: libc::c_int) -> io::Result<usize> {
        // SAFETY: buf is valid for buf.len() bytes of reads.
        let n = sys::cvt(unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                buf.as_ptr().cast(),
                buf.len(),
                libc::MSG_NOSIGNAL | flags,
            )
        })?;
        Ok(n as usize)
    }

    /// Reads into `buf` without taking the data off the socket (`MSG_PEEK`).
    pub fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf, libc::MSG_PEEK)
    }

    /// Writes `buf` and marks its last byte urgent (`send(MSG_OOB)`, TCP's
    /// urgent data); returns how many bytes were written.
    pub fn send_urgent(&self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf, libc::MSG_OOB)
    }

    /// Reads the urgent byte out of band (`recv(MSG_OOB)`): `InvalidInput`
    /// (`EINVAL`) when there is none, it was read already or urgent data
    /// is inline; `WouldBlock` when its mark has arrived but the byte not
    /// yet. Never blocks.
    pub fn recv_urgent(&self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        match self.recv(&mut b, libc::MSG_OOB)? {
            1 => Ok(b[0]),
            _ => Err(io::ErrorKind::UnexpectedEof.into()),
        }
    }

    /// Whether the read position is at the urgent mark (`SIOCATMARK`, from
    /// `asm-generic/sockios.h`, which the libc crate lacks): a
    /// read stops there.
    pub fn at_mark(&self) -> io::Result<bool> {
        let mut v: libc::c_int = 0;
        // SAFETY: SIOCATMARK stores one int at the pointer.
        sys::cvt(unsafe { libc::ioctl(self.fd.as_raw_fd(), SIOCATMARK, &mut v) })?;
        Ok(v != 0)
    }

    /// Sets `SO_OOBINLINE`: urgent data is read as ordinary data.
    pub fn set_oob_inline(&self, on: bool) -> io::Result<()> {
        sys::setsockopt(
            self.fd.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_OOBINLINE,
            libc::c_int::from(on),
        )
    }

    /// Reads `SO_OOBINLINE`.
    pub fn oob_inline(&self) -> io::Result<bool> {
        let v: libc::c_int =
            sys::getsockopt(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_OOBINLINE)?;
        Ok(v != 0)
    }
}

impl Read for &Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.recv(buf, 0)
    }
}

impl Write for &Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.send(buf, 0)
    }

    /// Nothing to do: the kernel owns what was written.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&*self).read(buf)
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl FromRawFd for Stream {
    /// Takes ownership of `fd`.
    ///
    /// # Safety
    ///
    /// `fd` must be an open, connected stream socket of the family in use
    /// that nothing else owns.
    unsafe fn from_raw_fd(fd: RawFd) -> Stream {
        // SAFETY: the caller's promise.
        Stream {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        }
    }
}

impl IntoRawFd for Stream {
    fn into_raw_fd(self) -> RawFd {
        self.fd.into_raw_fd()
    }
}

impl From<OwnedFd> for Stream {
    /// Takes a connected stream socket's descriptor.
    fn from(fd: OwnedFd) -> Stream {
        Stream { fd }
    }
}

impl From<Stream> for OwnedFd {
    fn from(s: Stream) -> OwnedFd {
        s.fd
    }
}

/// `SIOCATMARK` of `asm-generic/sockios.h` (x86, arm and most others).
const SIOCATMARK: libc::Ioctl = 0x8905;

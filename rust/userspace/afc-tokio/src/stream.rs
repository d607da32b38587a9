//! [`Stream`]: a connected AF_CUSTOM socket for tokio, like
//! [`tokio::net::TcpStream`].

use crate::split::{self, OwnedReadHalf, OwnedWriteHalf, ReadHalf, WriteHalf};
use afc_socket::SockAddr;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};

/// A connected AF_CUSTOM stream socket registered with tokio's reactor.
///
/// Made by [`Stream::connect`], [`Listener::accept`](crate::Listener::accept)
/// or [`Stream::from_std`]. Reading and writing go through
/// [`AsyncRead`]/[`AsyncWrite`]; [`split`](Self::split) and
/// [`into_split`](Self::into_split) let one task read while another
/// writes. Writes use `MSG_NOSIGNAL` (a closed peer is `BrokenPipe`, not
/// `SIGPIPE`). The socket is closed when the `Stream` is dropped.
///
/// Options (`AFC_NODELAY`, `AFC_CORK`, ...) are set through the sync
/// socket, [`get_ref`](Self::get_ref).
#[derive(Debug)]
pub struct Stream {
    inner: AsyncFd<afc_socket::Stream>,
}

impl Stream {
    /// Opens a connection to `addr`, completing when it is established.
    ///
    /// Fails with `ConnectionRefused` when nothing listens there and with
    /// `TimedOut` when the peer never answers (after the kernel's SYN
    /// retries). To give up sooner, wrap it in [`tokio::time::timeout`]:
    /// dropping the future closes the half-open socket.
    ///
    /// Must be called within a tokio runtime (with I/O enabled).
    pub async fn connect(addr: impl Into<SockAddr>) -> io::Result<Stream> {
        let sock = afc_socket::Stream::connect_nonblocking(addr)?;
        let stream = Stream {
            inner: crate::register(sock)?,
        };
        stream.finish_connect().await?;
        Ok(stream)
    }

    /// Waits until the connect started by `connect_nonblocking` has an
    /// outcome: writability (or an error/hang-up), then `SO_ERROR`.
    async fn finish_connect(&self) -> io::Result<()> {
        loop {
            let mut guard = self.inner.writable().await?;
            if let Some(e) = self.inner.get_ref().take_error()? {
                return Err(e);
            }
            match self.inner.get_ref().peer_addr() {
                Ok(_) => return Ok(()),
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
                    let r = guard.ready();
                    if r.is_write_closed() || r.is_error() {
                        // Failed, but the error was already taken (as the
                        // sync crate reports POLLHUP without SO_ERROR).
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            "connection failed (hang-up without SO_ERROR)",
                        ));
                    }
                    // Writable while still connecting: a stale readiness
                    // (registration); wait for the next edge.
                    guard.clear_ready();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Wraps a connected sync stream, switching it to nonblocking mode.
    ///
    /// Must be called within a tokio runtime (with I/O enabled).
    pub fn from_std(stream: afc_socket::Stream) -> io::Result<Stream> {
        stream.set_nonblocking(true)?;
        Ok(Stream {
            inner: crate::register(stream)?,
        })
    }

    pub(crate) fn from_registered(inner: AsyncFd<afc_socket::Stream>) -> Stream {
        Stream { inner }
    }

    /// Deregisters the socket and gives back the sync stream. It stays in
    /// nonblocking mode (as for tokio's `TcpStream::into_std`):
    /// call `set_nonblocking(false)` to block again.
    pub fn into_std(self) -> afc_socket::Stream {
        self.inner.into_inner()
    }

    /// The sync socket, for its options and addresses. Reading or writing
    /// through it bypasses the reactor's readiness: use this type's I/O.
    pub fn get_ref(&self) -> &afc_socket::Stream {
        self.inner.get_ref()
    }

    /// The address of the other end.
    pub fn peer_addr(&self) -> io::Result<SockAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address of this end.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Shuts down reading, writing or both (`shutdown(2)`). After
    /// `Shutdown::Write` the peer reads end of file once it has read what
    /// was sent before. ([`AsyncWriteExt::shutdown`](tokio::io::AsyncWriteExt::shutdown)
    /// does `Shutdown::Write`.)
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.inner.get_ref().shutdown(how)
    }

    /// Sets `AFC_NODELAY` (`TCP_NODELAY`): small writes go out at once.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.inner.get_ref().set_nodelay(nodelay)
    }

    /// Reads `AFC_NODELAY`.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.inner.get_ref().nodelay()
    }

    /// Reads and clears the socket's pending error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.inner.get_ref().take_error()
    }

    /// Waits until the socket is readable (data, end of file or an error).
    pub async fn readable(&self) -> io::Result<()> {
        self.inner.readable().await?.retain_ready();
        Ok(())
    }

    /// Waits until the socket is writable (send space, or an error).
    pub async fn writable(&self) -> io::Result<()> {
        self.inner.writable().await?.retain_ready();
        Ok(())
    }

    /// Reads what is there without waiting: `WouldBlock` if nothing is
    /// (which clears the readiness, so that [`readable`](Self::readable)
    /// waits for the next data).
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.try_io(Interest::READABLE, |mut s| s.read(buf))
    }

    /// Writes what fits without waiting: `WouldBlock` if nothing does.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.inner.try_io(Interest::WRITABLE, |mut s| s.write(buf))
    }

    /// Reads into `buf` without taking the data off the socket
    /// (`MSG_PEEK`), waiting until there is some.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .async_io(Interest::READABLE, |s| s.peek(buf))
            .await
    }

    /// Reads into `buf`, waiting until there is data (0: end of file).
    pub async fn read_some(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner
            .async_io(Interest::READABLE, |mut s| s.read(buf))
            .await
    }

    /// Borrowed read and write halves, usable at the same time (for
    /// instance in `tokio::join!`) within one task.
    pub fn split(&mut self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        split::split(self)
    }

    /// Owned read and write halves, to move into two tasks. Dropping the
    /// write half shuts down writing (as for tokio's `TcpStream`);
    /// [`OwnedReadHalf::reunite`] puts them back together.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        split::into_split(self)
    }

    pub(crate) fn poll_read_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            match guard.try_io(|s| Read::read(&mut s.get_ref(), unfilled)) {
                Ok(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // WouldBlock: the readiness is cleared; poll again, which
                // registers the waker for the next edge.
                Err(_would_block) => continue,
            }
        }
    }

    pub(crate) fn poll_write_priv(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        loop {
            let mut guard = ready!(self.inner.poll_write_ready(cx))?;
            match guard.try_io(|s| Write::write(&mut s.get_ref(), buf)) {
                Ok(r) => return Poll::Ready(r),
                Err(_would_block) => continue,
            }
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_priv(cx, buf)
    }

    /// Nothing to do: the kernel owns what was written.
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Shuts down writing (the peer reads end of file).
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.shutdown(Shutdown::Write))
    }
}

impl AsFd for Stream {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl AsRawFd for Stream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

impl TryFrom<afc_socket::Stream> for Stream {
    type Error = io::Error;

    /// [`Stream::from_std`].
    fn try_from(s: afc_socket::Stream) -> io::Result<Stream> {
        Stream::from_std(s)
    }
}

impl TryFrom<OwnedFd> for Stream {
    type Error = io::Error;

    /// Takes a connected AF_CUSTOM stream socket's descriptor (see
    /// [`Stream::from_std`]).
    fn try_from(fd: OwnedFd) -> io::Result<Stream> {
        Stream::from_std(afc_socket::Stream::from(fd))
    }
}

impl From<Stream> for afc_socket::Stream {
    /// [`Stream::into_std`] (the socket stays nonblocking).
    fn from(s: Stream) -> afc_socket::Stream {
        s.into_std()
    }
}

impl From<Stream> for OwnedFd {
    /// The descriptor, deregistered (still nonblocking).
    fn from(s: Stream) -> OwnedFd {
        s.into_std().into()
    }
}

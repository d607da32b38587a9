//! [`Listener`]: an AF_CUSTOM listening socket for tokio, like
//! [`tokio::net::TcpListener`].

use crate::Stream;
use afc_socket::SockAddr;
use std::future::poll_fn;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::unix::AsyncFd;

/// An AF_CUSTOM socket listening for connections, registered with
/// tokio's reactor.
///
/// [`accept`](Self::accept) waits for the next connection;
/// [`incoming`](Self::incoming) gives them as a [`futures_core::Stream`].
#[derive(Debug)]
pub struct Listener {
    inner: AsyncFd<afc_socket::Listener>,
}

impl Listener {
    /// Binds to `addr` and listens (backlog
    /// [`afc_socket::DEFAULT_BACKLOG`], `SO_REUSEADDR` set, as
    /// [`afc_socket::Listener::bind`]). Port 0 picks a free port.
    ///
    /// Must be called within a tokio runtime (with I/O enabled).
    pub fn bind(addr: impl Into<SockAddr>) -> io::Result<Listener> {
        Self::from_std(afc_socket::Listener::bind(addr)?)
    }

    /// Like [`bind`](Self::bind) with the `listen(2)` backlog given.
    pub fn bind_with_backlog(addr: impl Into<SockAddr>, backlog: i32) -> io::Result<Listener> {
        Self::from_std(afc_socket::Listener::bind_with_backlog(addr, backlog)?)
    }

    /// Wraps a listening sync socket, switching it to nonblocking mode.
    ///
    /// Must be called within a tokio runtime (with I/O enabled).
    pub fn from_std(listener: afc_socket::Listener) -> io::Result<Listener> {
        listener.set_nonblocking(true)?;
        Ok(Listener {
            inner: crate::register(listener)?,
        })
    }

    /// Deregisters the socket and gives back the sync listener (still in
    /// nonblocking mode).
    pub fn into_std(self) -> afc_socket::Listener {
        self.inner.into_inner()
    }

    /// The sync socket, for its options (`AFC_DEFER_ACCEPT`, ...).
    pub fn get_ref(&self) -> &afc_socket::Listener {
        self.inner.get_ref()
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SockAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Waits for a connection and returns it with the peer's address.
    /// The new socket is nonblocking from `accept4(2)` on and registered.
    ///
    /// Cancel-safe: a dropped `accept` future has taken no connection.
    pub async fn accept(&self) -> io::Result<(Stream, SockAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for a connection: `Pending` (the waker registered) until
    /// one waits.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Stream, SockAddr)>> {
        loop {
            let mut guard = ready!(self.inner.poll_read_ready(cx))?;
            match guard.try_io(|l| l.get_ref().accept_with_flags(libc::SOCK_NONBLOCK)) {
                Ok(Ok((sock, addr))) => {
                    // Already nonblocking (SOCK_NONBLOCK): register only.
                    return Poll::Ready(
                        crate::register(sock).map(|inner| (Stream::from_registered(inner), addr)),
                    );
                }
                Ok(Err(e)) => return Poll::Ready(Err(e)),
                // WouldBlock: readiness cleared, wait for the next edge.
                Err(_would_block) => continue,
            }
        }
    }

    /// The connections, as a [`futures_core::Stream`] that never ends
    /// (an accept error is an item; the next poll accepts again).
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }
}

/// The connections of [`Listener::incoming`]: a [`futures_core::Stream`]
/// of `io::Result<Stream>` (with `tokio-stream`'s or `futures`'
/// `StreamExt`), or [`next`](Self::next) directly.
#[derive(Debug)]
pub struct Incoming<'a> {
    listener: &'a Listener,
}

impl Incoming<'_> {
    /// The next connection (never `None`).
    pub async fn next(&mut self) -> Option<io::Result<Stream>> {
        Some(self.listener.accept().await.map(|(s, _)| s))
    }
}

impl futures_core::Stream for Incoming<'_> {
    type Item = io::Result<Stream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.listener
            .poll_accept(cx)
            .map(|r| Some(r.map(|(s, _)| s)))
    }
}

impl AsFd for Listener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.get_ref().as_fd()
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

impl TryFrom<afc_socket::Listener> for Listener {
    type Error = io::Error;

    /// [`Listener::from_std`].
    fn try_from(l: afc_socket::Listener) -> io::Result<Listener> {
        Listener::from_std(l)
    }
}

impl TryFrom<OwnedFd> for Listener {
    type Error = io::Error;

    /// Takes a listening AF_CUSTOM socket's descriptor (see
    /// [`Listener::from_std`]).
    fn try_from(fd: OwnedFd) -> io::Result<Listener> {
        Listener::from_std(afc_socket::Listener::from(fd))
    }
}

impl From<Listener> for afc_socket::Listener {
    /// [`Listener::into_std`].
    fn from(l: Listener) -> afc_socket::Listener {
        l.into_std()
    }
}

impl From<Listener> for OwnedFd {
    /// The descriptor, deregistered (still nonblocking).
    fn from(l: Listener) -> OwnedFd {
        l.into_std().into()
    }
}

//! The halves of a [`Stream`]: borrowed ([`Stream::split`]) and owned
//! ([`Stream::into_split`]), as for tokio's `TcpStream`.
//!
//! Both halves use the one registration of the stream: the reactor keeps
//! a reader's and a writer's waker apart, so a task waiting to read and
//! another waiting to write are each woken by their own readiness.

use crate::Stream;
use std::fmt;
use std::io;
use std::net::Shutdown;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The read half of [`Stream::split`].
#[derive(Debug)]
pub struct ReadHalf<'a>(&'a Stream);

/// The write half of [`Stream::split`]. Shutting it down
/// ([`AsyncWriteExt::shutdown`](tokio::io::AsyncWriteExt::shutdown)) shuts
/// down writing on the stream.
#[derive(Debug)]
pub struct WriteHalf<'a>(&'a Stream);

pub(crate) fn split(stream: &mut Stream) -> (ReadHalf<'_>, WriteHalf<'_>) {
    (ReadHalf(stream), WriteHalf(stream))
}

/// The owned read half of [`Stream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf {
    inner: Arc<Stream>,
}

/// The owned write half of [`Stream::into_split`]. Dropping it shuts
/// down writing (the peer reads end of file), unless
/// [`forget`](Self::forget) was called.
#[derive(Debug)]
pub struct OwnedWriteHalf {
    inner: Arc<Stream>,
    shutdown_on_drop: bool,
}

pub(crate) fn into_split(stream: Stream) -> (OwnedReadHalf, OwnedWriteHalf) {
    let inner = Arc::new(stream);
    (
        OwnedReadHalf {
            inner: inner.clone(),
        },
        OwnedWriteHalf {
            inner,
            shutdown_on_drop: true,
        },
    )
}

/// The halves given to [`OwnedReadHalf::reunite`] came from two
/// different streams; they are handed back.
#[derive(Debug)]
pub struct ReuniteError(pub OwnedReadHalf, pub OwnedWriteHalf);

impl fmt::Display for ReuniteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tried to reunite halves that are not from the same stream")
    }
}

impl std::error::Error for ReuniteError {}

impl OwnedReadHalf {
    /// Puts the halves of one [`Stream::into_split`] back together.
    pub fn reunite(self, other: OwnedWriteHalf) -> Result<Stream, ReuniteError> {
        if !Arc::ptr_eq(&self.inner, &other.inner) {
            return Err(ReuniteError(self, other));
        }
        let mut other = other;
        other.shutdown_on_drop = false;
        let inner = other.inner.clone();
        drop(other);
        drop(self);
        // Both halves are gone: `inner` is the last reference.
        Ok(Arc::try_unwrap(inner).unwrap_or_else(|_| unreachable!("both halves were dropped")))
    }
}

impl OwnedWriteHalf {
    /// Puts the halves back together ([`OwnedReadHalf::reunite`]).
    pub fn reunite(self, other: OwnedReadHalf) -> Result<Stream, ReuniteError> {
        other.reunite(self)
    }

    /// Drops the half without shutting down writing.
    pub fn forget(mut self) {
        self.shutdown_on_drop = false;
    }
}

impl AsRef<Stream> for OwnedReadHalf {
    /// The stream (for addresses and options).
    fn as_ref(&self) -> &Stream {
        &self.inner
    }
}

impl AsRef<Stream> for OwnedWriteHalf {
    /// The stream (for addresses and options).
    fn as_ref(&self) -> &Stream {
        &self.inner
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        if self.shutdown_on_drop {
            let _ = self.inner.shutdown(Shutdown::Write);
        }
    }
}

impl AsyncRead for ReadHalf<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.0.poll_read_priv(cx, buf)
    }
}

impl AsyncRead for OwnedReadHalf {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.inner.poll_read_priv(cx, buf)
    }
}

impl AsyncWrite for WriteHalf<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.0.poll_write_priv(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.0.shutdown(Shutdown::Write))
    }
}

impl AsyncWrite for OwnedWriteHalf {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.poll_write_priv(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.inner.shutdown(Shutdown::Write))
    }
}

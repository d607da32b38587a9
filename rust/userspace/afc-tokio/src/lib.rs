//! AF_CUSTOM stream sockets for the [tokio] runtime.
//!
//! The async twin of the [`afc_socket`] crate, in the shape of
//! [`tokio::net::TcpListener`]/[`tokio::net::TcpStream`] and of the
//! `tokio-vsock` crate:
//!
//! * [`Listener`]: `bind`, then [`accept`](Listener::accept) (async) or
//!   [`incoming`](Listener::incoming) (a [`futures_core::Stream`] of
//!   connections);
//! * [`Stream`]: [`connect`](Stream::connect) (async), then
//!   [`AsyncRead`](tokio::io::AsyncRead)/[`AsyncWrite`](tokio::io::AsyncWrite),
//!   [`split`](Stream::split) (borrowed halves) and
//!   [`into_split`](Stream::into_split) (owned halves, one per task);
//! * conversions from and to the sync types ([`Stream::from_std`],
//!   [`Stream::into_std`], the same for [`Listener`]) and to and from
//!   [`OwnedFd`](std::os::fd::OwnedFd).
//!
//! # How it works
//!
//! Each socket is nonblocking and registered with tokio's reactor through
//! [`tokio::io::unix::AsyncFd`] (epoll, edge-triggered, as mio registers
//! every source). A read or write is tried; on `WouldBlock` the readiness
//! is cleared and the task waits for the next edge. A connect is started
//! nonblocking ([`afc_socket::Stream::connect_nonblocking`]) and finished
//! when the socket turns writable: `SO_ERROR` then gives the outcome
//! (`ConnectionRefused`, `TimedOut`, ...). An accept is tried when the
//! listener turns readable, with `SOCK_NONBLOCK` on the new socket
//! ([`afc_socket::Listener::accept_with_flags`]).
//!
//! Edge-triggered registration means the module must wake the socket's
//! wait queue on every state change a task may wait for (data, end of
//! file, free send space, connection established or failed, a connection
//! to accept); the VM test `rust_tokio` checks each of them.
//!
//! Dropping a future of [`Stream::connect`] (for instance when a
//! [`tokio::time::timeout`] around it fires) closes the half-open socket:
//! the kernel forgets the connection attempt at once.
//!
//! # Example
//!
//! ```
//! use afc_tokio::{Listener, SockAddr, Stream};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # fn main() -> std::io::Result<()> {
//! # std::env::set_var("AFC_FAMILY", "inet"); // so that the doctest runs without the module
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let listener = Listener::bind(SockAddr::localhost(0))?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((conn, _peer)) = listener.accept().await {
//!         tokio::spawn(async move {
//!             let (mut rd, mut wr) = conn.into_split();
//!             let _ = tokio::io::copy(&mut rd, &mut wr).await; // echo
//!         });
//!     }
//! });
//!
//! let mut client = Stream::connect(addr).await?;
//! client.write_all(b"hello").await?;
//! client.shutdown(std::net::Shutdown::Write)?;
//! let mut echoed = String::new();
//! client.read_to_string(&mut echoed).await?;
//! assert_eq!(echoed, "hello");
//! # Ok(())
//! # })
//! # }
//! ```
//!
//! # Testing without the module
//!
//! As for [`afc_socket`], `AFC_FAMILY=inet` switches everything to
//! AF_INET/TCP (see [`afc_socket::family`]).

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod listener;
mod split;
mod stream;

pub use afc_socket::SockAddr;
pub use listener::{Incoming, Listener};
pub use split::{OwnedReadHalf, OwnedWriteHalf, ReadHalf, ReuniteError, WriteHalf};
pub use stream::Stream;

use std::io;
use tokio::io::unix::AsyncFd;

/// The sync socket types whose descriptor is registered with the reactor.
///
/// # Safety
///
/// The implementor owns one open descriptor for its whole life, never
/// closes or replaces it while alive, and `as_raw_fd` always returns it
/// (what [`AsyncFd::register`] requires).
unsafe trait OwnsFd: std::os::fd::AsRawFd {}

// SAFETY: both hold an `OwnedFd` set at construction, never replaced, and
// return it from `as_raw_fd`.
unsafe impl OwnsFd for afc_socket::Stream {}
// SAFETY: as above.
unsafe impl OwnsFd for afc_socket::Listener {}

/// Registers `inner` (already nonblocking) with the current runtime's
/// reactor for reading and writing. Panics outside a tokio runtime.
fn register<T: OwnsFd>(inner: T) -> io::Result<AsyncFd<T>> {
    // SAFETY: `OwnsFd` is exactly `register`'s requirement: the
    // descriptor stays open and the same until the AsyncFd drops `inner`
    // or gives it back (`into_inner`).
    Ok(unsafe { AsyncFd::register(inner) }?)
}

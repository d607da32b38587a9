//! AF_CUSTOM stream sockets for userspace Rust.
//!
//! AF_CUSTOM is a reliable, connection-oriented byte-stream socket family
//! (a Linux kernel module, `af_custom.ko`) that behaves like TCP from
//! userspace. This crate wraps it the way [`std::net`] wraps TCP and the
//! `vsock` crate wraps AF_VSOCK:
//!
//! * [`SockAddr`]: an IPv4 address and a port (`struct sockaddr_custom`,
//!   laid out like `sockaddr_in`), convertible from and to
//!   [`std::net::SocketAddrV4`];
//! * [`Listener`]: `bind` + `listen`, then `accept` / `incoming`;
//! * [`Stream`]: `connect`, then [`Read`](std::io::Read) /
//!   [`Write`](std::io::Write), `shutdown`, timeouts and options;
//! * [`family()`]: the address-family number the loaded module registered
//!   (read once from `/sys/module/af_custom/parameters/family`).
//!
//! Every socket is opened with `SOCK_CLOEXEC`; every error is an
//! [`std::io::Error`] made from the kernel's errno, so error kinds are
//! those std gives for TCP (`ConnectionRefused`, `WouldBlock`, ...).
//!
//! # Example
//!
//! An echo over loopback:
//!
//! ```
//! use afc_socket::{Listener, SockAddr, Stream};
//! use std::io::{Read, Write};
//! use std::net::Shutdown;
//!
//! # fn main() -> std::io::Result<()> {
//! # std::env::set_var("AFC_FAMILY", "inet"); // so that the doctest runs without the module
//! let listener = Listener::bind(SockAddr::localhost(0))?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> std::io::Result<()> {
//!     let (mut conn, peer) = listener.accept()?;
//!     println!("connection from {peer}");
//!     std::io::copy(&mut &conn, &mut &conn)?; // echo until end of file
//!     conn.flush()
//! });
//!
//! let mut client = Stream::connect(addr)?;
//! client.write_all(b"hello")?;
//! client.shutdown(Shutdown::Write)?;
//! let mut echoed = String::new();
//! client.read_to_string(&mut echoed)?;
//! assert_eq!(echoed, "hello");
//! server.join().expect("server thread")?;
//! # Ok(())
//! # }
//! ```
//!
//! # Testing without the module
//!
//! The environment variable `AFC_FAMILY` is a test hook (see [`family()`]):
//! with `AFC_FAMILY=inet` everything this crate does goes through AF_INET
//! (TCP) instead, so programs written against it run, and can be compared
//! with TCP, on a machine where `af_custom.ko` is not loaded.
//!
//! ```sh
//! AFC_FAMILY=inet cargo test -p afc-socket
//! ```

#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]

mod addr;
mod listener;
mod stream;
mod sys;

pub use addr::{
    family, is_inet_test_mode, SockAddr, AFC_CONGESTION, AFC_CORK, AFC_DEFER_ACCEPT, AFC_INFO,
    AFC_MAXSEG, AFC_NODELAY, AFC_NOTSENT_LOWAT, AFC_PKTINFO, AFC_QUICKACK, AFC_USER_TIMEOUT,
    FAMILY_ENV, FAMILY_PATH, SOL_AF_CUSTOM,
};
pub use listener::{Incoming, Listener, DEFAULT_BACKLOG};
pub use stream::Stream;

//! The AF_CUSTOM protocol core: wire format, connection state machine and listener policy.
//!
//! This crate is "sans-IO": it never touches sockets, buffers of payload bytes,
//! clocks or timers. The caller (the kernel socket layer, or the reference
//! endpoint in `tests/support/`) feeds it events (a frame arrived, the
//! application queued or read bytes, a timer fired) and acts on the decisions
//! it returns (send this header with these bytes of your send buffer, append
//! this payload to the receive queue, arm a timer for this instant).
//!
//! The code is `no_std`, does not use `alloc`, contains no floating point and
//! no `unsafe`, and never panics on any input: the kernel module compiles the
//! same files as `#[path = "proto/src"] pub mod proto { ... }`, so modules refer
//! to each other with `super::` only. See `docs/PROTOCOL.md` for the protocol.

#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::float_arithmetic
    )
)]

pub mod assembler;
pub mod bind;
pub mod buffers;
pub mod checksum;
pub mod conn;
pub mod conn_recv;
pub mod conn_send;
pub mod conn_timer;
pub mod defaults;
pub mod gro;
pub mod ingress;
pub mod isn;
pub mod listener;
pub mod opts;
pub mod ports;
pub mod reuseport;
pub mod rtt;
pub mod seq;
pub mod siphash;
pub mod state;
pub mod syncookie;
pub mod time;
pub mod tuple;
pub mod urgent;
pub mod wire;

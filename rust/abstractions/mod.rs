// SPDX-License-Identifier: GPL-2.0

//! Safe abstractions over the kernel's networking C API.
//!
//! Every `unsafe` block of the module lives below this module, each with a
//! `// SAFETY:` comment; the socket layer, the frame handler and the
//! protocol core above it are safe Rust (each is `forbid(unsafe_code)` in
//! the crate root).  The generated bindings are a private module of this
//! one: nothing above it can name them.

#[path = "../bindings/mod.rs"]
mod bindings;

pub(crate) mod bhlock;
pub(crate) mod errno;
pub(crate) mod family;
pub(crate) mod gro;
pub(crate) mod gso;
pub(crate) mod mem;
pub(crate) mod msg;
pub(crate) mod netdev;
pub(crate) mod netns;
pub(crate) mod once;
pub(crate) mod packet;
pub(crate) mod percpu;
pub(crate) mod pernet;
pub(crate) mod proto;
pub(crate) mod random;
pub(crate) mod route;
pub(crate) mod seq_file;
pub(crate) mod skb;
pub(crate) mod sock;
pub(crate) mod socket;
pub(crate) mod static_cell;
pub(crate) mod time;
pub(crate) mod uapi;
pub(crate) mod vec;

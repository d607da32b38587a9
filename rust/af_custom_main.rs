// SPDX-License-Identifier: GPL-2.0

//! AF_CUSTOM: a reliable stream socket family carried in Ethernet frames.
//!
//! The crate root: module parameters and the registration of the
//! per-namespace state, the `struct proto`, the socket family and the
//! frame handler, in RAII order (unregistered in reverse on unload).
//!
//! Layers, top to bottom: this file; the socket layer (`socket`) and the
//! receive path (`rx`); the protocol core (`proto`, pure Rust shared with
//! the host crate `afc-proto`); the safe abstractions over the kernel's C
//! API (`abstractions`: sock, socket, skb, net device, net, pernet, proc
//! files...), the only place with `unsafe`; the generated bindings
//! (`abstractions::bindings`, private to it).

// No panics in kernel code: no unwrap, expect, panic or panicking index
// anywhere in the crate (clippy, the kernel's CLIPPY=1, in `make check`).
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// Only `abstractions` may hold `unsafe` code, and only it sees the bindings (a
// private module of `abstractions`): the build, not a comment, keeps the rest safe.
mod abstractions;
#[forbid(unsafe_code)]
mod bind_table;
#[forbid(unsafe_code)]
mod netns;
#[forbid(unsafe_code)]
mod rx;
#[forbid(unsafe_code)]
mod socket;
#[forbid(unsafe_code)]
mod stats;
#[forbid(unsafe_code)]
mod tables;
#[forbid(unsafe_code)]
mod tx;

/// The protocol core, compiled from the same files as the host crate,
/// under the same lints as there (`proto/src/lib.rs`), which clippy checks
/// in this build too (`make check`: the kernel's `CLIPPY=1`).
#[path = "proto/src"]
#[forbid(unsafe_code)]
#[deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::float_arithmetic
)]
#[allow(dead_code, unreachable_pub, missing_docs)]
pub(crate) mod proto {
    pub(crate) mod assembler;
    pub(crate) mod bind;
    pub(crate) mod buffers;
    pub(crate) mod checksum;
    pub(crate) mod conn;
    pub(crate) mod conn_recv;
    pub(crate) mod conn_send;
    pub(crate) mod conn_timer;
    pub(crate) mod defaults;
    pub(crate) mod gro;
    pub(crate) mod ingress;
    pub(crate) mod isn;
    pub(crate) mod listener;
    pub(crate) mod opts;
    pub(crate) mod ports;
    pub(crate) mod reuseport;
    pub(crate) mod rtt;
    pub(crate) mod seq;
    pub(crate) mod siphash;
    pub(crate) mod state;
    pub(crate) mod syncookie;
    pub(crate) mod time;
    pub(crate) mod tuple;
    pub(crate) mod urgent;
    pub(crate) mod wire;
}

use abstractions::{
    family::FamilyRegistration, gro::GroCounter, gso::OffloadRegistration,
    packet::PacketRegistration, pernet::DiagRegistration, pernet::PernetRegistration,
    proto::ProtoRegistration, uapi,
};
use kernel::{c_str, prelude::*};

module! {
    type: AfCustom,
    name: "af_custom",
    author: "AF_CUSTOM developers",
    description: "AF_CUSTOM: reliable stream sockets over Ethernet (EtherType 0x88B5)",
    license: "GPL",
}

/// The loaded module.  Fields drop in declaration order, the reverse of
/// the order they are registered in `init`.
struct AfCustom {
    // Dropped first: its dumps reach the pernet state's socks.
    _diag: DiagRegistration,
    _packet: PacketRegistration<rx::Rx>,
    _family: FamilyRegistration<socket::AfCustomFamily>,
    // Before `_pernet`: its count goes to the pernet state.
    _gro: GroCounter<rx::Rx>,
    _proto: ProtoRegistration<socket::AfcSock>,
    _pernet: PernetRegistration<netns::NetState>,
    _offload: OffloadRegistration,
}

impl kernel::Module for AfCustom {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let family = uapi::family_param();
        if family <= 0 || family >= uapi::AF_MAX as i32 {
            pr_err!("family={} is out of range 1..{}\n", family, uapi::AF_MAX);
            return Err(EINVAL);
        }
        let offload = OffloadRegistration::register()?;
        let pernet = PernetRegistration::register()?;
        let gro = GroCounter::register();
        let proto = ProtoRegistration::register(c_str!("AF_CUSTOM"), module)?;
        let family_reg = FamilyRegistration::register(family, module).inspect_err(|e| {
            if e.to_errno() == EEXIST.to_errno() {
                pr_err!("address family {} is already registered by another module; load with family=<free slot>\n", family);
            } else {
                pr_err!("sock_register({}) failed: {:?}\n", family, e);
            }
        })?;
        let packet = PacketRegistration::register(uapi::ETH_P_AF_CUSTOM as u16)?;
        let diag = DiagRegistration::register(family)?;
        pr_info!(
            "registered address family {}, EtherType {:#06x}\n",
            family,
            uapi::ETH_P_AF_CUSTOM
        );
        Ok(AfCustom {
            _diag: diag,
            _packet: packet,
            _family: family_reg,
            _gro: gro,
            _proto: proto,
            _pernet: pernet,
            _offload: offload,
        })
    }
}

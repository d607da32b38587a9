// SPDX-License-Identifier: GPL-2.0

//! `struct sockaddr_custom`: laid out like `sockaddr_in` (family, port,
//! IPv4 address, 8 bytes of zero padding), port and address big-endian.

use crate::abstractions::errno::EAFNOSUPPORT;
use crate::proto::tuple::Endpoint;
use kernel::prelude::*;

/// The size of `struct sockaddr_custom`.
pub(crate) const LEN: usize = 16;

/// Decodes a user's address for `bind`/`connect`, as `inet_bind` checks a
/// `sockaddr_in`: too short is `EINVAL`, another family `EAFNOSUPPORT`.
pub(crate) fn decode(bytes: &[u8], family: u16) -> Result<Endpoint> {
    let b: &[u8; LEN] = bytes
        .get(..LEN)
        .and_then(|s| s.try_into().ok())
        .ok_or(EINVAL)?;
    let fam = u16::from_ne_bytes([b[0], b[1]]);
    if fam != family {
        return Err(EAFNOSUPPORT());
    }
    let port = u16::from_be_bytes([b[2], b[3]]);
    let addr = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
    Ok(Endpoint::new(addr, port))
}

/// Encodes `ep` as a `sockaddr_custom` of `family`.
pub(crate) fn encode(ep: Endpoint, family: u16, out: &mut [u8; LEN]) -> usize {
    *out = [0; LEN];
    out[0..2].copy_from_slice(&family.to_ne_bytes());
    out[2..4].copy_from_slice(&ep.port.to_be_bytes());
    out[4..8].copy_from_slice(&ep.addr.to_be_bytes());
    LEN
}

// SPDX-License-Identifier: GPL-2.0

//! A `seq_file` (a `/proc` file being read), written as text.

use crate::abstractions::bindings;
use crate::abstractions::sock::{Sock, SockData};

/// A `seq_file` being filled by a `/proc` show callback.
pub(crate) struct SeqFile(pub(super) *mut bindings::seq_file);

impl SeqFile {
    /// Writes `" REFCNT PTR"`, the sock's reference count and its address
    /// as `%pK` prints it (hashed, zeros under `kptr_restrict`, or
    /// `(____ptrval____)` before the random pool is ready), as
    /// `/proc/net/tcp` does after the inode.
    pub(crate) fn sock_ref<T: SockData>(&mut self, sk: &Sock<'_, T>) {
        // SAFETY: `self.0` is the seq_file of the running show() callback;
        // the sock is valid (its type invariant).
        unsafe { bindings::afc_seq_sock_ref(self.0, sk.as_ptr()) };
    }
}

impl core::fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // SAFETY: `self.0` is the seq_file of the running show() callback
        // (only the show callbacks of `pernet` make a `SeqFile`), and `s` is valid
        // for `s.len()` bytes.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

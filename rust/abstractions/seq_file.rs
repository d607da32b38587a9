// SPDX-License-Identifier: GPL-2.0

//! A `seq_file` (a `/proc` file being read), written as text.

use crate::abstractions::bindings;

/// A `seq_file` being filled by a `/proc` show callback.
pub(crate) struct SeqFile(pub(super) *mut bindings::seq_file);

impl core::fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        // SAFETY: `self.0` is the seq_file of the running show() callback
        // (only the show callbacks of `pernet` make a `SeqFile`), and `s` is valid
        // for `s.len()` bytes.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

//! Connection states, numbered as Linux numbers TCP's.
//!
//! The values are those of `include/net/tcp_states.h`, so `ss`, `/proc`
//! listings and `getsockopt` users that know TCP read ours the same way.

/// The state of a connection (or of a listening socket, [`State::Listen`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum State {
    /// Synchronized; data flows both ways.
    Established = 1,
    /// Active open: SYN sent, waiting for SYN-ACK.
    SynSent = 2,
    /// SYN received and SYN-ACK sent, waiting for its ACK.
    SynRecv = 3,
    /// This end closed its send side; its FIN is not yet acknowledged.
    FinWait1 = 4,
    /// This end's FIN is acknowledged; waiting for the peer's FIN.
    FinWait2 = 5,
    /// Both FINs acknowledged; lingering to absorb old duplicates.
    TimeWait = 6,
    /// No connection.
    Closed = 7,
    /// The peer closed its send side; this end may still send.
    CloseWait = 8,
    /// Both sides closed, this end last; waiting for the ACK of its FIN.
    LastAck = 9,
    /// A listening socket.
    Listen = 10,
    /// Both ends sent FIN at once; waiting for the ACK of ours.
    Closing = 11,
}

impl State {
    /// Returns the number Linux uses for the TCP state of the same name.
    #[inline]
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// Returns the state with Linux number `v`, if any.
    pub const fn from_u8(v: u8) -> Option<State> {
        Some(match v {
            1 => State::Established,
            2 => State::SynSent,
            3 => State::SynRecv,
            4 => State::FinWait1,
            5 => State::FinWait2,
            6 => State::TimeWait,
            7 => State::Closed,
            8 => State::CloseWait,
            9 => State::LastAck,
            10 => State::Listen,
            11 => State::Closing,
            _ => return None,
        })
    }

    /// Returns the name used in `docs/PROTOCOL.md` (and by `ss`).
    pub const fn name(self) -> &'static str {
        match self {
            State::Established => "ESTABLISHED",
            State::SynSent => "SYN_SENT",
            State::SynRecv => "SYN_RECV",
            State::FinWait1 => "FIN_WAIT_1",
            State::FinWait2 => "FIN_WAIT_2",
            State::TimeWait => "TIME_WAIT",
            State::Closed => "CLOSED",
            State::CloseWait => "CLOSE_WAIT",
            State::LastAck => "LAST_ACK",
            State::Listen => "LISTEN",
            State::Closing => "CLOSING",
        }
    }

    /// Returns whether both sequence spaces are synchronized (the handshake finished).
    pub const fn is_synchronized(self) -> bool {
        matches!(
            self,
            State::Established
                | State::FinWait1
                | State::FinWait2
                | State::CloseWait
                | State::Closing
                | State::LastAck
                | State::TimeWait
        )
    }

    /// This state's bit in a set of states (`1 << number`: the numbers
    /// are below 16).
    const fn bit(self) -> u16 {
        1u16.wrapping_shl(self as u32)
    }

    /// Returns whether the peer may still send data that this end accepts.
    ///
    /// One mask for the set: as a `matches!` it became a jump table (an
    /// indirect jump) in the module's `drive`, which runs for every event.
    pub const fn receives_data(self) -> bool {
        const SET: u16 = State::Established.bit() | State::FinWait1.bit() | State::FinWait2.bit();
        self.bit() & SET != 0
    }

    /// Returns whether this end may still queue new data to send.
    pub const fn sends_data(self) -> bool {
        matches!(
            self,
            State::SynSent | State::SynRecv | State::Established | State::CloseWait
        )
    }
}

#[cfg(test)]
mod tests {
    use super::State;

    #[test]
    fn numbers_match_linux_tcp_states() {
        for v in 0..=255u8 {
            if let Some(s) = State::from_u8(v) {
                assert_eq!(s.as_u8(), v);
            }
        }
        assert_eq!(State::Established as u8, 1);
        assert_eq!(State::Listen as u8, 10);
        assert_eq!(State::Closing as u8, 11);
        assert!(State::from_u8(0).is_none() && State::from_u8(12).is_none());
    }

    #[test]
    fn receives_data_is_established_and_the_fin_waits() {
        for v in 0..=255u8 {
            if let Some(s) = State::from_u8(v) {
                assert_eq!(
                    s.receives_data(),
                    matches!(s, State::Established | State::FinWait1 | State::FinWait2),
                    "{s:?}"
                );
            }
        }
    }
}

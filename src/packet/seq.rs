//! TCP sequence numbers: 32-bit values compared modulo 2^32.
//!
//! RFC 9293 §3.4: "It is essential to remember that the actual sequence number space is finite,
//! though very large. This space ranges from 0 to 2^32 - 1. Since the space is finite, all
//! arithmetic dealing with sequence numbers must be performed modulo 2^32." Comparisons follow
//! the serial-number arithmetic of RFC 1982 as Linux implements it (`before()`/`after()` in
//! `include/net/tcp.h`): `a` is after `b` when `(a - b) as i32 > 0`.

use core::cmp::Ordering;
use core::fmt;

/// A TCP sequence or acknowledgment number. The only ordering it has wraps.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// `self + n`, modulo 2^32.
    #[inline]
    pub const fn add(self, n: u32) -> SeqNum {
        SeqNum(self.0.wrapping_add(n))
    }

    /// Signed modular distance `self - other` in (-2^31, 2^31]; the value an operator reads as
    /// "how far ahead (positive) or behind (negative) this number is".
    #[inline]
    pub const fn delta(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// Linux `after(self, other)`: strictly later in modular order.
    #[inline]
    pub const fn after(self, other: SeqNum) -> bool {
        self.delta(other) > 0
    }

    /// Linux `before(self, other)`: strictly earlier in modular order.
    #[inline]
    pub const fn before(self, other: SeqNum) -> bool {
        self.delta(other) < 0
    }

    /// The later of two numbers in modular order (`self` on a tie).
    #[inline]
    pub const fn max(self, other: SeqNum) -> SeqNum {
        if other.after(self) {
            other
        } else {
            self
        }
    }
}

impl PartialOrd for SeqNum {
    /// Modular order. Two numbers exactly 2^31 apart are unordered in RFC 1982; here the
    /// distance `i32::MIN` compares as `Less`, as Linux's `before()` does.
    #[inline]
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        self.delta(*other).partial_cmp(&0)
    }
}

impl fmt::Debug for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNum({})", self.0)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    const NEAR_TOP: SeqNum = SeqNum(u32::MAX - 10);

    #[test]
    fn wraps_around_the_top() {
        let after_wrap = NEAR_TOP.add(20);
        assert_eq!(after_wrap, SeqNum(9));
        assert!(after_wrap.after(NEAR_TOP));
        assert!(NEAR_TOP.before(after_wrap));
        assert_eq!(after_wrap.delta(NEAR_TOP), 20);
        assert_eq!(NEAR_TOP.delta(after_wrap), -20);
        assert!(after_wrap > NEAR_TOP);
    }

    #[test]
    fn equal_is_neither_before_nor_after() {
        assert!(!SeqNum(5).after(SeqNum(5)));
        assert!(!SeqNum(5).before(SeqNum(5)));
        assert_eq!(SeqNum(5).partial_cmp(&SeqNum(5)), Some(Ordering::Equal));
    }

    #[test]
    fn half_space_is_before() {
        let a = SeqNum(0);
        let b = SeqNum(1 << 31);
        assert_eq!(b.delta(a), i32::MIN);
        assert!(b.before(a));
        assert!(a.before(b));
    }

    #[test]
    fn max_wraps() {
        assert_eq!(NEAR_TOP.max(SeqNum(3)), SeqNum(3));
        assert_eq!(SeqNum(3).max(NEAR_TOP), SeqNum(3));
    }
}

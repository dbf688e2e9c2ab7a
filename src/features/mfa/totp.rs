//! TOTP (RFC 6238 over RFC 4226): HMAC-SHA1, 6 digits, 30-second steps from T0 = 0, a
//! code accepted for the steps t−1, t and t+1. Which of those a user may still use (replay
//! protection) is storage's decision (`store::accept_step`); this file is arithmetic.

use hmac::{Hmac, Mac};
use sha1::Sha1;

use crate::kernel::UnixSeconds;

pub const STEP_SECONDS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Steps either side of now a code is accepted for (clock drift, a code typed at a step's end).
pub const SKEW_STEPS: i64 = 1;

/// The step `now` falls in.
pub fn step_at(now: UnixSeconds) -> i64 {
    now.div_euclid(STEP_SECONDS)
}

/// The code of `step` under `secret` (RFC 4226 §5.3 dynamic truncation), as a number.
pub fn code_at(secret: &[u8], step: i64) -> u32 {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([hash[offset], hash[offset + 1], hash[offset + 2], hash[offset + 3]]) & 0x7fff_ffff;
    binary % 10u32.pow(DIGITS)
}

/// The code of `step` as the user's app shows it: six digits, leading zeros kept.
pub fn code_text(secret: &[u8], step: i64) -> String {
    format!("{:0width$}", code_at(secret, step), width = DIGITS as usize)
}

/// The latest step within the skew of `now` whose code is `code` and which is later than
/// `after` (the last step accepted for the user): the step to record, or `None`. Every
/// candidate is computed, so the time taken does not say which step matched.
pub fn matching_step(secret: &[u8], code: &TotpCode, now: UnixSeconds, after: i64) -> Option<i64> {
    let now_step = step_at(now);
    let mut found = None;
    for step in now_step - SKEW_STEPS..=now_step + SKEW_STEPS {
        let same = constant_time_eq(code_text(secret, step).as_bytes(), code.0.as_bytes());
        if same && step > after {
            found = Some(step);
        }
    }
    found
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A `code` as presented: six ASCII digits once spaces are removed (mfa.md).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("must be 6 digits")]
pub struct InvalidTotpCode;

impl TotpCode {
    pub fn parse(raw: &str) -> Result<Self, InvalidTotpCode> {
        let code: String = raw.chars().filter(|c| *c != ' ').collect();
        (code.len() == DIGITS as usize && code.bytes().all(|b| b.is_ascii_digit()))
            .then_some(Self(code))
            .ok_or(InvalidTotpCode)
    }
}

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA1 seed: "12345678901234567890".
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn the_rfc_6238_sha1_vectors_hold_in_six_digits() {
        // Appendix B lists 8 digits; the 6-digit code is their last six.
        let vectors = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, eight) in vectors {
            assert_eq!(code_text(RFC_SECRET, step_at(time)), eight[2..], "T = {time}");
        }
    }

    fn code(raw: &str) -> TotpCode {
        TotpCode::parse(raw).unwrap()
    }

    #[test]
    fn a_code_is_accepted_one_step_either_side_and_no_further() {
        let now = 1_111_111_111;
        let t = step_at(now);
        for (offset, accepted) in [(-2, false), (-1, true), (0, true), (1, true), (2, false)] {
            let presented = code(&code_text(RFC_SECRET, t + offset));
            let expected = accepted.then_some(t + offset);
            assert_eq!(
                matching_step(RFC_SECRET, &presented, now, -1),
                expected,
                "offset {offset}"
            );
        }
    }

    #[test]
    fn the_skew_edges_follow_the_step_boundaries() {
        // 59 is the last second of step 1; 60 the first of step 2.
        let step_zero = code(&code_text(RFC_SECRET, 0));
        assert_eq!(matching_step(RFC_SECRET, &step_zero, 59, -1), Some(0));
        assert_eq!(matching_step(RFC_SECRET, &step_zero, 60, -1), None);
        let step_three = code(&code_text(RFC_SECRET, 3));
        assert_eq!(matching_step(RFC_SECRET, &step_three, 59, -1), None);
        assert_eq!(matching_step(RFC_SECRET, &step_three, 60, -1), Some(3));
    }

    #[test]
    fn a_step_at_or_before_the_last_accepted_one_is_refused() {
        let now = 1_234_567_890;
        let t = step_at(now);
        let current = code(&code_text(RFC_SECRET, t));
        assert_eq!(matching_step(RFC_SECRET, &current, now, t - 1), Some(t));
        assert_eq!(matching_step(RFC_SECRET, &current, now, t), None, "the same step again");
        assert_eq!(matching_step(RFC_SECRET, &current, now, t + 1), None, "an earlier step");
        let next = code(&code_text(RFC_SECRET, t + 1));
        assert_eq!(
            matching_step(RFC_SECRET, &next, now, t),
            Some(t + 1),
            "the next step within skew"
        );
    }

    #[test]
    fn a_code_from_another_secret_is_refused() {
        let now = 1_234_567_890;
        let other = code(&code_text(b"another secret 20 by", step_at(now)));
        let ours = code_text(RFC_SECRET, step_at(now));
        assert_ne!(
            ours,
            code_text(b"another secret 20 by", step_at(now)),
            "the vectors differ"
        );
        assert_eq!(matching_step(RFC_SECRET, &other, now, -1), None);
    }

    #[test]
    fn a_code_is_six_digits_once_spaces_are_removed() {
        assert!(TotpCode::parse("123 456").is_ok());
        assert!(TotpCode::parse(" 123456 ").is_ok());
        let bad = [
            ("", "empty"),
            ("12345", "five digits"),
            ("1234567", "seven digits"),
            ("12345a", "a letter"),
            ("１２３４５６", "full-width digits"),
            ("123-456", "a dash"),
            ("\t123456", "a tab is not a space"),
        ];
        for (raw, why) in bad {
            assert_eq!(TotpCode::parse(raw), Err(InvalidTotpCode), "{why}");
        }
        assert_eq!(format!("{:?}", code("123456")), "TotpCode(<redacted>)");
    }
}

//! Keys and passwords drawn from the OS CSPRNG.

use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use super::KEY_CHARS;

const BASE36: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// Draws a fresh 62-character key, uniform over lowercase base36, from the OS CSPRNG.
pub fn generate_key() -> String {
    let mut key = String::with_capacity(KEY_CHARS);
    let mut buf = [0u8; 80];
    while key.len() < KEY_CHARS {
        OsRng.fill_bytes(&mut buf);
        // Rejection sampling: 252 = 7 * 36, so accepted bytes map uniformly onto base36.
        for b in buf.iter().filter(|&&b| b < 252) {
            if key.len() == KEY_CHARS {
                break;
            }
            key.push(char::from(BASE36[usize::from(*b % 36)]));
        }
    }
    key
}

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghjkmnpqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
const SYMBOLS: &[u8] = b"!@#$%^&*()_-+=[]{}|:;\"'<>,.?/~`";

/// Uniform indexes below `n` (at most 256) from the OS CSPRNG, drawn in bulk: one syscall per
/// buffer rather than one per character.
fn random_indexes(n: usize, count: usize) -> Zeroizing<Vec<usize>> {
    let limit = 256 - 256 % n; // rejection bound: bytes below it map uniformly onto 0..n
    let mut out = Zeroizing::new(Vec::with_capacity(count));
    let mut buf = Zeroizing::new([0u8; 256]);
    while out.len() < count {
        OsRng.fill_bytes(buf.as_mut_slice());
        for &b in buf.iter().filter(|&&b| usize::from(b) < limit) {
            if out.len() == count {
                break;
            }
            out.push(usize::from(b) % n);
        }
    }
    out
}

/// A password of `length` characters (at least 4) with at least one upper, lower, digit and
/// symbol, none of the ambiguous `ilo1IO0`, from the OS CSPRNG.
///
/// Drawn whole from the combined alphabet and redrawn until every class is present: uniform
/// over all passwords that satisfy the rule (forcing one character per class is not).
pub fn generate_password(length: usize) -> Zeroizing<String> {
    let length = length.max(4);
    let classes = [UPPER, LOWER, DIGITS, SYMBOLS];
    let all: Vec<u8> = classes.concat();
    loop {
        let chars: Zeroizing<Vec<u8>> = Zeroizing::new(
            random_indexes(all.len(), length)
                .iter()
                .map(|&i| all[i])
                .collect(),
        );
        if classes.iter().all(|c| chars.iter().any(|b| c.contains(b))) {
            return Zeroizing::new(chars.iter().map(|&b| char::from(b)).collect());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_62_base36_chars_and_distinct() {
        let a = generate_key();
        let b = generate_key();
        assert_eq!(a.len(), KEY_CHARS);
        assert!(a.bytes().all(|c| BASE36.contains(&c)));
        assert_ne!(a, b);
    }

    #[test]
    fn key_characters_are_roughly_uniform() {
        let mut counts = [0u32; 36];
        for _ in 0..2000 {
            for c in generate_key().bytes() {
                counts[BASE36.iter().position(|&x| x == c).expect("base36")] += 1;
            }
        }
        // 124,000 draws: each character expects ~3444; a biased mapping (e.g. byte % 36
        // without rejection) would push the first 4 characters ~14% high.
        let expected = 2000.0 * KEY_CHARS as f64 / 36.0;
        for n in counts {
            assert!(
                (f64::from(n) - expected).abs() / expected < 0.08,
                "{counts:?}"
            );
        }
    }

    #[test]
    fn generated_passwords_have_every_class_and_no_ambiguous_chars() {
        for len in [4, 12, 128] {
            for _ in 0..50 {
                let pw = generate_password(len);
                assert_eq!(pw.len(), len);
                let b = pw.as_bytes();
                assert!(b.iter().any(|c| UPPER.contains(c)));
                assert!(b.iter().any(|c| LOWER.contains(c)));
                assert!(b.iter().any(|c| DIGITS.contains(c)));
                assert!(b.iter().any(|c| SYMBOLS.contains(c)));
                assert!(!b.iter().any(|c| b"ilo1IO0".contains(c)));
            }
        }
    }
}

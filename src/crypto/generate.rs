//! Keys and passwords drawn from the OS CSPRNG.

use rand::rngs::OsRng;
use rand::RngCore;
use zeroize::Zeroizing;

use super::KEY_CHARS;

/// `N` fresh bytes from the OS CSPRNG, zeroed on drop: a new symmetric or private key.
pub(crate) fn random_key<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut key = Zeroizing::new([0u8; N]);
    OsRng.fill_bytes(key.as_mut_slice());
    key
}

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

/// Which characters a generated password draws from (the v2 API's `character_sets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CharSets {
    /// A-Z.
    pub upper: bool,
    /// a-z.
    pub lower: bool,
    /// 0-9.
    pub digits: bool,
    /// Punctuation.
    pub symbols: bool,
    /// Leave out the look-alikes `ilo1IO0`.
    pub exclude_ambiguous: bool,
}

impl Default for CharSets {
    /// Every class, no look-alikes: the v1 API's passwords.
    fn default() -> Self {
        Self {
            upper: true,
            lower: true,
            digits: true,
            symbols: true,
            exclude_ambiguous: true,
        }
    }
}

impl CharSets {
    /// Whether any class is chosen.
    pub fn any(&self) -> bool {
        self.upper || self.lower || self.digits || self.symbols
    }

    /// The chosen classes' alphabets.
    fn classes(&self) -> Vec<Vec<u8>> {
        let with = |base: &[u8], ambiguous: &[u8]| {
            let mut class = base.to_vec();
            if !self.exclude_ambiguous {
                class.extend_from_slice(ambiguous);
            }
            class
        };
        let mut classes = Vec::new();
        if self.upper {
            classes.push(with(UPPER, b"IO"));
        }
        if self.lower {
            classes.push(with(LOWER, b"ilo"));
        }
        if self.digits {
            classes.push(with(DIGITS, b"01"));
        }
        if self.symbols {
            classes.push(SYMBOLS.to_vec());
        }
        classes
    }
}

/// A password of `length` characters (at least 4) with at least one upper, lower, digit and
/// symbol, none of the ambiguous `ilo1IO0`, from the OS CSPRNG.
pub fn generate_password(length: usize) -> Zeroizing<String> {
    generate_password_from(length, CharSets::default())
}

/// A password of `length` characters (at least 4) with at least one character of each chosen
/// class, from the OS CSPRNG; no class chosen means every class.
///
/// Drawn whole from the combined alphabet and redrawn until every class is present: uniform
/// over all passwords that satisfy the rule (forcing one character per class is not).
pub fn generate_password_from(length: usize, sets: CharSets) -> Zeroizing<String> {
    let length = length.max(4);
    let sets = if sets.any() {
        sets
    } else {
        CharSets::default()
    };
    let classes = sets.classes();
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
    fn chosen_character_sets_are_the_only_ones_drawn() {
        let digits_only = CharSets {
            upper: false,
            lower: false,
            digits: true,
            symbols: false,
            exclude_ambiguous: false,
        };
        let pw = generate_password_from(40, digits_only);
        assert_eq!(pw.len(), 40);
        assert!(pw.bytes().all(|b| b.is_ascii_digit()), "{}", pw.as_str());
        let letters = CharSets {
            symbols: false,
            digits: false,
            ..CharSets::default()
        };
        let pw = generate_password_from(64, letters);
        assert!(pw
            .bytes()
            .all(|b| b.is_ascii_alphabetic() && !b"ilIO".contains(&b)));
        assert!(pw.bytes().any(|b| b.is_ascii_uppercase()));
        assert!(pw.bytes().any(|b| b.is_ascii_lowercase()));
    }

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

//! Wrong-passphrase counters: the budget rules, the stored counters and their reservation logic,
//! which every backend applies (sled in Rust, Redis in the same rules as a script).

use serde::{Deserialize, Serialize};

/// When wrong passphrases lock a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessRules {
    /// Failures per secret and client address.
    pub per_ip: u32,
    /// Failures per secret in all.
    pub total: u32,
    /// Seconds over which failures count.
    pub window: u64,
    /// Seconds the secret stays locked.
    pub lockout: u64,
}

/// Wrong-passphrase counters of one secret, stored next to it and removed with it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Guesses {
    /// Start of the current counting window, unix seconds.
    pub window_start: u64,
    /// Failures in the window, all addresses.
    pub total: u32,
    /// Failures in the window per keyed hash of the client address.
    pub per_ip: Vec<([u8; 8], u32)>,
    /// Locked until this time, unix seconds (0: not locked).
    pub locked_until: u64,
}

/// One passphrase guess at a secret: whose, when, and against which budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuessAttempt {
    /// Keyed hash of the client address the guess is counted under.
    pub ip_tag: [u8; 8],
    /// When it is made, unix seconds.
    pub now: u64,
    /// The budget it counts against.
    pub rules: GuessRules,
}

/// What a guess reservation found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guess {
    /// One guess may be evaluated; it is already counted, whatever its outcome.
    Granted,
    /// The secret is locked; `newly` when this very reservation locked it.
    Locked {
        /// This reservation found the budget used up and engaged the lock.
        newly: bool,
    },
    /// No such secret (revealed, burned, expired or never there).
    Gone,
}

impl Guesses {
    /// Reserves one guess for the client `ip_tag` at `now`, before its passphrase is
    /// evaluated: so a burst, or an attempt whose client goes away mid-derivation, is counted
    /// like any wrong guess. Once this address (`rules.per_ip`) or all addresses
    /// (`rules.total`) have used the window's budget, the reservation is refused and the secret
    /// locks for `rules.lockout` seconds; a take refuses while it is locked, so a right
    /// passphrase reserved before the lock engaged is refused too.
    pub fn reserve(&mut self, ip_tag: [u8; 8], now: u64, rules: GuessRules) -> Guess {
        if self.locked(now) {
            return Guess::Locked { newly: false };
        }
        if self.fresh_window(now, rules) {
            *self = Self {
                window_start: now,
                ..Self::default()
            };
        }
        if self.budget_spent(ip_tag, rules) {
            self.locked_until = now.saturating_add(rules.lockout);
            return Guess::Locked { newly: true };
        }
        self.total += 1;
        match self.per_ip.iter_mut().find(|(tag, _)| *tag == ip_tag) {
            Some((_, n)) => *n += 1,
            None => self.per_ip.push((ip_tag, 1)),
        }
        Guess::Granted
    }

    /// A guess reserved for `ip_tag` turned out wrong: locks the secret at once when that
    /// guess used up this address's or the total budget, so the next guess (the right one
    /// included, from any address) is refused without waiting for one more reservation.
    /// Returns whether this call locked it.
    pub fn spent(&mut self, ip_tag: [u8; 8], now: u64, rules: GuessRules) -> bool {
        if self.locked(now) || self.fresh_window(now, rules) {
            return false;
        }
        if self.budget_spent(ip_tag, rules) {
            self.locked_until = now.saturating_add(rules.lockout);
            return true;
        }
        false
    }

    /// Whether `ip_tag`, or all addresses together, have used the window's budget.
    fn budget_spent(&self, ip_tag: [u8; 8], rules: GuessRules) -> bool {
        let from_ip = self
            .per_ip
            .iter()
            .find(|(tag, _)| *tag == ip_tag)
            .map_or(0, |(_, n)| *n);
        from_ip >= rules.per_ip || self.total >= rules.total
    }

    /// Whether the counters are stale at `now`: their window has passed, or a lock has ended
    /// (a lock shorter than the window would otherwise last until the window's end).
    fn fresh_window(&self, now: u64, rules: GuessRules) -> bool {
        self.locked_until != 0 || now >= self.window_start.saturating_add(rules.window)
    }

    /// Whether the lock holds at `now`.
    pub fn locked(&self, now: u64) -> bool {
        now < self.locked_until
    }
}

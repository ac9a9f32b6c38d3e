//! The behaviour every [`Store`] backend must show, written once against the traits and split
//! the same way (one file per concern); the fixtures the cases share are here.
//!
//! A backend's test module calls [`conformance_suite!`](crate::conformance_suite) with a
//! function that opens a fresh store in a given empty directory (backends without a directory
//! ignore it); each case becomes its own `#[tokio::test]`.

use std::sync::Arc;

use rand::RngCore;

use super::upgrade::{PlainKeys, UpgradeKeys};
use super::{
    AccountRecord, Delivery, DeliveryState, Exported, Guess, GuessAttempt, GuessRules, Guesses,
    NewSecret, OutboxRecord, PlainTake, ReceiptRecord, RecentEntry, RecentSeal, SealedListKey,
    SecretRecord, SessionRecord, Store, StoredState, SweepReport, WebPassword,
};
use crate::crypto::{KdfParams, RecordId, Sealed};
use crate::domain::RECENT_WINDOW;

mod accounts;
mod guesses;
mod outbox;
mod secrets;
mod sessions;
mod sweep;
mod transfer;

pub use self::{
    accounts::*, guesses::*, outbox::*, secrets::*, sessions::*, sweep::*, transfer::*,
};

/// A fixed "now" for the cases; time is injected, never slept.
pub const NOW: u64 = 1_800_000_000;

fn random_id() -> RecordId {
    let mut id = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut id);
    id
}

/// A sealed blob of `byte`s, for records whose contents the test does not open.
pub(crate) fn sealed(byte: u8) -> Sealed {
    Sealed {
        nonce: [byte; 24],
        ciphertext: vec![byte; 40],
    }
}

/// A secret created at [`NOW`] with `ttl`, optionally with a generated value on its receipt.
pub fn sample(ttl: u64, generated: bool) -> NewSecret {
    let secret_id = random_id();
    let receipt_id = random_id();
    NewSecret {
        secret_id,
        secret: SecretRecord {
            receipt_id,
            created: NOW,
            expires_at: NOW + ttl,
            kdf: None,
            sealed: sealed(1),
        },
        receipt_id,
        metadata: ReceiptRecord {
            secret_id,
            state: StoredState::New,
            created: NOW,
            updated: NOW,
            received: None,
            ttl,
            secret_expires_at: NOW + ttl,
            expires_at: NOW + 2 * ttl,
            passphrase_required: false,
            sealed: sealed(2),
            generated: generated.then(|| sealed(3)),
            delivery: None,
        },
        recent: None,
        mail: None,
    }
}

/// A secret created at [`NOW`] with `ttl`, with a mail to its recipient queued.
fn with_mail(ttl: u64) -> NewSecret {
    let mut new = sample(ttl, false);
    new.metadata.delivery = Some(Delivery {
        state: DeliveryState::Queued,
        reason: None,
        updated: NOW,
    });
    new.mail = Some(OutboxRecord {
        receipt_id: new.receipt_id,
        created: NOW,
        attempts: 0,
        next_attempt: NOW,
        sealed: sealed(7),
    });
    new
}

/// An account of `email` (with the stand-in keys), its hashes and keys made of `hash`.
pub fn account(email: &str, hash: u8) -> AccountRecord {
    let id = PlainKeys.account_id(email);
    AccountRecord {
        id,
        email: PlainKeys.seal_email(&id, email),
        plan: "default".into(),
        created: NOW,
        token_hash: [hash; 32],
        token_created: NOW,
        api_key: Some(SealedListKey {
            public: [hash; 32],
            sealed: sealed(hash),
        }),
        password: None,
        sso: None,
    }
}

/// The ids of every account in `store`, sorted.
pub async fn account_ids<S: super::Accounts + ?Sized>(store: &S) -> Vec<RecordId> {
    let accounts = store.accounts().await.expect("accounts");
    let mut ids: Vec<_> = accounts.into_iter().map(|c| c.id).collect();
    ids.sort();
    ids
}

/// The id the account of `email` is stored under (with the stand-in keys).
fn id(email: &str) -> RecordId {
    PlainKeys.account_id(email)
}

fn with_password(mut record: AccountRecord, byte: u8) -> AccountRecord {
    record.password = Some(WebPassword {
        phc: format!("$scrypt$ln=10,r=8,p=1$salt{byte}$hash"),
        set_at: NOW,
        kdf: KdfParams {
            log_n: 10,
            r: 8,
            p: 1,
            salt: [byte; 16],
        },
        key: SealedListKey {
            public: [byte; 32],
            sealed: sealed(byte),
        },
    });
    record
}

/// A recent entry's seal: odd tags in schema 1's shape (under the token, no key boxes), even
/// tags with two key boxes.
fn recent_seal(tag: u8) -> RecentSeal {
    RecentSeal {
        sealed: sealed(tag),
        key_boxes: if tag % 2 == 1 {
            Vec::new()
        } else {
            vec![vec![tag; 80], vec![tag ^ 0xff; 80]]
        },
    }
}

fn with_recent(account_id: RecordId, created: u64, tag: u8) -> NewSecret {
    let mut new = sample(600, false);
    new.recent = Some(RecentEntry {
        account_id,
        created,
        sealed: recent_seal(tag),
    });
    new
}

fn session(created: u64, ttl: u64, tag: u8) -> SessionRecord {
    SessionRecord {
        created,
        expires_at: created + ttl,
        sealed: sealed(tag),
    }
}

/// A session begun at [`NOW`] that lasts `ttl` (see [`session`]), stored under a fresh id; the
/// id.
async fn stored_session(store: &Arc<dyn Store>, ttl: u64, tag: u8) -> RecordId {
    let id = random_id();
    store
        .put_session(&id, &session(NOW, ttl, tag))
        .await
        .expect("put");
    id
}

const RULES: GuessRules = GuessRules {
    per_ip: 3,
    total: 5,
    window: 600,
    lockout: 1800,
};

/// A guess from `ip` at `now` under [`RULES`].
fn attempt(ip: [u8; 8], now: u64) -> GuessAttempt {
    GuessAttempt {
        ip_tag: ip,
        now,
        rules: RULES,
    }
}

/// Takes `new`'s secret at `now`: whether this call took it.
async fn take(store: &Arc<dyn Store>, new: &NewSecret, now: u64) -> bool {
    store.take_secret(&new.secret_id, now).await.expect("take")
}

/// Burns `new`'s secret at `now` (`forced`: as its creator's account may): the receipt,
/// if this call burned it.
async fn burn(
    store: &Arc<dyn Store>,
    new: &NewSecret,
    now: u64,
    forced: bool,
) -> Option<ReceiptRecord> {
    store
        .burn(&new.receipt_id, now, forced)
        .await
        .expect("burn")
}

/// `new`'s secret at `now`, while it is there.
async fn secret_of(store: &Arc<dyn Store>, new: &NewSecret, now: u64) -> Option<SecretRecord> {
    store.secret(&new.secret_id, now).await.expect("read")
}

/// `new`'s receipt at `now`, while it is kept.
async fn receipt_of(store: &Arc<dyn Store>, new: &NewSecret, now: u64) -> Option<ReceiptRecord> {
    store.receipt(&new.receipt_id, now).await.expect("read")
}

async fn reserve(store: &Arc<dyn Store>, id: &RecordId, ip: [u8; 8], now: u64) -> Guess {
    store
        .reserve_guess(id, attempt(ip, now))
        .await
        .expect("reserve")
}

/// Generates one `#[tokio::test]` per conformance case for a backend.
///
/// `$open` is an expression `Fn(PathBuf) -> impl Future<Output = S>` where `S: Store`,
/// opening a fresh, empty store (in the given empty temp directory, for backends that use one).
///
/// Sweeping is backend-specific (sled sweeps, Redis expires keys itself), so its cases are not
/// in this list; every case here checks expiry the way callers see it, at read time.
#[macro_export]
macro_rules! conformance_suite {
    ($open:expr) => {
        $crate::conformance_suite!(@cases $open;
            created_records_read_back,
            secret_is_taken_exactly_once_under_races,
            expired_secret_is_gone_before_any_sweep,
            burn_destroys_an_unread_secret_once,
            burn_and_take_race_has_one_winner,
            generated_value_is_taken_once,
            receipt_reseal_changes_only_its_payload,
            plain_take_hands_the_secret_to_one_caller,
            plain_take_leaves_a_protected_secret,
            preview_marks_a_waiting_receipt_once_and_never_unreveals,
            customers_are_added_once_replaced_and_removed,
            customer_replace_refuses_a_stale_record,
            sessions_are_kept_until_they_expire_or_are_removed,
            a_session_is_taken_once,
            recent_lists_are_per_customer_newest_first,
            passphrase_guesses_are_budgeted_then_locked,
            concurrent_guesses_never_exceed_the_budget,
            passphrase_counters_go_with_the_secret,
            outbox_mail_is_retried_then_finished,
            queued_mail_goes_with_its_secret,
            export_then_import_moves_every_live_record,
            guess_counters_travel_with_export,
        );
    };
    (@cases $open:expr; $($case:ident),* $(,)?) => {
        mod conformance {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = ($open)(dir.path().to_owned()).await;
                    $crate::store::conformance::$case(std::sync::Arc::new(store)).await;
                }
            )*
        }
    };
}

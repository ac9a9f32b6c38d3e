//! sled's own cases beside the shared conformance suite: sweeping, the schema upgrade,
//! locking, half-written creates.

use std::path::Path;

use super::trees::{expiry_key, KIND_METADATA, LEGACY_CUSTOMERS, LEGACY_OUTBOX, SCHEMA_KEY};
use super::*;
use crate::store::record::encode;
use crate::store::upgrade::UpgradeKeys;
use crate::store::{Outbox, OutboxRecord, Secrets, Sweep, Upkeep, SCHEMA_VERSION};

fn open(dir: &Path) -> SledStore {
    SledStore::open(dir, true, 8 << 20).expect("open")
}

crate::conformance_suite!(|dir: std::path::PathBuf| async move { open(&dir) });

/// A conformance case only sled runs (sweeping is sled's own), on a fresh store.
macro_rules! sled_case {
    ($($case:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $case() {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = std::sync::Arc::new(open(dir.path()));
            super::super::conformance::$case(store).await;
        }
    )*};
}

sled_case!(
    sweep_removes_only_what_is_due,
    recent_entries_are_swept_after_the_window,
    sessions_are_swept_once_expired,
);

#[tokio::test]
async fn a_schema_1_store_is_upgraded_on_open_and_keeps_its_accounts_and_mail() {
    // Bytes exactly as schema 1 wrote them: accounts under their plain email in both of
    // their shapes, a queued mail under a random id, a recent entry as a bare `Sealed`.
    use super::super::upgrade::{self, PlainKeys};
    let dir = tempfile::tempdir().expect("tempdir");
    let sealed = crate::crypto::Sealed {
        nonce: [4; 24],
        ciphertext: vec![5; 40],
    };
    let unread = super::super::conformance::sample(600, false);
    let taken = super::super::conformance::sample(600, false);
    let mail = |receipt_id| OutboxRecord {
        receipt_id,
        created: 1,
        attempts: 2,
        next_attempt: 3,
        sealed: sealed.clone(),
    };
    {
        let store = open(dir.path());
        store.create(&unread).await.expect("create");
        store.create(&taken).await.expect("create");
        assert!(store
            .take_secret(&taken.secret_id, super::super::conformance::NOW)
            .await
            .expect("take"));
        let inner = store.current().expect("open");
        let accounts = inner.db.open_tree(LEGACY_CUSTOMERS).expect("tree");
        let outbox = inner.db.open_tree(LEGACY_OUTBOX).expect("tree");
        for (email, bytes) in upgrade::schema_1_accounts() {
            accounts.insert(email, bytes).expect("insert");
        }
        for (old_id, m) in [([1u8; 32], unread.receipt_id), ([2; 32], taken.receipt_id)] {
            outbox
                .insert(old_id, encode(&mail(m)).expect("encode"))
                .expect("insert");
        }
        inner
            .meta
            .insert(SCHEMA_KEY, &1u32.to_be_bytes())
            .expect("insert");
    }
    let store = open(dir.path());
    assert_eq!(store.schema().await.expect("schema"), 1);

    upgrade::upgrade_twice_and_check_accounts(&store).await;
    let mut rekeyed = mail(unread.receipt_id);
    rekeyed.sealed = PlainKeys
        .reseal_mail(&[1; 32], &unread.receipt_id, &sealed)
        .expect("reseal");
    let inner = store.current().expect("open");
    assert_eq!(inner.mail.len(), 1, "the taken secret's mail is not kept");
    let due = store
        .due_mail(super::super::conformance::NOW + 1, 10)
        .await
        .expect("due");
    assert_eq!(due, vec![rekeyed]);
    let names = inner.db.tree_names();
    assert!(!names.iter().any(|n| n == LEGACY_CUSTOMERS.as_bytes()));
    assert!(!names.iter().any(|n| n == LEGACY_OUTBOX.as_bytes()));
}

#[test]
fn a_store_from_a_newer_version_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = sled::open(dir.path()).expect("sled");
        let meta = db.open_tree("meta").expect("tree");
        meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }
    let err = SledStore::open(dir.path(), true, 8 << 20).expect_err("newer schema");
    let text = err.to_string();
    let (found, supported) = (SCHEMA_VERSION + 1, SCHEMA_VERSION);
    assert!(text.contains(&format!("schema version {found}")), "{text}");
    assert!(
        text.contains(&format!("supports up to {supported}")),
        "{text}"
    );
}

#[test]
fn a_store_open_in_another_handle_is_refused_as_locked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = open(dir.path());
    let err = SledStore::open(dir.path(), true, 8 << 20).expect_err("locked");
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
}

#[test]
fn a_new_store_records_the_schema_version() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(open(dir.path()));
    let db = sled::open(dir.path()).expect("sled");
    let meta = db.open_tree("meta").expect("tree");
    let v = meta.get(SCHEMA_KEY).expect("get").expect("present");
    assert_eq!(v.as_ref(), SCHEMA_VERSION.to_be_bytes());
}

/// A store in a temp dir holding one secret of 60 s, and its open trees.
async fn one_secret() -> (
    tempfile::TempDir,
    SledStore,
    crate::store::NewSecret,
    std::sync::Arc<trees::Trees>,
) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let new = super::super::conformance::sample(60, false);
    store.create(&new).await.expect("create");
    let inner = store.current().expect("open");
    (dir, store, new, inner)
}

#[tokio::test]
async fn a_half_written_create_is_swept() {
    // What a crash mid-create can leave: the expiry entry and the pointer, but no entry.
    let (_dir, store, new, inner) = one_secret().await;
    inner.entries.remove(new.receipt_id).expect("remove entry");
    let now = super::super::conformance::NOW;
    store.sweep_expired(now + 120).await.expect("sweep");
    assert!(inner.secrets.is_empty());
    assert!(inner.expiry.is_empty());
}

#[tokio::test]
async fn a_receipt_indexed_at_create_as_before_is_swept_once() {
    // Stores written before the receipt was indexed by the sweeper hold both expiry entries.
    let (_dir, store, new, inner) = one_secret().await;
    let key = expiry_key(new.metadata.expires_at, KIND_METADATA, &new.receipt_id);
    inner.expiry.insert(key, &[]).expect("index receipt");
    let now = super::super::conformance::NOW;
    let first = store.sweep_expired(now + 60).await.expect("sweep");
    assert_eq!((first.secrets, first.receipts), (1, 0));
    assert_eq!(inner.entries.len(), 1, "the receipt outlives its secret");
    assert_eq!(inner.expiry.len(), 1, "one expiry entry for the receipt");
    let second = store
        .sweep_expired(new.metadata.expires_at)
        .await
        .expect("sweep");
    assert_eq!((second.secrets, second.receipts), (0, 1));
    assert!(inner.entries.is_empty());
    assert!(inner.secrets.is_empty());
    assert!(inner.expiry.is_empty());
}

/// sled's snapshot files in `dir` (`snap.<log position>`), highest position last.
fn snapshots(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("snap."))
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_checkpoint_moves_the_snapshot_to_the_log_tip_and_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let before = snapshots(dir.path());
    let mut created = Vec::new();
    for _ in 0..50 {
        let new = super::super::conformance::sample(600, false);
        store.create(&new).await.expect("create");
        created.push(new);
    }
    assert!(store.checkpoint().await.expect("checkpoint"));
    let after = snapshots(dir.path());
    assert!(
        after.last() > before.last(),
        "a snapshot past the writes: {before:?} -> {after:?}"
    );
    // The store serves on, from the reopened database, with everything it held.
    let now = super::super::conformance::NOW;
    for new in &created {
        assert!(store
            .secret(&new.secret_id, now)
            .await
            .expect("read")
            .is_some());
    }
    let one_more = super::super::conformance::sample(600, false);
    store.create(&one_more).await.expect("create after");
    assert!(store
        .take_secret(&one_more.secret_id, now)
        .await
        .expect("take"));
}

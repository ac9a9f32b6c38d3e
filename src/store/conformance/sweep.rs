//! Sweeping, for the backends that sweep (Redis expires keys itself): not in
//! [`conformance_suite!`](crate::conformance_suite); sled runs these cases itself.

use super::*;

/// A sweep removes what is due and nothing else.
pub async fn sweep_removes_only_what_is_due(store: Arc<dyn Store>) {
    let short = sample(60, false);
    let long = sample(6000, false);
    let taken = sample(60, false);
    for new in [&short, &long, &taken] {
        store.create(new).await.expect("create");
    }
    assert!(take(&store, &taken, NOW + 1).await);

    let report = store.sweep_expired(NOW + 60).await.expect("sweep");
    assert_eq!(
        report,
        SweepReport {
            secrets: 1,
            receipts: 0
        }
    );
    let report = store.sweep_expired(NOW + 120).await.expect("sweep");
    assert_eq!(
        report,
        SweepReport {
            secrets: 0,
            receipts: 2
        }
    );
    // Past every expiry, the long one's records are swept too; a second sweep finds nothing.
    let report = store.sweep_expired(NOW + 12_000).await.expect("sweep");
    assert_eq!(
        report,
        SweepReport {
            secrets: 1,
            receipts: 1
        }
    );
    let report = store.sweep_expired(NOW + 12_000).await.expect("sweep");
    assert_eq!(report, SweepReport::default());
    // Expiry is enforced at read time anyway, so check the records are really gone by
    // reading at a time before they expired.
    assert_eq!(receipt_of(&store, &long, NOW).await, None);
    assert_eq!(secret_of(&store, &long, NOW).await, None);
}

/// Recent entries are swept once the recent window has passed.
pub async fn recent_entries_are_swept_after_the_window(store: Arc<dyn Store>) {
    let alice = [3u8; 32];
    store
        .create(&with_recent(alice, NOW, 1))
        .await
        .expect("create");
    store
        .sweep_expired(NOW + RECENT_WINDOW - 1)
        .await
        .expect("sweep");
    assert_eq!(store.recent(&alice, 0).await.expect("recent").len(), 1);
    store
        .sweep_expired(NOW + RECENT_WINDOW)
        .await
        .expect("sweep");
    assert!(store.recent(&alice, 0).await.expect("recent").is_empty());
}

/// Expired sessions are swept (backends that sweep).
pub async fn sessions_are_swept_once_expired(store: Arc<dyn Store>) {
    let short = stored_session(&store, 60, 1).await;
    let long = stored_session(&store, 6000, 2).await;
    store.sweep_expired(NOW + 60).await.expect("sweep");
    // Read at a time before expiry: only a removed record can be missing then.
    assert_eq!(store.session(&short, NOW).await.expect("get"), None);
    assert!(store.session(&long, NOW).await.expect("get").is_some());
    store.sweep_expired(NOW + 6000).await.expect("sweep");
    assert_eq!(store.session(&long, NOW).await.expect("get"), None);
}

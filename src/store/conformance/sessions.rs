//! Web sessions.

use super::*;

/// Sessions read back until their time is up, then are gone at once; sign-out removes one
/// and leaves the others.
pub async fn sessions_are_kept_until_they_expire_or_are_removed(store: Arc<dyn Store>) {
    let a = stored_session(&store, 100, 1).await;
    let b = stored_session(&store, 600, 2).await;
    assert_eq!(
        store.session(&a, NOW).await.expect("get"),
        Some(session(NOW, 100, 1))
    );
    assert!(store.session(&a, NOW + 99).await.expect("get").is_some());
    assert_eq!(store.session(&a, NOW + 100).await.expect("get"), None);
    assert_eq!(store.session(&random_id(), NOW).await.expect("get"), None);

    store.remove_session(&b).await.expect("remove");
    assert_eq!(store.session(&b, NOW).await.expect("get"), None);
    assert!(store.session(&a, NOW).await.expect("get").is_some());
    store
        .remove_session(&b)
        .await
        .expect("removing twice is fine");
    store
        .remove_session(&random_id())
        .await
        .expect("removing nothing is fine");
    let exported = store.export(NOW).await.expect("export");
    assert!(exported.is_empty(), "sessions are not exported");
}

/// A taken record is gone for everyone after: of racing takers exactly one gets it, and an
/// expired one is never handed out.
pub async fn a_session_is_taken_once(store: Arc<dyn Store>) {
    let id = stored_session(&store, 100, 1).await;
    let takers = (0..4).map(|_| {
        let store = Arc::clone(&store);
        async move { store.take_session(&id, NOW).await.expect("take") }
    });
    let taken: Vec<_> = futures_util::future::join_all(takers)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(taken, [session(NOW, 100, 1)]);
    assert_eq!(store.session(&id, NOW).await.expect("get"), None);
    let late = stored_session(&store, 100, 2).await;
    assert_eq!(
        store.take_session(&late, NOW + 100).await.expect("take"),
        None
    );
    assert_eq!(store.take_session(&late, NOW).await.expect("take"), None);
}

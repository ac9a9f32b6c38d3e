//! Accounts and recent lists.

use super::*;

/// Accounts are added once under their id, replaced only when present, listed, removed.
pub async fn customers_are_added_once_replaced_and_removed(store: Arc<dyn Store>) {
    assert!(store
        .add_account(&account("b@example.com", 1))
        .await
        .expect("add"));
    assert!(store
        .add_account(&account("a@example.com", 2))
        .await
        .expect("add"));
    assert!(!store
        .add_account(&account("a@example.com", 3))
        .await
        .expect("add"));
    let found = store
        .account(&id("a@example.com"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(found.token_hash, [2; 32], "a failed add must not overwrite");

    let password = with_password(account("a@example.com", 4), 5);
    assert!(store
        .replace_account(&found, &password)
        .await
        .expect("replace"));
    assert!(!store
        .replace_account(&account("c@example.com", 4), &account("c@example.com", 5))
        .await
        .expect("replace"));
    assert_eq!(
        store.account(&id("c@example.com")).await.expect("get"),
        None
    );
    let found = store
        .account(&id("a@example.com"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(found, password, "every field reads back");

    let ids = account_ids(&*store).await;
    let mut expected = [id("a@example.com"), id("b@example.com")];
    expected.sort();
    assert_eq!(ids, expected);
    assert!(store
        .remove_account(&id("a@example.com"))
        .await
        .expect("rm"));
    assert!(!store
        .remove_account(&id("a@example.com"))
        .await
        .expect("rm"));
    assert_eq!(
        store.account(&id("a@example.com")).await.expect("get"),
        None
    );
}

/// A replace succeeds only against the record as it is now: of two changes made from one read,
/// the second is refused, so a rotation and a new password never undo each other.
pub async fn customer_replace_refuses_a_stale_record(store: Arc<dyn Store>) {
    let read = account("race@example.com", 1);
    assert!(store.add_account(&read).await.expect("add"));
    let rotated = account("race@example.com", 2);
    let passworded = with_password(read.clone(), 3);
    assert!(store
        .replace_account(&read, &rotated)
        .await
        .expect("replace"));
    assert!(!store
        .replace_account(&read, &passworded)
        .await
        .expect("replace"));
    let found = store.account(&id("race@example.com")).await.expect("get");
    assert_eq!(found, Some(rotated.clone()), "the rotation stands");
    // Concurrent replaces from one read: exactly one wins.
    let tasks: Vec<_> = (10..26u8)
        .map(|i| {
            let store = Arc::clone(&store);
            let (old, new) = (rotated.clone(), account("race@example.com", i));
            tokio::spawn(async move { store.replace_account(&old, &new).await })
        })
        .collect();
    let mut winners = 0;
    for task in tasks {
        winners += usize::from(task.await.expect("join").expect("replace"));
    }
    assert_eq!(winners, 1);
    assert!(!store
        .replace_account(&rotated, &account("other@example.com", 1))
        .await
        .expect("replace"));
}

/// A account's recent list comes back newest first, within the window, only theirs; entries
/// of both shapes read back as written.
pub async fn recent_lists_are_per_customer_newest_first(store: Arc<dyn Store>) {
    let alice = [1u8; 32];
    let bob = [2u8; 32];
    for (who, created, tag) in [(alice, NOW, 10), (alice, NOW + 5, 11), (bob, NOW + 1, 20)] {
        store
            .create(&with_recent(who, created, tag))
            .await
            .expect("create");
    }
    let list = store.recent(&alice, NOW).await.expect("recent");
    assert_eq!(list, vec![recent_seal(11), recent_seal(10)]);
    let list = store.recent(&alice, NOW + 1).await.expect("recent");
    assert_eq!(list, vec![recent_seal(11)]);
    assert_eq!(
        store.recent(&bob, 0).await.expect("recent"),
        vec![recent_seal(20)]
    );

    store.clear_recent(&alice).await.expect("clear");
    assert!(store.recent(&alice, 0).await.expect("recent").is_empty());
    assert_eq!(store.recent(&bob, 0).await.expect("recent").len(), 1);
    store.remove_account(&bob).await.expect("rm");
    assert!(store.recent(&bob, 0).await.expect("recent").is_empty());
}

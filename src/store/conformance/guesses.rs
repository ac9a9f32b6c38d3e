//! Wrong-passphrase counters (part of [`Secrets`](crate::store::Secrets)): budgets, locks,
//! races, and their going with the secret.

use super::*;

/// Guesses are granted up to the budget per address and in all; the next one is refused and
/// locks the secret for the lockout time.
pub async fn passphrase_guesses_are_budgeted_then_locked(store: Arc<dyn Store>) {
    let new = sample(6000, false);
    let id = new.secret_id;
    store.create(&new).await.expect("create");
    let ip = [7u8; 8];
    let wrong = |now| {
        let store = Arc::clone(&store);
        async move {
            store
                .record_passphrase_failure(&id, attempt(ip, now))
                .await
                .expect("wrong")
        }
    };
    for step in 0..2 {
        assert_eq!(reserve(&store, &id, ip, NOW + step).await, Guess::Granted);
        assert!(!wrong(NOW + step).await, "budget left after guess {step}");
    }
    assert!(!store.passphrase_locked(&id, NOW + 1).await.expect("locked"));
    assert_eq!(reserve(&store, &id, ip, NOW + 2).await, Guess::Granted);
    // The third wrong guess used up this address's budget: locked at once, for everyone.
    assert!(wrong(NOW + 3).await);
    assert!(store.passphrase_locked(&id, NOW + 3).await.expect("locked"));
    // Locked for everyone, not just the address that used its budget.
    assert_eq!(
        reserve(&store, &id, [8; 8], NOW + 4).await,
        Guess::Locked { newly: false }
    );
    assert!(store
        .passphrase_locked(&id, NOW + 1802)
        .await
        .expect("locked"));
    assert!(!store
        .passphrase_locked(&id, NOW + 1803)
        .await
        .expect("locked"));
    // A lock's end starts a new window with a fresh budget.
    assert_eq!(reserve(&store, &id, ip, NOW + 1803).await, Guess::Granted);
    assert!(!wrong(NOW + 1803).await);

    // Without the wrong guesses reported (their clients went away), the next reservation
    // past the budget is refused and locks.
    let abandoned = sample(6000, false);
    store.create(&abandoned).await.expect("create");
    for _ in 0..3 {
        let guess = reserve(&store, &abandoned.secret_id, ip, NOW).await;
        assert_eq!(guess, Guess::Granted);
    }
    assert_eq!(
        reserve(&store, &abandoned.secret_id, ip, NOW).await,
        Guess::Locked { newly: true }
    );

    // Five addresses, one guess each: the total budget is used up.
    let spread = sample(6000, false);
    store.create(&spread).await.expect("create");
    for i in 0..5u8 {
        assert_eq!(
            reserve(&store, &spread.secret_id, [i; 8], NOW).await,
            Guess::Granted
        );
    }
    assert_eq!(
        reserve(&store, &spread.secret_id, [9; 8], NOW).await,
        Guess::Locked { newly: true }
    );

    // Guesses older than the window do not count.
    let slow = sample(6000, false);
    store.create(&slow).await.expect("create");
    for step in 0..6u64 {
        let guess = reserve(&store, &slow.secret_id, ip, NOW + step * 601).await;
        assert_eq!(guess, Guess::Granted, "step {step}");
    }
}

/// A burst of concurrent reservations from one address is granted exactly the budget.
pub async fn concurrent_guesses_never_exceed_the_budget(store: Arc<dyn Store>) {
    let new = sample(6000, false);
    store.create(&new).await.expect("create");
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = Arc::clone(&store);
            let id = new.secret_id;
            tokio::spawn(async move { reserve(&store, &id, [3; 8], NOW).await })
        })
        .collect();
    let mut granted = 0;
    for task in tasks {
        if task.await.expect("join") == Guess::Granted {
            granted += 1;
        }
    }
    assert_eq!(granted, RULES.per_ip);
    assert!(store
        .passphrase_locked(&new.secret_id, NOW)
        .await
        .expect("locked"));
}

/// Counters go with their secret, none are kept for secrets that do not exist, and neither a
/// take nor a burn succeeds while the secret is locked.
pub async fn passphrase_counters_go_with_the_secret(store: Arc<dyn Store>) {
    let new = sample(6000, false);
    store.create(&new).await.expect("create");
    for _ in 0..4 {
        reserve(&store, &new.secret_id, [1; 8], NOW).await;
    }
    assert!(store
        .passphrase_locked(&new.secret_id, NOW)
        .await
        .expect("locked"));
    assert!(!take(&store, &new, NOW).await);
    assert!(burn(&store, &new, NOW, false).await.is_none());
    // Its creator (an account) may burn it despite the lock.
    let owned = sample(6000, false);
    store.create(&owned).await.expect("create");
    for _ in 0..4 {
        reserve(&store, &owned.secret_id, [1; 8], NOW).await;
    }
    assert!(burn(&store, &owned, NOW, false).await.is_none());
    assert!(burn(&store, &owned, NOW, true).await.is_some());
    // Once the lock is over, the take works and the counters go with the secret.
    assert!(take(&store, &new, NOW + 1801).await);
    assert!(!store
        .passphrase_locked(&new.secret_id, NOW)
        .await
        .expect("locked"));
    assert_eq!(
        reserve(&store, &new.secret_id, [1; 8], NOW + 1802).await,
        Guess::Gone
    );
    let ghost = random_id();
    for _ in 0..5 {
        assert_eq!(reserve(&store, &ghost, [1; 8], NOW).await, Guess::Gone);
    }
    assert!(!store.passphrase_locked(&ghost, NOW).await.expect("locked"));
}

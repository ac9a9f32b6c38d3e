//! Secrets and receipts: created, taken once, burned once, gone at expiry.

use super::*;

/// Created records read back as written.
pub async fn created_records_read_back(store: Arc<dyn Store>) {
    let new = sample(600, false);
    store.create(&new).await.expect("create");
    let secret = secret_of(&store, &new, NOW).await;
    assert_eq!(secret, Some(new.secret.clone()));
    let metadata = receipt_of(&store, &new, NOW).await;
    assert_eq!(metadata, Some(new.metadata.clone()));
    assert_eq!(store.secret(&random_id(), NOW).await.expect("read"), None);
    assert_eq!(store.receipt(&random_id(), NOW).await.expect("read"), None);
}

/// A fresh secret (600 s) in `store`, and the results of 32 concurrent calls of `call` on its
/// secret id, each with its own handle on `store`.
async fn race_on_a_secret<T, F>(
    store: &Arc<dyn Store>,
    call: impl Fn(Arc<dyn Store>, RecordId) -> F,
) -> (NewSecret, Vec<T>)
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let new = sample(600, false);
    store.create(&new).await.expect("create");
    let racers: Vec<_> = (0..32)
        .map(|_| tokio::spawn(call(Arc::clone(store), new.secret_id)))
        .collect();
    let mut results = Vec::with_capacity(racers.len());
    for racer in racers {
        results.push(racer.await.expect("join"));
    }
    (new, results)
}

/// A secret is taken at most once, even by many concurrent callers.
pub async fn secret_is_taken_exactly_once_under_races(store: Arc<dyn Store>) {
    let (new, won) = race_on_a_secret(&store, |store, id| async move {
        store.take_secret(&id, NOW + 1).await.expect("take")
    })
    .await;
    assert_eq!(won.into_iter().filter(|w| *w).count(), 1);
    assert_eq!(secret_of(&store, &new, NOW + 1).await, None);
    assert_received(&store, &new, NOW + 1).await;
}

/// The receipt of `new` says its secret was revealed `at`.
async fn assert_received(store: &Arc<dyn Store>, new: &NewSecret, at: u64) {
    let receipt = receipt_of(store, new, at)
        .await
        .expect("receipt outlives the secret");
    assert_eq!(receipt.state, StoredState::Received);
    assert_eq!(receipt.received, Some(at));
    assert_eq!(receipt.updated, at);
}

/// An expired secret is unknown at once and cannot be taken, swept or not.
pub async fn expired_secret_is_gone_before_any_sweep(store: Arc<dyn Store>) {
    let new = sample(60, false);
    store.create(&new).await.expect("create");
    assert!(secret_of(&store, &new, NOW + 59).await.is_some());
    assert_eq!(secret_of(&store, &new, NOW + 60).await, None);
    assert!(!take(&store, &new, NOW + 60).await);
    assert!(burn(&store, &new, NOW + 60, false).await.is_none());
    // The receipt lives twice as long.
    let receipt = receipt_of(&store, &new, NOW + 60).await;
    assert_eq!(receipt.map(|r| r.state), Some(StoredState::New));
    assert_eq!(receipt_of(&store, &new, NOW + 120).await, None);
}

/// Burn destroys an unread secret once; a burned secret cannot be taken, a taken one not burned.
pub async fn burn_destroys_an_unread_secret_once(store: Arc<dyn Store>) {
    let new = sample(600, false);
    store.create(&new).await.expect("create");
    let burned = burn(&store, &new, NOW + 5, false).await.expect("burnable");
    assert_eq!(burned.state, StoredState::Burned);
    assert_eq!(burned.updated, NOW + 5);
    assert!(burn(&store, &new, NOW + 6, false).await.is_none());
    assert!(!take(&store, &new, NOW + 6).await);
    assert_eq!(secret_of(&store, &new, NOW + 6).await, None);

    let read = sample(600, false);
    store.create(&read).await.expect("create");
    assert!(take(&store, &read, NOW + 1).await);
    assert!(burn(&store, &read, NOW + 2, false).await.is_none());
    let receipt = receipt_of(&store, &read, NOW + 2).await;
    assert_eq!(receipt.map(|r| r.state), Some(StoredState::Received));
}

/// Of concurrent burns and takes of one secret, exactly one wins.
pub async fn burn_and_take_race_has_one_winner(store: Arc<dyn Store>) {
    let new = sample(600, false);
    store.create(&new).await.expect("create");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let store = Arc::clone(&store);
        let (sid, mid) = (new.secret_id, new.receipt_id);
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                store.take_secret(&sid, NOW + 1).await.expect("take")
            } else {
                store
                    .burn(&mid, NOW + 1, false)
                    .await
                    .expect("burn")
                    .is_some()
            }
        }));
    }
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.expect("join"));
    }
    assert_eq!(winners, 1);
}

/// A receipt's payload can be replaced (a new private note); nothing else changes, and a
/// missing receipt is reported.
pub async fn receipt_reseal_changes_only_its_payload(store: Arc<dyn Store>) {
    let new = sample(600, true);
    store.create(&new).await.expect("create");
    let fresh = sealed(9);
    assert!(store
        .reseal_receipt(&new.receipt_id, &fresh)
        .await
        .expect("reseal"));
    let read = receipt_of(&store, &new, NOW).await.expect("there");
    assert_eq!(read.sealed, fresh);
    assert_eq!(
        ReceiptRecord {
            sealed: new.metadata.sealed.clone(),
            ..read
        },
        new.metadata,
        "only the payload changed"
    );
    assert!(secret_of(&store, &new, NOW).await.is_some());
    assert!(!store
        .reseal_receipt(&random_id(), &fresh)
        .await
        .expect("reseal"));
}

/// The generated value on a receipt is handed out once.
pub async fn generated_value_is_taken_once(store: Arc<dyn Store>) {
    let new = sample(600, true);
    store.create(&new).await.expect("create");
    assert!(store.take_generated(&new.receipt_id).await.expect("take"));
    assert!(!store.take_generated(&new.receipt_id).await.expect("take"));
    let receipt = receipt_of(&store, &new, NOW).await;
    assert_eq!(receipt.and_then(|r| r.generated), None);
    let plain = sample(600, false);
    store.create(&plain).await.expect("create");
    assert!(!store.take_generated(&plain.receipt_id).await.expect("take"));
}

/// A plain secret is taken in the step that reads it: of racing callers one gets the record,
/// the receipt says received, and a burn finds nothing left.
pub async fn plain_take_hands_the_secret_to_one_caller(store: Arc<dyn Store>) {
    let (new, outcomes) = race_on_a_secret(&store, |store, id| async move {
        store.take_plain(&id, NOW + 1).await.expect("take")
    })
    .await;
    let mut taken = Vec::new();
    for outcome in outcomes {
        match outcome {
            PlainTake::Taken(record) => taken.push(record),
            PlainTake::Gone => {}
            PlainTake::Protected(_) => panic!("a plain secret came back as protected"),
        }
    }
    assert_eq!(taken, vec![new.secret.clone()]);
    assert_received(&store, &new, NOW + 1).await;
    assert!(burn(&store, &new, NOW + 2, true).await.is_none());

    let expired = sample(60, false);
    store.create(&expired).await.expect("create");
    assert_eq!(
        store
            .take_plain(&expired.secret_id, NOW + 60)
            .await
            .expect("take"),
        PlainTake::Gone
    );
    assert_eq!(
        store.take_plain(&random_id(), NOW).await.expect("take"),
        PlainTake::Gone
    );
}

/// A secret with a passphrase comes back from a plain take untaken, for its passphrase to be
/// checked; only `take_secret` then takes it, and a lock still holds it.
pub async fn plain_take_leaves_a_protected_secret(store: Arc<dyn Store>) {
    let mut new = sample(6000, false);
    new.secret.kdf = Some(KdfParams {
        log_n: 10,
        r: 8,
        p: 1,
        salt: [9; 16],
    });
    new.metadata.passphrase_required = true;
    store.create(&new).await.expect("create");
    let id = new.secret_id;
    for _ in 0..2 {
        assert_eq!(
            store.take_plain(&id, NOW + 1).await.expect("take"),
            PlainTake::Protected(new.secret.clone())
        );
    }
    let receipt = receipt_of(&store, &new, NOW + 1).await;
    assert_eq!(receipt.map(|r| r.state), Some(StoredState::New));
    // Wrong guesses lock it: a plain take still hands it back untaken, a take refuses.
    let ip = [3u8; 8];
    for step in 0..3 {
        assert_eq!(reserve(&store, &id, ip, NOW + step).await, Guess::Granted);
        store
            .record_passphrase_failure(&id, attempt(ip, NOW + step))
            .await
            .expect("wrong");
    }
    assert!(store.passphrase_locked(&id, NOW + 3).await.expect("locked"));
    assert!(matches!(
        store.take_plain(&id, NOW + 3).await.expect("take"),
        PlainTake::Protected(_)
    ));
    assert!(!store.take_secret(&id, NOW + 3).await.expect("take"));
    // Once the lock has passed, the passphrase's take succeeds, once.
    assert!(store.take_secret(&id, NOW + 3600).await.expect("take"));
    assert!(!store.take_secret(&id, NOW + 3601).await.expect("take"));
    assert_eq!(
        store.take_plain(&id, NOW + 3601).await.expect("take"),
        PlainTake::Gone
    );
}

/// A preview marks a waiting receipt once and leaves the secret in place; racing a take, it
/// never brings the secret back or un-reveals the receipt; a burned receipt stays burned.
pub async fn preview_marks_a_waiting_receipt_once_and_never_unreveals(store: Arc<dyn Store>) {
    // Arrange
    let new = sample(600, false);
    store.create(&new).await.expect("create");

    // Act: the first preview marks, the next ones keep its time.
    let first = store.mark_previewed(&new.receipt_id, NOW + 1).await;
    let again = store.mark_previewed(&new.receipt_id, NOW + 2).await;

    // Assert
    assert_eq!(first.expect("preview"), Some(NOW + 1));
    assert_eq!(again.expect("preview"), Some(NOW + 1));
    let receipt = store.receipt(&new.receipt_id, NOW + 2).await.expect("read");
    let receipt = receipt.expect("receipt");
    assert_eq!(
        (receipt.state, receipt.previewed()),
        (StoredState::New, Some(NOW + 1))
    );
    assert!(store
        .secret(&new.secret_id, NOW + 2)
        .await
        .expect("read")
        .is_some());

    // Previews racing reveals of a fresh secret, half each: one reveal wins, and the receipt
    // reads revealed.
    let turn = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (raced, results) = race_on_a_secret(&store, |store, id| {
        let previews = turn
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(2);
        async move {
            if !previews {
                return store.take_secret(&id, NOW + 3).await.expect("take");
            }
            if let Some(secret) = store.secret(&id, NOW + 3).await.expect("read") {
                let marked = store.mark_previewed(&secret.receipt_id, NOW + 3).await;
                marked.expect("preview");
            }
            false
        }
    })
    .await;
    assert_eq!(results.iter().filter(|t| **t).count(), 1);
    assert_received(&store, &raced, NOW + 3).await;
    let after = store.mark_previewed(&raced.receipt_id, NOW + 4).await;
    assert_eq!(after.expect("preview"), None);
    assert_received(&store, &raced, NOW + 3).await;

    // A burned receipt is not previewed, and a previewed one still burns.
    let burned = sample(600, false);
    store.create(&burned).await.expect("create");
    store
        .mark_previewed(&burned.receipt_id, NOW + 1)
        .await
        .expect("preview");
    let done = store.burn(&burned.receipt_id, NOW + 2, false).await;
    assert_eq!(
        done.expect("burn").map(|r| r.state),
        Some(StoredState::Burned)
    );
    assert_eq!(
        store
            .mark_previewed(&burned.receipt_id, NOW + 3)
            .await
            .expect("preview"),
        None
    );
    let read = store
        .receipt(&burned.receipt_id, NOW + 3)
        .await
        .expect("read");
    assert_eq!(read.map(|r| r.state), Some(StoredState::Burned));
}

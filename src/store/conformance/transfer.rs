//! Export and import between stores.

use super::*;

/// What one store exports, another imports: live records only, expiry and state intact.
pub async fn export_then_import_moves_every_live_record(store: Arc<dyn Store>) {
    let live = with_recent([5; 32], NOW, 40);
    let taken = sample(600, false);
    let gone = sample(60, false);
    for new in [&live, &taken, &gone] {
        store.create(new).await.expect("create");
    }
    assert!(store
        .take_secret(&taken.secret_id, NOW)
        .await
        .expect("take"));
    store
        .add_account(&account("mover@example.com", 6))
        .await
        .expect("add");
    let exported = store.export(NOW + 200).await.expect("export");
    let secrets = exported
        .iter()
        .filter(|r| matches!(r, Exported::Secret { .. }))
        .count();
    assert_eq!(secrets, 2, "the receipt of `gone` expired at NOW + 120");

    // Re-import into the same store after the records are "lost": delete by burning/expiry is
    // not available, so import on top and check the copies read back identically.
    for record in &exported {
        store.import(record).await.expect("import");
    }
    let secret = store
        .secret(&live.secret_id, NOW + 200)
        .await
        .expect("read");
    assert_eq!(secret, Some(live.secret.clone()));
    let receipt = store
        .receipt(&taken.receipt_id, NOW + 200)
        .await
        .expect("read");
    assert_eq!(receipt.map(|r| r.state), Some(StoredState::Received));
    assert!(store
        .account(&id("mover@example.com"))
        .await
        .expect("get")
        .is_some());
    assert!(!store
        .recent(&[5; 32], NOW)
        .await
        .expect("recent")
        .is_empty());
    assert!(store
        .take_secret(&live.secret_id, NOW + 201)
        .await
        .expect("take"));
    assert!(!store
        .take_secret(&live.secret_id, NOW + 202)
        .await
        .expect("take"));
}

/// Guess counters travel with their secret through export and import (`onetime migrate`).
pub async fn guess_counters_travel_with_export(store: Arc<dyn Store>) {
    let new = sample(6000, false);
    store.create(&new).await.expect("create");
    for _ in 0..2 {
        reserve(&store, &new.secret_id, [4; 8], NOW).await;
    }
    let exported = store.export(NOW).await.expect("export");
    let guesses = exported.iter().find_map(|r| match r {
        Exported::Secret {
            receipt_id,
            guesses,
            ..
        } if *receipt_id == new.receipt_id => Some(guesses.clone()),
        _ => None,
    });
    let expected = Guesses {
        window_start: NOW,
        total: 2,
        per_ip: vec![([4; 8], 2)],
        locked_until: 0,
    };
    assert_eq!(guesses, Some(Some(expected)));
    for record in &exported {
        store.import(record).await.expect("import");
    }
    assert_eq!(
        reserve(&store, &new.secret_id, [4; 8], NOW + 1).await,
        Guess::Granted
    );
    assert_eq!(
        reserve(&store, &new.secret_id, [4; 8], NOW + 2).await,
        Guess::Locked { newly: true }
    );
}

//! `storage.redis_replicas_ack` against a real primary with one replica: every state change
//! answers once the replica has it, and none is acknowledged (nor a value handed out) while
//! the replica is gone.

use crate::store::Result;
use std::time::Duration;

use onetime_test_support::RedisServer;

use super::{RedisStore, RedisTls, ReplicasAck};
use crate::store::{
    conformance, GuessAttempt, GuessRules, Secrets, SessionRecord, Sessions, StoreError, Upkeep,
};

/// A guess from one fixed client at `now` under `rules`.
fn attempt(now: u64, rules: GuessRules) -> GuessAttempt {
    GuessAttempt {
        ip_tag: [1; 8],
        now,
        rules,
    }
}

fn unreplicated<T>(result: &Result<T>) -> bool {
    matches!(result, Err(StoreError::NotReplicated { wanted: 1, .. }))
}

#[tokio::test]
async fn with_one_replica_ack_every_state_change_waits_for_the_replica() {
    let primary = RedisServer::start();
    let replica = RedisServer::start_replica_of(primary.port);
    // Generous: on a loaded machine a healthy replica's confirmation can take a few hundred
    // milliseconds, and each refusal below costs half of it.
    let timeout = Duration::from_millis(2000);
    let store = RedisStore::open(
        &format!("redis://127.0.0.1:{}", primary.port),
        "ack:",
        timeout,
        &RedisTls::default(),
    )
    .await
    .expect("open")
    .with_replicas_ack(ReplicasAck::new(1, timeout));
    // Until the replica is in sync (and, seen with Redis 7.0, for about a second after its
    // first sync) nothing is acknowledged; then everything is.
    let mut ready = false;
    for _ in 0..100 {
        if store.create(&conformance::sample(600, false)).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "the replica never confirmed");
    let now = crate::domain::unix_now();
    let rules = GuessRules {
        per_ip: 3,
        total: 10,
        window: 600,
        lockout: 600,
    };
    let session = SessionRecord {
        created: now,
        expires_at: now + 600,
        sealed: crate::crypto::Sealed {
            nonce: [1; 24],
            ciphertext: vec![2; 20],
        },
    };
    let kept = conformance::sample(600, false);
    let taken = conformance::sample(600, false);
    let burned = conformance::sample(600, false);
    let burned_late = conformance::sample(600, false);
    for new in [&kept, &taken, &burned, &burned_late] {
        store.create(new).await.expect("create");
    }
    let guess = store
        .reserve_guess(&kept.secret_id, attempt(now, rules))
        .await;
    assert!(guess.is_ok(), "{guess:?}");
    let spent = store.record_passphrase_failure(&kept.secret_id, attempt(now, rules));
    assert!(spent.await.is_ok());
    assert!(store
        .take_secret(&taken.secret_id, now)
        .await
        .expect("take"));
    assert!(store
        .burn(&burned.receipt_id, now, false)
        .await
        .expect("burn")
        .is_some());
    store
        .put_session(&[7; 32], &session)
        .await
        .expect("session");
    store.remove_session(&[7; 32]).await.expect("sign out");

    drop(replica);
    let late = conformance::sample(600, false);

    let mut raw = redis::Client::open(format!("redis://127.0.0.1:{}", primary.port))
        .and_then(|c| c.get_connection())
        .expect("a plain connection to the primary");
    let keys =
        |raw: &mut redis::Connection| -> i64 { redis::cmd("DBSIZE").query(raw).expect("DBSIZE") };
    let before = keys(&mut raw);
    assert!(unreplicated(&store.create(&late).await));
    assert_eq!(
        keys(&mut raw),
        before,
        "an unconfirmed create is deleted again"
    );
    // Nor does the store call anything absent while no replica confirms.
    assert!(unreplicated(&store.secret(&late.secret_id, now).await));
    assert!(unreplicated(&store.receipt(&late.receipt_id, now).await));
    assert!(unreplicated(
        &store
            .reserve_guess(&kept.secret_id, attempt(now, rules))
            .await
    ));
    assert!(unreplicated(
        &store
            .record_passphrase_failure(&kept.secret_id, attempt(now, rules))
            .await
    ));
    assert!(unreplicated(&store.take_secret(&kept.secret_id, now).await));
    assert!(unreplicated(
        &store.burn(&burned_late.receipt_id, now, false).await
    ));
    assert!(unreplicated(&store.put_session(&[8; 32], &session).await));
    assert!(unreplicated(&store.remove_session(&[8; 32]).await));
    assert!(unreplicated(&store.ping().await));
}

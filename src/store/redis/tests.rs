//! Redis's own cases beside the shared conformance suite: the schema upgrade, TTLs, a dead
//! Redis.

use std::ops::RangeInclusive;

use super::*;
use crate::store::record::encode;
use crate::store::upgrade::UpgradeKeys;
use crate::store::{
    Outbox, OutboxRecord, Secrets, SessionRecord, Sessions, Upkeep, SCHEMA_VERSION,
};

async fn open() -> RedisStore {
    RedisStore::open(
        &test_server::url(),
        &test_server::prefix(),
        Duration::from_secs(2),
        &RedisTls::default(),
    )
    .await
    .expect("redis store")
}

crate::conformance_suite!(|_dir: std::path::PathBuf| open());

/// Asserts that Redis drops `key` on its own, in a number of seconds `within`; `what` the key
/// holds, for the message.
async fn assert_expires(store: &RedisStore, key: String, within: RangeInclusive<i64>, what: &str) {
    let ttl: i64 = store.conn.clone().ttl(key).await.expect("ttl");
    assert!(
        within.contains(&ttl),
        "{what} expires in {ttl} s, not in {within:?}"
    );
}

#[tokio::test]
async fn a_schema_1_redis_is_upgraded_and_keeps_its_accounts_and_mail() {
    // Keys and bytes exactly as schema 1 wrote them: `Pc:<email>` accounts in both shapes,
    // the outbox hash and due set under random ids, no schema version.
    use super::super::upgrade::{self, PlainKeys};
    let store = open().await;
    let fresh = open().await;
    assert_eq!(fresh.schema().await.expect("schema"), SCHEMA_VERSION);
    let sealed = crate::crypto::Sealed {
        nonce: [4; 24],
        ciphertext: vec![5; 40],
    };
    let now = crate::domain::unix_now();
    let mut unread = super::super::conformance::sample(600, false);
    unread.secret.expires_at = now + 600;
    unread.metadata.secret_expires_at = now + 600;
    unread.metadata.expires_at = now + 1200;
    let mail = OutboxRecord {
        receipt_id: unread.receipt_id,
        created: now,
        attempts: 2,
        next_attempt: now,
        sealed: sealed.clone(),
    };
    store.create(&unread).await.expect("create");
    let orphan = OutboxRecord {
        receipt_id: [8; 32],
        ..mail.clone()
    };
    let mut conn = store.conn.clone();
    let (due, items) = store.legacy_outbox_keys();
    for (email, bytes) in upgrade::schema_1_accounts() {
        let () = conn
            .set(format!("{}c:{email}", store.prefix), bytes)
            .await
            .expect("set");
    }
    for (old_id, m) in [([1u8; 32], &mail), ([2; 32], &orphan)] {
        let () = redis::pipe()
            .hset(&items, old_id.as_slice(), encode(m).expect("encode"))
            .zadd(&due, old_id.as_slice(), now)
            .query_async(&mut conn)
            .await
            .expect("queue");
    }
    assert_eq!(store.schema().await.expect("schema"), 1);

    upgrade::upgrade_twice_and_check_accounts(&store).await;
    let left = store
        .scan(&format!("{}c:*", store.prefix))
        .await
        .expect("scan");
    assert!(left.is_empty(), "no key names an email: {left:?}");
    let legacy: (bool, bool) = redis::pipe()
        .exists(&items)
        .exists(&due)
        .query_async(&mut conn)
        .await
        .expect("exists");
    assert_eq!(legacy, (false, false));
    let mut rekeyed = mail.clone();
    rekeyed.sealed = PlainKeys
        .reseal_mail(&[1; 32], &unread.receipt_id, &sealed)
        .expect("reseal");
    let due_now = store.due_mail(now, 10).await.expect("due");
    assert_eq!(
        due_now,
        vec![rekeyed],
        "the orphan's receipt is gone: it went"
    );
    let mail = store.entry_key(&unread.receipt_id, "o");
    assert_expires(&store, mail, 1..=600, "the mail (with its secret)").await;
}

#[tokio::test]
async fn sessions_carry_a_redis_ttl() {
    let store = open().await;
    let id = [3u8; 32];
    let expires_at = crate::domain::unix_now() + 1000;
    let session = SessionRecord {
        created: expires_at - 1000,
        expires_at,
        sealed: crate::crypto::Sealed {
            nonce: [1; 24],
            ciphertext: vec![2; 20],
        },
    };
    store.put_session(&id, &session).await.expect("put");
    assert_expires(&store, store.session_key(&id), 900..=1000, "a session").await;
}

#[tokio::test]
async fn a_dead_redis_answers_quickly_with_an_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let started = std::time::Instant::now();
    let result = RedisStore::open(
        &format!("redis://127.0.0.1:{port}"),
        "x:",
        Duration::from_millis(500),
        &RedisTls::default(),
    )
    .await;
    assert!(result.is_err());
    assert!(started.elapsed() < Duration::from_secs(10));
}

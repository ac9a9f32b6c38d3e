//! The real binary on a store the previous version wrote (schema 1: accounts under their plain
//! email): it upgrades on start, the accounts keep working, and their emails leave the keys.

use redis::Commands;

use crate::helpers::{basic, cli, serve, Answer, Process, RedisServer};
use crate::redis::{node_env, SECRET};

const EMAIL: &str = "veteran@example.com";
const TOKEN: &str = "k3token0of0the0previous0version0aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// An account exactly as schema 1 stored it: `(email, plan, created, token HMAC,
/// token_created)`, postcard.
fn schema_1_account() -> Vec<u8> {
    let key = onetime::crypto::ServerKey::from_hex(SECRET).expect("key");
    let sealer = onetime::crypto::Sealer::new(key);
    let token_hash = sealer.record_id(onetime::crypto::RecordKind::Token, TOKEN);
    let record = (
        EMAIL,
        "default",
        1_700_000_000u64,
        token_hash,
        1_700_000_000u64,
    );
    postcard::to_allocvec(&record).expect("encode")
}

/// The account authenticates with its old token, and `account list` shows it.
async fn the_account_still_works(server: &Process, data: &std::path::Path) {
    assert_eq!(
        Answer::of(
            reqwest::Client::new()
                .get(format!("{}/api/v1/authcheck", server.base))
                .header("authorization", basic(EMAIL, TOKEN))
        )
        .await
        .ok()["status"],
        "nominal"
    );
    let out = cli(data, &["account", "list"]).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(EMAIL), "{listed}");
}

#[tokio::test]
async fn a_sled_store_of_schema_1_is_upgraded_at_start_and_its_accounts_keep_working() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    {
        let db = sled::open(&data).expect("sled");
        let customers = db.open_tree("customers").expect("tree");
        customers.insert(EMAIL, schema_1_account()).expect("insert");
        let meta = db.open_tree("meta").expect("tree");
        meta.insert("schema_version", &1u32.to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }

    let server = Process::start(&data, &[("server.secret", SECRET)]);
    the_account_still_works(&server, &data).await;
    let logs = server.kill9();

    assert!(logs.contains("upgrading the store"), "{logs}");
    let db = sled::open(&data).expect("sled");
    let version = db
        .open_tree("meta")
        .expect("tree")
        .get("schema_version")
        .expect("get")
        .expect("present");
    assert_eq!(version.as_ref(), 2u32.to_be_bytes());
    assert!(!db.tree_names().iter().any(|n| n == b"customers".as_slice()));
    let accounts = db.open_tree("accounts").expect("tree");
    assert_eq!(accounts.len(), 1);
    let (key, value) = accounts.iter().next().expect("one").expect("read");
    assert_eq!(key.len(), 32, "keyed by the HMAC of the email");
    let found = value.windows(EMAIL.len()).any(|w| w == EMAIL.as_bytes());
    assert!(!found, "the email is sealed");
}

#[tokio::test]
async fn a_redis_of_schema_1_is_upgraded_at_start_and_its_accounts_keep_working() {
    let redis = RedisServer::start();
    let url = redis.url();
    let mut conn = redis::Client::open(url.as_str())
        .expect("client")
        .get_connection()
        .expect("connect");
    let () = conn
        .set(format!("up:c:{EMAIL}"), schema_1_account())
        .expect("set");

    let (_dir, data, server) = serve(&node_env(&url, "up:", &[]));
    the_account_still_works(&server, &data).await;
    drop(server.kill9());

    let keys: Vec<String> = conn
        .scan_match("up:*")
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("scan");
    assert!(!keys.iter().any(|k| k.contains(EMAIL)), "{keys:?}");
    assert_eq!(keys.iter().filter(|k| k.starts_with("up:a:")).count(), 1);
    let version: u32 = conn.get("up:schema").expect("get");
    assert_eq!(version, 2);
}

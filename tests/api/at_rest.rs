//! What a copy of the data directory (or of Redis) holds while a mail waits in the outbox, and
//! that no account email is readable from it without the server key. The real binary, killed
//! with `kill -9` so nothing is tidied up on the way out.

use std::path::Path;
use std::time::Duration;

use redis::Commands;

use crate::helpers::{
    add_account, basic, cli, contains, read_tree, reveal_on, serve, test_settings, Answer, Process,
};
use crate::helpers::{RedisCluster, RedisServer};
use crate::mail::free_port;
use crate::redis::node_env;

/// Mail on, to an SMTP port nobody listens on: every mail stays queued.
fn dead_smtp_env(port: u16) -> Vec<(&'static str, String)> {
    vec![
        (
            "ONETIME__MAIL__SMTP_URL",
            format!("smtp://127.0.0.1:{port}"),
        ),
        ("ONETIME__MAIL__RETRY_INITIAL", "1".into()),
    ]
}

/// A secret shared by `auth` to `to`: (value, secret key, metadata key).
async fn share_to(base: &str, auth: &str, value: &str, to: &str) -> (String, String) {
    let body = Answer::of(
        reqwest::Client::new()
            .post(format!("{base}/api/v1/share"))
            .header("authorization", auth)
            .form(&[("secret", value), ("recipient", to)]),
    )
    .await
    .ok();
    assert_eq!(body["delivery"]["state"], "queued");
    (
        body["secret_key"].as_str().expect("key").to_owned(),
        body["metadata_key"].as_str().expect("mkey").to_owned(),
    )
}

/// The receipt of `mkey` as JSON.
async fn receipt(base: &str, mkey: &str) -> serde_json::Value {
    Answer::of(reqwest::Client::new().get(format!("{base}/api/v1/private/{mkey}")))
        .await
        .ok()
}

/// The metadata keys whose mail is in the outbox of the (stopped) store under `dir/data`.
async fn queued(dir: &Path, mkeys: &[&str]) -> Vec<String> {
    let settings = test_settings(dir, &[]);
    let (store, sealer) = onetime::app::open_offline(&settings)
        .await
        .expect("open the store");
    let exported = store
        .export(onetime::domain::unix_now())
        .await
        .expect("export");
    mkeys
        .iter()
        .filter(|mkey| {
            let id = sealer.record_id(onetime::crypto::RecordKind::Receipt, mkey);
            exported
                .iter()
                .any(|r| matches!(r, onetime::store::Exported::Mail(m) if m.receipt_id == id))
        })
        .map(|mkey| (*mkey).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_mail_leaves_the_data_directory_once_its_secret_is_revealed_or_burned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let env = dead_smtp_env(free_port());
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Process::start(&data, &pairs);
    let token = add_account(&data, "sender@example.com", None).await;
    let auth = basic("sender@example.com", &token);
    let mut shared = Vec::new();
    for (value, to) in [
        ("at-rest-revealed-7f3a", "reader@example.org"),
        ("at-rest-burned-91c2", "burned@example.org"),
        ("at-rest-waiting-c4d8", "waiter@example.org"),
    ] {
        let (key, mkey) = share_to(&server.base, &auth, value, to).await;
        shared.push((value, key, mkey, to));
    }
    // Stuck: at least one attempt failed against the dead port.
    let waiting = shared[2].2.clone();
    for _ in 0..100 {
        if receipt(&server.base, &waiting).await["delivery"]["reason"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(receipt(&server.base, &waiting).await["delivery"]["reason"].is_string());
    drop(server.kill9());
    let mkeys: Vec<&str> = shared.iter().map(|(_, _, m, _)| m.as_str()).collect();
    assert_eq!(queued(dir.path(), &mkeys).await, mkeys, "three mails wait");

    // Reveal one, burn one.
    let server = Process::start(&data, &pairs);
    let client = reqwest::Client::new();
    let revealed = reveal_on(&server.base, &shared[0].1).await;
    assert_eq!(revealed.ok()["value"], "at-rest-revealed-7f3a");
    assert_eq!(
        Answer::of(client.post(format!(
            "{}/api/v1/private/{}/burn",
            server.base, shared[1].2
        )))
        .await
        .ok()["state"]["state"],
        "burned"
    );
    for (_, _, mkey, _) in &shared[..2] {
        let delivery = receipt(&server.base, mkey).await["delivery"].clone();
        assert_eq!(delivery["state"], "failed", "{delivery}");
    }
    drop(server.kill9());

    // A copy of the data directory, key included: no value, link, passphrase or address in any
    // byte, and the outbox holds only the mail whose secret is still unread.
    let files = read_tree(&data);
    for (value, key, mkey, to) in &shared {
        for needle in [
            *value,
            key.as_str(),
            mkey.as_str(),
            *to,
            "sender@example.com",
        ] {
            for (name, bytes) in &files {
                assert!(!contains(bytes, needle.as_bytes()), "{name} holds {needle}");
            }
        }
    }
    assert_eq!(queued(dir.path(), &mkeys).await, vec![waiting]);
}

const EMAILS: [&str; 3] = [
    "ada.lovelace@example.com",
    "grace-hopper@example.org",
    "quiet.user@example.net",
];

#[tokio::test]
async fn a_data_directory_without_its_key_does_not_list_who_has_an_account() {
    let (_dir, data, server) = serve(&[]);
    for email in EMAILS {
        let token = add_account(&data, email, None).await;
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/share", server.base))
            .header("authorization", basic(email, &token))
            .form(&[("secret", "listed")])
            .send()
            .await
            .expect("share");
        assert!(resp.status().is_success());
    }
    drop(server.kill9());

    let copy: Vec<_> = read_tree(&data)
        .into_iter()
        .filter(|(name, _)| !name.ends_with("server.key"))
        .collect();
    assert!(copy.len() > 1, "the store's files are there");
    for email in EMAILS {
        let local = email.split('@').next().expect("local part");
        for (name, bytes) in &copy {
            assert!(!contains(bytes, email.as_bytes()), "{email} in {name}");
            assert!(!contains(bytes, local.as_bytes()), "{local} in {name}");
        }
    }

    // With the key, the list still shows them.
    let out = cli(&data, &["account", "list"]).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for email in EMAILS {
        assert!(listed.contains(email), "{listed}");
    }
}

/// Every key name and every value in Redis under any prefix, as bytes.
fn redis_contents(url: &str) -> Vec<(String, Vec<u8>)> {
    let client = redis::Client::open(url).expect("client");
    let mut conn = client.get_connection().expect("connect");
    let keys: Vec<String> = conn
        .scan()
        .expect("scan")
        .collect::<Result<_, _>>()
        .expect("scan");
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut conn).expect("type");
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "string" => vec![redis::cmd("GET").arg(&key).query(&mut conn).expect("get")],
            "zset" => redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query(&mut conn)
                .expect("zrange"),
            "hash" => redis::cmd("HGETALL")
                .arg(&key)
                .query(&mut conn)
                .expect("hgetall"),
            other => panic!("unexpected {other} key {key}"),
        };
        out.push((key.clone(), key.into_bytes()));
        out.extend(values.into_iter().map(|v| (String::from("value"), v)));
    }
    out
}

async fn redis_holds_no_account_email(url: &str, cluster: Option<&RedisCluster>) {
    let (_dir, data, server) = serve(&node_env(url, "atrest:", &[]));
    for email in EMAILS {
        add_account(&data, email, None).await;
    }
    let out = cli(&data, &["account", "list"]).await;
    let listed = String::from_utf8_lossy(&out.stdout);
    for email in EMAILS {
        assert!(listed.contains(email), "{listed}");
    }
    drop(server.kill9());
    let urls = match cluster {
        Some(c) => c
            .ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect(),
        None => vec![url.to_owned()],
    };
    let contents: Vec<_> = urls.iter().flat_map(|u| redis_contents(u)).collect();
    assert!(
        contents
            .iter()
            .any(|(name, _)| name.starts_with("atrest:a:")),
        "the accounts are there"
    );
    for email in EMAILS {
        for (name, bytes) in &contents {
            assert!(!contains(bytes, email.as_bytes()), "{email} in {name}");
        }
    }
}

#[tokio::test]
async fn redis_key_names_and_values_hold_no_account_email() {
    let redis = RedisServer::start();
    redis_holds_no_account_email(&redis.url(), None).await;
}

#[tokio::test]
async fn redis_cluster_key_names_and_values_hold_no_account_email() {
    let cluster = RedisCluster::start();
    redis_holds_no_account_email(&cluster.url(), Some(&cluster)).await;
}

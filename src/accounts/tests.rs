//! Accounts over a real store (sled in a temp dir, or a real redis-server), with the real
//! service for the recent list.

use zeroize::Zeroizing;

use super::*;
use crate::crypto::{verify_password, KdfParams, ServerKey};
use crate::domain::RecentAccess;
use crate::service::{CreateRequest, Service};
use crate::store::redis::{test_server, RedisStore};
use crate::store::sled::SledStore;

const NOW: u64 = 1_800_000_000;
const TTL: u64 = 3600;
const PASSWORD: &str = "correct horse battery";

/// Whether `accounts` takes `token` as `email`'s API token.
async fn accepts(accounts: &Accounts, email: &str, token: &str) -> bool {
    accounts
        .authenticate(email, token)
        .await
        .expect("authenticate")
        .is_some()
}

fn pw(text: &str) -> Sensitive {
    Sensitive::new(text.to_owned())
}

/// Accounts and the service over one store.
struct World {
    store: Arc<dyn Store>,
    sealer: Arc<Sealer>,
    accounts: Accounts,
    service: Service,
    _dir: tempfile::TempDir,
}

impl World {
    fn sled() -> Self {
        Self::sled_with(KdfPool::new(2, 8))
    }

    fn sled_with(kdf: KdfPool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(SledStore::open(dir.path(), false, 8 << 20).expect("store"));
        Self::over(store, dir, kdf)
    }

    async fn redis() -> Self {
        let store = RedisStore::open(
            &test_server::url(),
            &test_server::prefix(),
            std::time::Duration::from_secs(2),
            &Default::default(),
        )
        .await
        .expect("redis");
        let dir = tempfile::tempdir().expect("tempdir");
        Self::over(Arc::new(store), dir, KdfPool::new(2, 8))
    }

    fn over(store: Arc<dyn Store>, dir: tempfile::TempDir, kdf: KdfPool) -> Self {
        let sealer = Arc::new(Sealer::new(
            ServerKey::from_hex(&"33".repeat(32)).expect("key"),
        ));
        let plans = ["anonymous", "default", "team"].map(String::from).into();
        let sign_in = SignInSettings {
            scrypt: (10, 8, 1),
            session_ttl: TTL,
            kdf: kdf.clone(),
        };
        let accounts = Accounts::new(Arc::clone(&store), Arc::clone(&sealer), plans, sign_in);
        let settings = crate::config::load_env(&[("crypto.scrypt_log_n", "10")]).expect("settings");
        let service = Service::new(
            Arc::clone(&store),
            Arc::clone(&sealer),
            Arc::new(tokio::sync::Notify::new()),
            kdf,
            &settings,
        );
        Self {
            store,
            sealer,
            accounts,
            service,
            _dir: dir,
        }
    }

    /// A new account on the default plan: its API token.
    async fn add(&self, email: &str) -> Sensitive {
        self.accounts.add(email, None, NOW).await.expect("add")
    }

    /// A new account with [`PASSWORD`] for the web: its API token.
    async fn member(&self, email: &str) -> Sensitive {
        let token = self.add(email).await;
        self.accounts
            .set_password(email, &pw(PASSWORD), NOW)
            .await
            .expect("set");
        token
    }

    async fn token_caller(&self, email: &str, token: &Sensitive) -> Caller {
        self.accounts
            .authenticate(email, token.expose())
            .await
            .expect("authenticate")
            .expect("the token proves the account")
    }

    async fn web_caller(&self, email: &str, password: &str) -> Caller {
        let session = self
            .accounts
            .sign_in(email, &pw(password), NOW)
            .await
            .expect("sign in")
            .expect("the password is right");
        self.accounts
            .session(session.cookie.expose(), NOW)
            .await
            .expect("session")
            .expect("a live session")
    }

    /// The stored record of the account `email`.
    async fn record(&self, email: &str) -> AccountRecord {
        let id = self.sealer.record_id(RecordKind::Account, email);
        let record = self.store.account(&id).await.expect("get");
        record.expect("present")
    }

    /// Shares a secret as `caller`; returns its metadata key.
    /// Shares a secret one second after the previous share (so "newest first" is defined:
    /// entries of the same second have no order).
    async fn share(&self, caller: &Caller) -> String {
        static CLOCK: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tick = CLOCK.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % 1000;
        let request = CreateRequest {
            secret: Some(pw("a secret")),
            ..CreateRequest::default()
        };
        self.service
            .share(caller, request, NOW + tick)
            .await
            .expect("share")
            .metadata_key
    }

    /// The metadata keys `caller`'s recent list shows, newest first.
    async fn recent(&self, caller: &Caller) -> Vec<String> {
        self.service
            .recent(caller, NOW + 1000)
            .await
            .expect("recent")
            .into_iter()
            .map(|r| r.metadata_key)
            .collect()
    }
}

#[tokio::test]
async fn tokens_authenticate_until_rotated() {
    let w = World::sled();
    let a = &w.accounts;
    let token = a
        .add("Alice@Example.com", Some("team"), 1)
        .await
        .expect("add");
    assert!(token.expose().len() * 5 >= 160, "at least 160 bits");
    let caller = a
        .authenticate("alice@example.com", token.expose())
        .await
        .expect("auth")
        .expect("authenticated");
    assert_eq!(caller.custid(), "alice@example.com");
    assert_eq!(caller.plan_name(), "team");
    assert!(!accepts(a, "alice@example.com", "wrong").await);
    assert!(!accepts(a, "bob@example.com", token.expose()).await);

    let rotated = a.rotate("alice@example.com", 2).await.expect("rotate");
    assert!(!accepts(a, "alice@example.com", token.expose()).await);
    assert!(accepts(a, "alice@example.com", rotated.expose()).await);
}

#[tokio::test]
async fn add_refuses_duplicates_bad_emails_and_unknown_plans() {
    let w = World::sled();
    let a = &w.accounts;
    a.add("a@example.com", None, 1).await.expect("add");
    assert!(matches!(
        a.add("A@example.com", None, 1).await,
        Err(AccountError::Exists(_))
    ));
    assert!(matches!(
        a.add("nope", None, 1).await,
        Err(AccountError::InvalidEmail(_))
    ));
    assert!(matches!(
        a.add("b@example.com", Some("gold"), 1).await,
        Err(AccountError::UnknownPlan(_))
    ));
    assert!(matches!(
        a.add("b@example.com", Some("anonymous"), 1).await,
        Err(AccountError::UnknownPlan(_))
    ));
    a.remove("a@example.com").await.expect("remove");
    assert!(matches!(
        a.remove("a@example.com").await,
        Err(AccountError::NotFound(_))
    ));
    assert!(a.list().await.expect("list").is_empty());
}

#[tokio::test]
async fn passwords_are_checked_and_stored_only_as_a_phc_string() {
    let w = World::sled();
    let a = &w.accounts;
    a.add("pat@example.com", None, NOW).await.expect("add");
    let cases = [
        ("", "empty"),
        ("123456789", "at least 10 characters"),
        (&"x".repeat(1025), "at most 1024 bytes"),
        // Ten characters but 20 bytes: characters count, not bytes.
        (&"é".repeat(9), "at least 10 characters"),
    ];
    for (bad, why) in cases {
        let err = a
            .set_password("pat@example.com", &pw(bad), NOW)
            .await
            .expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(why), "{text}");
        assert!(bad.is_empty() || !text.contains(bad), "never echoes it");
    }
    assert!(matches!(
        a.set_password("nobody@example.com", &pw(PASSWORD), NOW)
            .await,
        Err(AccountError::NotFound(_))
    ));
    assert!(!a.list().await.expect("list")[0].password);

    a.set_password("pat@example.com", &pw(&"é".repeat(10)), NOW)
        .await
        .expect("ten characters");
    a.set_password("Pat@Example.com", &pw(PASSWORD), NOW)
        .await
        .expect("set");
    let record = w.record("pat@example.com").await;
    let web = record.password.as_ref().expect("a password");
    assert!(web.phc.starts_with("$scrypt$ln=10,r=8,p=1$"), "{}", web.phc);
    assert!(verify_password(PASSWORD, &web.phc).expect("verify"));
    let bytes = record.to_bytes().expect("encode");
    assert!(!bytes
        .windows(PASSWORD.len())
        .any(|w| w == PASSWORD.as_bytes()));
    assert!(a.list().await.expect("list")[0].password);
}

#[tokio::test]
async fn sign_in_opens_a_session_only_with_the_right_password() {
    let w = World::sled();
    let a = &w.accounts;
    a.add("sam@example.com", Some("team"), NOW)
        .await
        .expect("add");
    assert!(
        a.sign_in("sam@example.com", &pw(PASSWORD), NOW)
            .await
            .expect("sign in")
            .is_none(),
        "no password set yet"
    );
    a.set_password("sam@example.com", &pw(PASSWORD), NOW)
        .await
        .expect("set");
    for (email, password) in [
        ("sam@example.com", "correct horse batterY"),
        ("sam@example.com", ""),
        ("nobody@example.com", PASSWORD),
        ("", PASSWORD),
    ] {
        let outcome = a.sign_in(email, &pw(password), NOW).await.expect("sign in");
        assert!(outcome.is_none(), "{email}");
    }
    let session = a
        .sign_in(" Sam@Example.com ", &pw(PASSWORD), NOW)
        .await
        .expect("sign in")
        .expect("right password");
    let cookie = session.cookie.expose();
    assert_eq!(cookie.len(), 62);
    assert!(cookie
        .bytes()
        .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()));
    assert_eq!(session.expires_at, NOW + TTL);
    assert!(!format!("{session:?}").contains(cookie), "never printed");

    let caller = a
        .session(cookie, NOW)
        .await
        .expect("session")
        .expect("signed in");
    assert_eq!(caller.custid(), "sam@example.com");
    assert_eq!(caller.plan_name(), "team");
    assert!(a
        .session(cookie, NOW + TTL - 1)
        .await
        .expect("session")
        .is_some());
    assert!(a
        .session(cookie, NOW + TTL)
        .await
        .expect("session")
        .is_none());
    for other in [
        String::new(),
        "garbage".to_owned(),
        cookie.to_uppercase(),
        generate_key(),
        format!("{cookie}0"),
    ] {
        assert!(a.session(&other, NOW).await.expect("session").is_none());
    }
    // Each sign-in is its own session.
    let again = a
        .sign_in("sam@example.com", &pw(PASSWORD), NOW)
        .await
        .expect("sign in")
        .expect("right password");
    assert_ne!(again.cookie, session.cookie);
}

#[tokio::test]
async fn sign_out_a_new_password_and_removal_end_sessions() {
    let w = World::sled();
    let a = &w.accounts;
    a.add("sue@example.com", None, NOW).await.expect("add");
    a.set_password("sue@example.com", &pw(PASSWORD), NOW)
        .await
        .expect("set");
    let sign_in = |password: &'static str| async move {
        a.sign_in("sue@example.com", &pw(password), NOW)
            .await
            .expect("sign in")
    };
    let first = sign_in(PASSWORD).await.expect("session");
    let second = sign_in(PASSWORD).await.expect("session");
    let live = |s: &Session| {
        let cookie = s.cookie.expose().to_owned();
        async move { a.session(&cookie, NOW).await.expect("session").is_some() }
    };

    a.sign_out(first.cookie.expose()).await.expect("sign out");
    assert!(!live(&first).await);
    assert!(live(&second).await, "other sessions stay");
    a.sign_out("not a cookie").await.expect("harmless");

    a.set_password("sue@example.com", &pw("a brand new password"), NOW)
        .await
        .expect("new password");
    assert!(!live(&second).await, "a new password ends old sessions");
    assert!(sign_in(PASSWORD).await.is_none());
    let third = sign_in("a brand new password").await.expect("session");
    assert!(live(&third).await);

    a.remove("sue@example.com").await.expect("remove");
    assert!(!live(&third).await);
    a.add("sue@example.com", None, NOW)
        .await
        .expect("add again");
    a.set_password("sue@example.com", &pw("a brand new password"), NOW)
        .await
        .expect("set");
    assert!(!live(&third).await, "a new account of the same email too");
}

/// A secret created with the token lists on the web and vice versa, on either backend.
async fn the_recent_list_is_shared_by_the_token_and_a_session(w: World) {
    let token = w.member("ann@example.com").await;
    let api = w.token_caller("ann@example.com", &token).await;
    let web = w.web_caller("ann@example.com", PASSWORD).await;
    let by_api = w.share(&api).await;
    let by_web = w.share(&web).await;
    let both = vec![by_web.clone(), by_api.clone()];
    assert_eq!(w.recent(&api).await, both);
    assert_eq!(w.recent(&web).await, both);

    // Another account sees none of it, through either door.
    let other = w.member("bo@example.com").await;
    assert!(w
        .recent(&w.token_caller("bo@example.com", &other).await)
        .await
        .is_empty());
    assert!(w
        .recent(&w.web_caller("bo@example.com", PASSWORD).await)
        .await
        .is_empty());

    // The entries themselves: sealed to both list keys, and the server key alone opens none.
    let account_id = w.sealer.record_id(RecordKind::Account, "ann@example.com");
    let seals = w.store.recent(&account_id, 0).await.expect("recent");
    assert_eq!(seals.len(), 2);
    for seal in &seals {
        assert_eq!(seal.key_boxes.len(), 2, "one box per list key");
        assert!(w
            .sealer
            .open(
                Binding::new(RecordKind::Recent, &account_id, ""),
                &seal.sealed
            )
            .is_err());
    }
}

#[tokio::test]
async fn the_recent_list_is_shared_by_the_token_and_a_session_on_sled() {
    the_recent_list_is_shared_by_the_token_and_a_session(World::sled()).await;
}

#[tokio::test]
async fn the_recent_list_is_shared_by_the_token_and_a_session_on_redis() {
    the_recent_list_is_shared_by_the_token_and_a_session(World::redis().await).await;
}

#[tokio::test]
async fn rotation_starts_the_api_side_afresh_and_keeps_the_web_side() {
    let w = World::sled();
    let token = w.member("cy@example.com").await;
    let web = w.web_caller("cy@example.com", PASSWORD).await;
    let a = w
        .share(&w.token_caller("cy@example.com", &token).await)
        .await;
    let b = w.share(&web).await;

    let rotated = w
        .accounts
        .rotate_signed_in(&web, NOW)
        .await
        .expect("rotate");
    assert!(!accepts(&w.accounts, "cy@example.com", token.expose()).await);
    let api = w.token_caller("cy@example.com", &rotated).await;
    assert!(
        w.recent(&api).await.is_empty(),
        "the API side starts afresh"
    );
    let web = w.web_caller("cy@example.com", PASSWORD).await;
    assert_eq!(w.recent(&web).await, vec![b.clone(), a.clone()]);
    let c = w.share(&api).await;
    assert_eq!(w.recent(&api).await, vec![c.clone()]);
    assert_eq!(w.recent(&web).await, vec![c.clone(), b, a]);

    // The admin's rotate follows the same rule.
    let again = w
        .accounts
        .rotate("cy@example.com", NOW)
        .await
        .expect("rotate");
    let api = w.token_caller("cy@example.com", &again).await;
    assert!(w.recent(&api).await.is_empty());
    assert_eq!(w.recent(&web).await.len(), 3);

    assert!(matches!(
        w.accounts.rotate_signed_in(&Caller::Anonymous, NOW).await,
        Err(AccountError::NotSignedIn)
    ));
}

#[tokio::test]
async fn a_new_password_starts_the_web_side_afresh_and_keeps_the_api_side() {
    let w = World::sled();
    let token = w.member("di@example.com").await;
    let api = w.token_caller("di@example.com", &token).await;
    let a = w.share(&api).await;
    let b = w
        .share(&w.web_caller("di@example.com", PASSWORD).await)
        .await;

    w.accounts
        .set_password("di@example.com", &pw("another password"), NOW)
        .await
        .expect("new password");
    let web = w.web_caller("di@example.com", "another password").await;
    assert!(
        w.recent(&web).await.is_empty(),
        "the web side starts afresh"
    );
    let api = w.token_caller("di@example.com", &token).await;
    assert_eq!(w.recent(&api).await, vec![b.clone(), a.clone()]);
    let c = w.share(&web).await;
    assert_eq!(w.recent(&web).await, vec![c.clone()]);
    assert_eq!(w.recent(&api).await, vec![c, b, a]);
}

#[tokio::test]
async fn without_a_web_password_rotation_clears_the_list() {
    let w = World::sled();
    let token = w.add("ed@example.com").await;
    w.share(&w.token_caller("ed@example.com", &token).await)
        .await;
    let account_id = w.sealer.record_id(RecordKind::Account, "ed@example.com");
    assert_eq!(w.store.recent(&account_id, 0).await.expect("r").len(), 1);
    w.accounts
        .rotate("ed@example.com", NOW)
        .await
        .expect("rotate");
    assert!(w.store.recent(&account_id, 0).await.expect("r").is_empty());
}

#[tokio::test]
async fn schema_1_accounts_and_entries_keep_working() {
    // A store as the previous build left it: the account in the five-field shape, and a recent
    // entry sealed under the token itself.
    let dir = tempfile::tempdir().expect("tempdir");
    let sealer = Sealer::new(ServerKey::from_hex(&"33".repeat(32)).expect("key"));
    let token = pw(&generate_key());
    {
        let db = sled::open(dir.path()).expect("sled");
        let v1 = (
            "old@example.com",
            "team",
            NOW,
            sealer.record_id(RecordKind::Token, token.expose()),
            NOW,
        );
        let tree = db.open_tree("customers").expect("tree");
        tree.insert("old@example.com", postcard::to_allocvec(&v1).expect("v1"))
            .expect("insert");
        let meta = db.open_tree("meta").expect("tree");
        meta.insert("schema_version", &1u32.to_be_bytes())
            .expect("insert");
        db.flush().expect("flush");
    }
    let store = Arc::new(SledStore::open(dir.path(), false, 8 << 20).expect("store"));
    let w = World::over(store, dir, KdfPool::new(2, 8));
    assert_eq!(w.store.schema().await.expect("schema"), 1);
    w.store.upgrade(w.sealer.as_ref()).await.expect("upgrade");
    assert_eq!(w.store.schema().await.expect("schema"), 2);
    let listed = w.accounts.list().await.expect("list");
    assert_eq!(
        listed[0].email, "old@example.com",
        "the email opens for the list"
    );
    let schema_1_caller = Caller::Account {
        email: "old@example.com".into(),
        plan: "team".into(),
        recent: RecentAccess {
            recipients: Vec::new(),
            key: None,
            token: Some(token.clone()),
        },
    };
    let old = w.share(&schema_1_caller).await;
    let account_id = w.sealer.record_id(RecordKind::Account, "old@example.com");
    let seals = w.store.recent(&account_id, 0).await.expect("recent");
    assert!(seals[0].key_boxes.is_empty(), "written in schema 1's shape");

    // The token still authenticates, with its plan, and lists the old entry; its first use
    // gave the account an API list key and changed nothing else.
    let api = w.token_caller("old@example.com", &token).await;
    assert_eq!(api.plan_name(), "team");
    let record = w.record("old@example.com").await;
    assert!(record.api_key.is_some());
    assert_eq!(
        record.token_hash,
        w.sealer.record_id(RecordKind::Token, token.expose())
    );
    assert_eq!(w.recent(&api).await, vec![old.clone()]);
    let new = w.share(&api).await;
    assert_eq!(w.recent(&api).await, vec![new.clone(), old.clone()]);

    // Web sign-in works for it too; the token's entries from before stay the token's.
    w.accounts
        .set_password("old@example.com", &pw(PASSWORD), NOW)
        .await
        .expect("set");
    let web = w.web_caller("old@example.com", PASSWORD).await;
    assert!(w.recent(&web).await.is_empty());
    let by_web = w.share(&web).await;
    assert_eq!(w.recent(&web).await, vec![by_web.clone()]);
    let api = w.token_caller("old@example.com", &token).await;
    assert_eq!(w.recent(&api).await, vec![by_web, new, old]);
}

#[tokio::test]
async fn adding_an_api_list_key_never_undoes_a_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Arc::new(SledStore::open(dir.path(), false, 8 << 20).expect("store"));
    let w = World::over(store, dir, KdfPool::new(2, 8));
    let token = w.add("fay@example.com").await;
    let mut stale = w.record("fay@example.com").await;
    stale.api_key = None; // as a schema-1 record read just before a rotation
    let rotated = w
        .accounts
        .rotate("fay@example.com", NOW)
        .await
        .expect("rotate");
    let account_id = w.sealer.record_id(RecordKind::Account, "fay@example.com");
    let (_, key) = w
        .accounts
        .add_api_list_key(stale, &account_id, token.expose())
        .await;
    assert!(key.is_none(), "the stale upgrade is refused");
    assert!(!accepts(&w.accounts, "fay@example.com", token.expose()).await);
    assert!(accepts(&w.accounts, "fay@example.com", rotated.expose()).await);
}

#[tokio::test]
async fn unknown_emails_and_wrong_passwords_cost_scrypt_work() {
    // One derivation may run and none wait: while one runs, any sign-in that would do scrypt
    // work fails fast with Busy, and one that skipped the work would answer None.
    let pool = KdfPool::new(1, 0);
    let w = World::sled_with(pool.clone());
    w.add("gil@example.com").await;
    let without_password = ("gil@example.com", PASSWORD);
    let unknown = ("nobody@example.com", PASSWORD);
    for (email, password) in [unknown, without_password] {
        let hog = pool.derive(Zeroizing::new("x".into()), KdfParams::fresh(16, 8, 1));
        let attempt = pw(password);
        let (held, outcome) = tokio::join!(hog, w.accounts.sign_in(email, &attempt, NOW));
        assert!(held.is_ok());
        assert!(matches!(outcome, Err(AccountError::Busy)), "{email}");
    }
}

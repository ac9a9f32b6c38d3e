//! End-to-end secrets (docs/envelope.md): encrypted in the creator's browser, decrypted in the
//! recipient's; a browser that cannot decrypt never consumes one.

use std::time::{Duration, Instant};

use onetime::crypto::envelope::{self, Contents, Key};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::harness::{Browser, Rig, Server};
use crate::pages::{create, open_link, reveal, Receipt};

/// Runs `expr` (a JavaScript expression giving a value or a promise) in the page and waits for
/// its outcome: `{"ok": value}` or `{"err": "why"}`.
async fn settle(browser: &Browser, expr: &str) -> Value {
    browser
        .eval(&format!(
            "window.__settled = undefined; \
             Promise.resolve().then(function () {{ return {expr}; }}).then( \
               function (v) {{ window.__settled = {{ ok: v }}; }}, \
               function (e) {{ window.__settled = {{ err: String(e) }}; }}); \
             return null;"
        ))
        .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let v = browser
            .eval("return window.__settled === undefined ? null : window.__settled")
            .await;
        if !v.is_null() {
            return v;
        }
        assert!(Instant::now() < deadline, "`{expr}` did not settle");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The link's fragment key (after `#`), checked to be one.
fn fragment(receipt: &Receipt) -> String {
    let (_, key) = receipt
        .link
        .split_once('#')
        .unwrap_or_else(|| panic!("the receipt's link has no #key"));
    assert_eq!(key.len(), envelope::KEY_CHARS, "a 43-character key");
    key.to_owned()
}

/// A link without its fragment.
fn without_key(link: &str) -> &str {
    link.split('#').next().unwrap_or(link)
}

/// Shares `contents` end to end through the API, as the CLI does; returns (link, receipt key).
async fn share_through_api(server: &Server, key: &Key, envelope_text: &str) -> (String, String) {
    let body: Value = reqwest::Client::new()
        .post(server.url("/api/v1/share"))
        .form(&[
            ("secret", envelope_text),
            ("e2e", "text"),
            ("verifier", key.verifier().as_str()),
        ])
        .send()
        .await
        .expect("share")
        .json()
        .await
        .expect("share JSON");
    let secret_key = body["secret_key"].as_str().expect("secret_key").to_owned();
    let link = format!(
        "{}#{}",
        server.url(&format!("/secret/{secret_key}")),
        key.fragment().as_str()
    );
    (link, body["metadata_key"].as_str().expect("key").to_owned())
}

#[tokio::test]
async fn the_browser_code_matches_the_test_vectors() {
    let rig = Rig::start();
    let browser = rig.browser(true).await;
    browser.goto(&rig.server.url("/")).await;
    let text = include_str!("../../docs/vectors/text.txt").trim();
    let file = include_str!("../../docs/vectors/file.txt").trim();
    let verifier = include_str!("../../docs/vectors/verifier.txt").trim();
    let setup = "var E = window.onetimeE2E; \
                 var key = new Uint8Array(32).map(function (_, i) { return i; }); \
                 var iv = new Uint8Array(12).map(function (_, i) { return 0xa0 + i; });";

    let sealed = settle(
        &browser,
        &format!(
            "(function () {{ {setup} return Promise.all([ \
               E.seal(key, 'hello, world', null, iv), \
               E.seal(key, 'größe ✓', {{ name: 'a.bin', type: 'application/octet-stream', \
                 bytes: new Uint8Array([0, 1, 2, 255]) }}, iv), \
               E.verifier(key), E.b64u(key)]); }})()"
        ),
    )
    .await;
    let opened = settle(
        &browser,
        &format!(
            "(function () {{ {setup} return E.open(key, '{file}').then(function (c) {{ \
               return [c.text, c.file.name, c.file.type, Array.from(c.file.bytes)]; }}); }})()"
        ),
    )
    .await;

    assert_eq!(
        sealed,
        json!({ "ok": [text, file, verifier, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8"] }),
        "static/e2e.js seals the vectors of docs/envelope.md"
    );
    assert_eq!(
        opened,
        json!({ "ok": ["größe ✓", "a.bin", "application/octet-stream", [0, 1, 2, 255]] }),
        "static/e2e.js opens the file vector"
    );
}

#[tokio::test]
async fn a_secret_encrypted_in_one_browser_is_read_in_another_and_the_server_never_had_it() {
    let rig = Rig::start();
    let (creator, recipient) = rig.creator_and_recipient(true).await;
    let secret = "end to end — ünïcødé\nline two";

    let receipt = create(&creator, &rig.server, secret, None).await;
    let key = fragment(&receipt);
    assert_eq!(
        creator.attr("#mode", "data-mode").await.as_deref(),
        Some("e2e"),
        "the receipt says it was encrypted in the browser"
    );
    assert!(
        !creator.has("#qr").await,
        "no QR code of a link without its key"
    );
    assert!(
        !creator
            .client
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains('#'),
        "the key is taken off the receipt's address"
    );
    let api = rig.server.receipt_json(&receipt.key).await;
    assert_eq!(api["e2e"], json!(true), "the v1 receipt's e2e flag");
    creator.reload().await;
    assert!(
        !creator.value("input#secret-link").await.contains('#'),
        "a later visit has no key"
    );
    assert!(
        creator.has("#e2e-key-note").await,
        "and says the server does not keep it"
    );

    open_link(&recipient, &receipt.link).await;
    let value = reveal(&recipient, None).await;

    assert!(
        value == secret,
        "the recipient's browser decrypted the secret"
    );
    assert_eq!(rig.server.state_of(&receipt.key).await, "received");
    let logs = rig.server.logs();
    assert!(!logs.contains(secret), "the server logged the secret");
    assert!(!logs.contains(&key), "the server logged the link's key");
}

#[tokio::test]
async fn a_generated_password_is_made_in_the_browser_and_shown_once() {
    let rig = Rig::start();
    let (creator, recipient) = rig.creator_and_recipient(true).await;

    let receipt = crate::pages::generate(&creator, &rig.server).await;
    fragment(&receipt);
    let generated = creator.value("#generated-value").await;
    assert!(
        generated.chars().count() >= 12,
        "a useful length: {generated}"
    );
    assert_eq!(
        rig.server.receipt_json(&receipt.key).await["e2e"],
        json!(true)
    );
    open_link(&recipient, &receipt.link).await;
    assert!(reveal(&recipient, None).await == generated);
}

/// Opens `link` in `browser` and checks the interstitial refuses to try: `#e2e-problem` or
/// `#error` is shown, no reveal button, and the secret is still unread.
async fn refused_unread(rig: &Rig, browser: &Browser, link: &str, receipt_key: &str) {
    // Elsewhere first: from one fragment to another of the same page is no new page load.
    browser.goto(&rig.server.url("/health")).await;
    browser.goto(link).await;
    let problem =
        browser.has("#e2e-problem:not([hidden])").await || browser.has("#e2e-needs-js").await;
    assert!(problem, "the page says why it will not reveal");
    assert!(
        !browser.shown("button#reveal").await,
        "no reveal button for a link that cannot decrypt"
    );
    // Opened (v1's `viewed`: the interstitial marks the receipt previewed), still unread.
    assert_eq!(
        rig.server.state_of(receipt_key).await,
        "viewed",
        "still unread"
    );
}

#[tokio::test]
async fn a_missing_mangled_or_wrong_key_and_javascript_off_leave_the_secret_unread() {
    let rig = Rig::start();
    let (creator, recipient) = rig.creator_and_recipient(true).await;
    let no_js = rig.browser(false).await;
    let receipt = create(&creator, &rig.server, "keep me unread", None).await;
    let key = fragment(&receipt);
    let bare = without_key(&receipt.link);

    // Missing key (a chat app cut it), and a cut-off key: the page never posts.
    refused_unread(&rig, &recipient, bare, &receipt.key).await;
    let cut = format!("{bare}#{}", &key[..20]);
    refused_unread(&rig, &recipient, &cut, &receipt.key).await;

    // JavaScript off: the interstitial says why; a forced post is refused, unread.
    refused_unread(&rig, &no_js, &receipt.link, &receipt.key).await;
    let posted = no_js
        .eval("document.getElementById('reveal-form').submit(); return null;")
        .await;
    assert!(posted.is_null());
    no_js.find("#error").await;
    assert_eq!(no_js.status().await, 400);
    assert_eq!(rig.server.state_of(&receipt.key).await, "viewed");

    // A wrong key of the right shape: the server compares verifiers and refuses, unread.
    let wrong = format!("{bare}#{}", Key::generate().fragment().as_str());
    recipient.goto(&rig.server.url("/health")).await;
    recipient.goto(&wrong).await;
    recipient.submit("button#reveal").await;
    assert_eq!(recipient.status().await, 400, "a wrong key's status");
    assert!(
        recipient.has("#error").await,
        "#error says the key does not fit"
    );
    assert!(!recipient.has("#secret-value").await);
    assert_eq!(
        rig.server.state_of(&receipt.key).await,
        "viewed",
        "still unread"
    );

    // The right link still works after all that.
    recipient.goto(&rig.server.url("/health")).await;
    open_link(&recipient, &receipt.link).await;
    assert!(reveal(&recipient, None).await == "keep me unread");
}

#[tokio::test]
async fn a_changed_envelope_gives_a_clear_message_never_garbage() {
    let rig = Rig::start();
    let recipient = rig.browser(true).await;
    let key = Key::generate();
    let contents = Contents {
        text: Zeroizing::new("original".into()),
        file: None,
    };
    let sealed = envelope::seal(&key, &contents);
    // One ciphertext character changed: it still parses, it no longer authenticates.
    let mut bytes = sealed.into_bytes();
    let at = bytes.len() - 5;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).expect("ascii");
    let (link, receipt_key) = share_through_api(&rig.server, &key, &tampered).await;

    open_link(&recipient, &link).await;
    recipient.submit("button#reveal").await;

    recipient.find("#e2e-error").await;
    assert!(!recipient.has("#secret-value").await, "no garbage shown");
    let words = recipient.text("#e2e-error").await;
    assert!(words.contains("changed"), "the message says why: {words}");
    assert_eq!(rig.server.state_of(&receipt_key).await, "received");
}

#[tokio::test]
async fn a_five_mib_file_travels_encrypted_and_keeps_its_name_and_bytes() {
    let rig = Rig::start_with(&[("ONETIME__PLANS__ANONYMOUS__MAX_FILE_SIZE", "8388608")]);
    let (creator, recipient) = rig.creator_and_recipient(true).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("report 2026.bin");
    let bytes: Vec<u8> = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &bytes).expect("write the file");
    let digest = hex::encode(Sha256::digest(&bytes));

    creator.goto(&rig.server.url("/")).await;
    assert!(
        creator.shown("#file-field").await,
        "the file picker shows with JavaScript"
    );
    creator.choose_file("input#file", &path).await;
    creator
        .submit("button#create-link[name=action][value=share]")
        .await;
    let receipt = crate::pages::receipt_here(&creator, &rig.server).await;
    fragment(&receipt);
    let words = creator.text("#file-size").await;
    assert!(words.starts_with("file, 5."), "the receipt's size: {words}");
    assert!(
        !creator.text("main").await.contains("report 2026"),
        "the receipt never names the file"
    );

    open_link(&recipient, &receipt.link).await;
    recipient.submit("button#reveal").await;
    recipient.find("a#file-download").await;
    let downloads = tempfile::tempdir().expect("download dir");
    recipient
        .cdp(
            "Browser.setDownloadBehavior",
            json!({ "behavior": "allow", "downloadPath": downloads.path() }),
        )
        .await;
    recipient.click("a#file-download").await;

    let saved = downloads.path().join("report 2026.bin");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::fs::metadata(&saved).map_or(true, |m| m.len() < bytes.len() as u64) {
        assert!(
            Instant::now() < deadline,
            "no download named `report 2026.bin`"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = std::fs::read(&saved).expect("read the download");
    assert_eq!(hex::encode(Sha256::digest(&got)), digest, "the same bytes");
    assert_eq!(rig.server.state_of(&receipt.key).await, "received");
}

#[tokio::test]
async fn without_javascript_the_create_page_says_files_need_it_and_works_server_side() {
    let rig = Rig::start();
    let creator = rig.browser(false).await;
    creator.goto(&rig.server.url("/")).await;
    assert!(creator.has("#file-needs-js").await, "files need JavaScript");
    assert!(
        !creator.shown("#file-field").await,
        "no file picker that cannot work"
    );
    let receipt = create(&creator, &rig.server, "server side", None).await;
    assert!(!receipt.link.contains('#'));
    assert_eq!(
        creator.attr("#mode", "data-mode").await.as_deref(),
        Some("server")
    );
    assert_eq!(
        rig.server.receipt_json(&receipt.key).await["e2e"],
        json!(false)
    );
}

/// A TCP proxy in front of `server` that keeps every byte the browser sends: what crossed
/// the network toward the server, request lines, headers and bodies alike.
struct Recorder {
    /// `http://127.0.0.1:PORT`, to give the browser instead of the server's own address.
    base: String,
    sent: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Recorder {
    async fn start(server: &Server) -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the recorder");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let upstream = server.base.trim_start_matches("http://").to_owned();
        let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let record = sent.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    continue;
                };
                let record = record.clone();
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = from_client.read(&mut buf).await {
                        if n == 0 || to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        record.lock().expect("record").extend_from_slice(&buf[..n]);
                    }
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                });
            }
        });
        Self { base, sent }
    }

    /// `url` on the server, through this recorder.
    fn via(&self, server: &Server, url: &str) -> String {
        url.replacen(&server.base, &self.base, 1)
    }

    fn saw(&self, needle: &[u8]) -> bool {
        let sent = self.sent.lock().expect("record");
        !needle.is_empty() && sent.windows(needle.len()).any(|w| w == needle)
    }
}

#[tokio::test]
async fn no_request_from_either_browser_carries_the_text_the_file_or_the_key() {
    let rig = Rig::start_with(&[("ONETIME__PLANS__ANONYMOUS__MAX_FILE_SIZE", "1048576")]);
    let recorder = Recorder::start(&rig.server).await;
    let (creator, recipient) = rig.creator_and_recipient(true).await;
    let text = "recorded-plaintext-canary-77c1";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("canary.bin");
    let bytes = onetime_test_support::canary_bytes(b"recorded-file-canary-3b9e ", 200_000);
    std::fs::write(&path, &bytes).expect("write");

    creator
        .goto(&recorder.via(&rig.server, &rig.server.url("/")))
        .await;
    creator.fill("textarea#secret", text).await;
    creator.choose_file("input#file", &path).await;
    creator.submit("button#create-link").await;
    let link = creator.value("input#secret-link").await;
    let key = link.split_once('#').expect("a key").1.to_owned();
    recipient.goto(&recorder.via(&rig.server, &link)).await;
    recipient.submit("button#reveal").await;
    let value = recipient.value("textarea#secret-value").await;
    recipient.find("a#file-download").await;

    assert_eq!(value, text, "the recipient read it, through the recorder");
    assert!(
        recorder.saw(b"POST /secret/"),
        "the reveal went through the recorder"
    );
    assert!(
        recorder.saw(b"e2e=file"),
        "the create went through the recorder"
    );
    assert!(!recorder.saw(text.as_bytes()), "a request carried the text");
    assert!(
        !recorder.saw(b"recorded-file-canary"),
        "a request carried the file"
    );
    assert!(
        !recorder.saw(key.as_bytes()),
        "a request carried the link's key"
    );
}

#[tokio::test]
async fn links_made_by_the_cli_open_in_the_browser_and_the_other_way_round() {
    let rig = Rig::start();
    let browser = rig.browser(true).await;
    let server = rig.server.base.as_str();

    // CLI -> browser: a text and a file.
    let link = rig
        .server
        .cli_ok(&["share", "--server", server], "made on the command line\n");
    open_link(&browser, &link).await;
    assert!(reveal(&browser, None).await == "made on the command line");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("from-cli.txt");
    std::fs::write(&path, b"file bytes from the CLI").expect("write");
    let file_link = rig.server.cli_ok(
        &[
            "share",
            "--server",
            server,
            "--file",
            path.to_str().expect("path"),
        ],
        "",
    );
    browser.goto(&rig.server.url("/health")).await;
    open_link(&browser, &file_link).await;
    browser.submit("button#reveal").await;
    assert_eq!(
        browser.attr("a#file-download", "download").await.as_deref(),
        Some("from-cli.txt")
    );

    // Browser -> CLI.
    let receipt = create(&browser, &rig.server, "made in the browser", None).await;
    fragment(&receipt);
    let out = rig.server.cli(&["reveal", &receipt.link], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "made in the browser\n"
    );
}

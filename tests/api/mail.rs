//! Emailing links, against a real SMTP server on loopback (mailin-embedded): what arrives,
//! what never does, and that a send failure or a restart loses nothing.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mailin_embedded::response::{self, Response};
use mailin_embedded::{Handler, Server, SslConfig};

pub(crate) use onetime_test_support::free_port;

use crate::helpers::{
    add_account, assert_says, basic, cli, keys_of, output_of, stdout_of_success, Answer, Process,
    TestApp,
};

/// One message as the SMTP server received it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Received {
    pub(crate) to: Vec<String>,
    pub(crate) data: String,
}

/// An SMTP server on loopback that keeps what it receives and refuses recipients whose
/// address contains "reject" with a 550.
#[derive(Clone)]
struct Sink {
    inbox: Arc<Mutex<Vec<Received>>>,
    current: Received,
}

impl Handler for Sink {
    fn rcpt(&mut self, to: &str) -> Response {
        if to.contains("reject") {
            response::NO_MAILBOX
        } else {
            response::OK
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _8bit: bool, to: &[String]) -> Response {
        self.current = Received {
            to: to.to_vec(),
            data: String::new(),
        };
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.current.data.push_str(&String::from_utf8_lossy(buf));
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        self.inbox
            .lock()
            .expect("inbox")
            .push(std::mem::take(&mut self.current));
        response::OK
    }
}

/// Starts the sink on `port` (in a thread that lives as long as the test process).
pub(crate) fn start_smtp(port: u16) -> Arc<Mutex<Vec<Received>>> {
    let inbox = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink {
        inbox: Arc::clone(&inbox),
        current: Received::default(),
    };
    std::thread::spawn(move || {
        let mut server = Server::new(sink);
        server
            .with_name("sink.test")
            .with_ssl(SslConfig::None)
            .expect("ssl config")
            .with_addr(("127.0.0.1", port))
            .expect("addr");
        server.serve().expect("smtp sink");
    });
    // Wait until it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    inbox
}

/// The SMTP URL of the sink on `port`.
fn smtp_url(port: u16) -> String {
    format!("smtp://127.0.0.1:{port}")
}

/// The settings that send mail through `smtp_url`, retrying after 1 s.
fn mail_env(smtp_url: &str) -> [(&str, &str); 3] {
    [
        ("ONETIME__MAIL__SMTP_URL", smtp_url),
        ("ONETIME__MAIL__RETRY_INITIAL", "1"),
        ("ONETIME__MAIL__FROM", "secrets@onetime.test"),
    ]
}

pub(crate) async fn spawn_with_mail(port: u16) -> TestApp {
    TestApp::spawn_with(&mail_env(&smtp_url(port))).await
}

/// A sink on a free port, a server mailing through it, and the `Authorization` of the account
/// `email` on it.
async fn mailing_as(email: &str) -> (Arc<Mutex<Vec<Received>>>, TestApp, String) {
    let port = free_port();
    let inbox = start_smtp(port);
    let app = spawn_with_mail(port).await;
    let auth = app.account(email, None).await;
    (inbox, app, auth)
}

/// Polls the receipt until its delivery state is `state` (or 20 s pass).
async fn wait_for_delivery(app: &TestApp, mkey: &str, state: &str) -> serde_json::Value {
    for _ in 0..200 {
        let receipt = app.receipt(mkey).await.ok();
        if receipt["delivery"]["state"] == state {
            return receipt;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "delivery never became {state}: {}",
        app.receipt(mkey).await.text
    );
}

async fn share_to(app: &TestApp, auth: &str, to: &str, extra: &[(&str, &str)]) -> Answer {
    let mut form = vec![("secret", "the launch codes 0451"), ("recipient", to)];
    form.extend_from_slice(extra);
    app.post_as(auth, "/api/v1/share", &form).await
}

#[tokio::test]
async fn the_recipient_gets_the_link_and_never_the_secret_or_passphrase() {
    let (inbox, app, auth) = mailing_as("alice@example.com").await;
    let body = share_to(
        &app,
        &auth,
        "bob@example.org",
        &[("passphrase", "hunter22")],
    )
    .await
    .ok();
    assert_eq!(body["recipient"], serde_json::json!(["b***@e***.org"]));
    assert_eq!(body["delivery"]["state"], "queued");
    let (key, mkey) = keys_of(&body);

    let receipt = wait_for_delivery(&app, &mkey, "sent").await;
    assert_eq!(receipt["recipient"], serde_json::json!(["b***@e***.org"]));
    let messages = inbox.lock().expect("inbox").clone();
    assert_eq!(messages.len(), 1);
    let message = &messages[0];
    assert_eq!(message.to, vec!["bob@example.org".to_owned()]);
    // Undo quoted-printable soft line breaks before looking for the link.
    let data = message.data.replace("=\r\n", "");
    // Neither the secret nor its passphrase; nor the receipt link, which is the creator's only.
    assert_says(
        &data,
        &[
            "Subject: alice@example.com sent you a secret",
            "From: secrets@onetime.test",
            "Reply-To: alice@example.com",
            "multipart/alternative",
            "text/plain",
            "text/html",
            "passphrase is required",
        ],
        &["launch codes", "0451", "hunter22", &mkey],
    );
    let link = format!("http://127.0.0.1:7143/secret/{key}");
    assert_eq!(
        data.matches(&link).count(),
        3,
        "plain text once, HTML twice: {data}"
    );

    // The mailed link works, once.
    assert_eq!(
        app.reveal(&key, Some("hunter22")).await.ok()["value"],
        "the launch codes 0451"
    );
}

#[tokio::test]
async fn an_end_to_end_link_is_mailed_without_its_key_and_says_so() {
    use onetime::crypto::envelope::{seal, Contents, Key};

    let (inbox, app, auth) = mailing_as("erik@example.com").await;
    let key = Key::generate();
    let contents = Contents {
        text: "the launch codes 0451".to_owned().into(),
        file: None,
    };
    let (envelope, verifier) = (seal(&key, &contents), key.verifier());
    let form = [
        ("secret", envelope.as_str()),
        ("recipient", "frida@example.org"),
        ("e2e", "text"),
        ("verifier", verifier.as_str()),
    ];
    let body = app.post_as(&auth, "/api/v1/share", &form).await.ok();
    assert_eq!(body["e2e"], true, "{body}");
    let (secret_key, mkey) = keys_of(&body);
    wait_for_delivery(&app, &mkey, "sent").await;

    let messages = inbox.lock().expect("inbox").clone();
    let data = messages[0].data.replace("=\r\n", "");
    let link = format!("http://127.0.0.1:7143/secret/{secret_key}");
    // No key after the link, nor anywhere else.
    assert_says(
        &data,
        &[
            &link,
            "carries no key",
            "erik@example.com gives you the key another way",
        ],
        &[&format!("{link}#"), key.fragment().as_str()],
    );
}

#[tokio::test]
async fn mail_waits_out_a_dead_smtp_server_and_a_restart() {
    let port = free_port();
    let app = spawn_with_mail(port).await;
    let auth = app.account("carol@example.com", None).await;
    // SMTP is down: the create still answers at once, with the secret stored.
    let (key, mkey) = share_to(&app, &auth, "dave@example.org", &[]).await.keys();
    let receipt = wait_for_delivery(&app, &mkey, "queued").await;
    assert_eq!(receipt["state"], "new");

    // Wait for at least one failed attempt to be recorded, then restart the server.
    for _ in 0..100 {
        if app.receipt(&mkey).await.json["delivery"]["reason"].is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = app.receipt(&mkey).await.json["delivery"]["reason"].clone();
    assert!(
        reason.as_str().is_some_and(|r| r.contains("connect")),
        "{reason}"
    );
    let dir = app.stop().await;
    let app = TestApp::spawn_in(dir, &mail_env(&smtp_url(port))).await;

    // SMTP comes up: the queued mail goes out, once.
    let inbox = start_smtp(port);
    wait_for_delivery(&app, &mkey, "sent").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let messages = inbox.lock().expect("inbox").clone();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].data.replace("=\r\n", "").contains(&key));
    assert_eq!(
        app.reveal(&key, None).await.ok()["value"],
        "the launch codes 0451"
    );
}

#[tokio::test]
async fn a_refused_recipient_shows_as_failed_with_the_reason() {
    let (_inbox, app, auth) = mailing_as("erin@example.com").await;
    let (_, mkey) = share_to(&app, &auth, "reject-me@example.org", &[])
        .await
        .keys();
    let receipt = wait_for_delivery(&app, &mkey, "failed").await;
    let reason = receipt["delivery"]["reason"].as_str().expect("reason");
    assert!(reason.contains("550"), "{reason}");
    assert!(!reason.contains("reject-me@example.org"), "{reason}");
    // The secret itself is untouched by the failed mail.
    assert_eq!(receipt["state"], "new");
}

#[tokio::test]
async fn mail_test_reports_the_smtp_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let port = free_port();
    let url = smtp_url(port);
    let run = |url: String| {
        let data = data.clone();
        async move {
            let mut command = Process::command(&data);
            command
                .args(["mail", "test", "ops@example.org"])
                .env("ONETIME__MAIL__SMTP_URL", url);
            output_of(command).await
        }
    };
    let down = run(url.clone()).await;
    assert!(!down.status.success());
    let stderr = String::from_utf8_lossy(&down.stderr);
    assert!(stderr.contains("could not connect"), "{stderr}");

    let inbox = start_smtp(port);
    let up = run(url).await;
    let stdout = stdout_of_success(&up, "onetime");
    assert!(
        stdout.contains("accepted by the SMTP server: 250"),
        "{stdout}"
    );
    assert_eq!(inbox.lock().expect("inbox").len(), 1);

    let off = cli(&data, &["mail", "test", "ops@example.org"]).await;
    assert!(!off.status.success());
    assert!(String::from_utf8_lossy(&off.stderr).contains("mail.smtp_url"));
}

#[tokio::test]
async fn addresses_and_bodies_never_reach_the_logs() {
    let port = free_port();
    let inbox = start_smtp(port);
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let url = smtp_url(port);
    let server = Process::start(&data, &mail_env(&url));
    let token = add_account(&data, "frank@example.com", None).await;
    let client = reqwest::Client::new();
    let mut mkeys = Vec::new();
    for to in ["gina@example.org", "reject-hank@example.org"] {
        let body = Answer::of(
            client
                .post(format!("{}/api/v1/share", server.base))
                .header("authorization", basic("frank@example.com", &token))
                .form(&[("secret", "log-canary-secret"), ("recipient", to)]),
        )
        .await
        .ok();
        mkeys.push(body["metadata_key"].as_str().expect("mkey").to_owned());
    }
    for _ in 0..100 {
        if server.logs().matches("mail ").count() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let logs = server.kill9();
    assert!(logs.contains("mail delivered"), "{logs}");
    assert!(logs.contains("mail not delivered"), "{logs}");
    assert_eq!(inbox.lock().expect("inbox").len(), 1);
    for needle in [
        "gina@example.org",
        "reject-hank@example.org",
        "log-canary-secret",
        "sent you a secret",
    ] {
        assert!(!logs.contains(needle), "{needle} in logs: {logs}");
    }
}

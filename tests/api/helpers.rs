//! `TestApp`: one real server per test, with typed helpers for the v1 API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};

use actix_web::dev::ServerHandle;
use onetime::app::Application;
use onetime::config::Settings;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

pub use onetime_test_support::process::stdout_of_success;
pub use onetime_test_support::{
    online_replicas, wait_until, RedisCluster, RedisServer, ReplicatedCluster, SentinelGroup,
    TestPki,
};

/// The binary these tests run.
pub struct Onetime;

impl onetime_test_support::Binary for Onetime {
    const PATH: &'static str = env!("CARGO_BIN_EXE_onetime");
}

/// A running `onetime` process and everything it has logged, killed when dropped.
pub type Process = onetime_test_support::Process<Onetime>;

/// A running server and a client for it.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub dir: TempDir,
    handle: ServerHandle,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// What an API call answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// `X-OTS-Intended-Status`, if any.
    pub intended: Option<u16>,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Answer {
    /// Sends `request` and reads what it answered.
    pub async fn of(request: reqwest::RequestBuilder) -> Self {
        Self::from(request.send().await.expect("request")).await
    }

    pub async fn from(resp: reqwest::Response) -> Self {
        let status = resp.status();
        let headers = resp.headers().clone();
        let intended = headers
            .get("x-ots-intended-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = resp.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Self {
            status,
            intended,
            headers,
            text,
            json,
        }
    }

    /// Asserts success and returns the body.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        self.json
    }

    /// Asserts success and returns the body with the text it was read from.
    pub fn ok_with_text(self) -> (Value, String) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.text);
        (self.json, self.text)
    }

    /// Asserts success and returns the receipt's (secret_key, metadata_key).
    pub fn keys(self) -> (String, String) {
        keys_of(&self.ok())
    }

    /// Asserts the API's error shape: HTTP 404, intended status, and message.
    pub fn assert_error(&self, intended: u16, message: &str) {
        assert_eq!(self.status, StatusCode::NOT_FOUND, "{}", self.text);
        assert_eq!(self.intended, Some(intended), "{}", self.text);
        assert_eq!(self.json["message"], message, "{}", self.text);
    }

    /// The answer to a key that is unknown, expired, used, or locked (one answer for all, so a
    /// caller learns nothing about which).
    pub fn assert_unknown_secret(&self) {
        self.assert_error(404, "Unknown secret");
    }

    /// The answer to a burn without the right passphrase.
    pub fn assert_wrong_passphrase(&self) {
        self.assert_error(400, "Double check that passphrase");
    }

    /// The answer of a per-address rate limit.
    pub fn assert_rate_limited(&self) {
        self.assert_error(429, "Rate limit exceeded. Please try again later.");
    }

    /// The answer to a missing or wrong `Authorization`.
    pub fn assert_not_authorized(&self) {
        self.assert_error(401, "Not authorized");
    }
}

/// The (secret_key, metadata_key) of a share's answer.
pub fn keys_of(body: &Value) -> (String, String) {
    let key = |name: &str| body[name].as_str().expect(name).to_owned();
    (key("secret_key"), key("metadata_key"))
}

/// The real binary over a fresh temporary directory: the directory (removed when dropped), the
/// `data` directory inside it that the server uses, and the server.
pub fn serve(env: &[(&str, &str)]) -> (TempDir, std::path::PathBuf, Process) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let server = Process::start(&data, env);
    (dir, data, server)
}

/// Settings for a test server in `dir`: port 0, cheap scrypt, plus `overrides` (`storage.path`-style
/// keys or `ONETIME__*` variables).
pub fn test_settings(dir: &Path, overrides: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("ONETIME__SERVER__BIND".into(), "127.0.0.1:0".into()),
        ("ONETIME__SERVER__WORKERS".into(), "2".into()),
        (
            "ONETIME__STORAGE__PATH".into(),
            dir.join("data").display().to_string(),
        ),
        ("ONETIME__CRYPTO__SCRYPT_LOG_N".into(), "10".into()),
        // Links as a configured deployment has them, so tests can name them in advance; an
        // override of "" unsets it and links follow the bound address.
        (
            "ONETIME__SERVER__BASE_URL".into(),
            "http://127.0.0.1:7143".into(),
        ),
    ]);
    for (k, v) in overrides {
        env.insert(onetime_test_support::setting_var(k), (*v).into());
    }
    let defaults = concat!(env!("CARGO_MANIFEST_DIR"), "/onetime.toml");
    Settings::load(Some(Path::new(defaults)), Some(env)).expect("test settings")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(overrides: &[(&str, &str)]) -> Self {
        Self::spawn_in(tempfile::tempdir().expect("tempdir"), overrides).await
    }

    /// A server over an existing directory (a restart of a stopped one).
    pub async fn spawn_in(dir: TempDir, overrides: &[(&str, &str)]) -> Self {
        let settings = test_settings(dir.path(), overrides);
        Self::spawn_settings(dir, settings).await
    }

    /// A server over `dir` with `settings` as given (for settings the environment cannot
    /// express, such as lists of tables).
    pub async fn spawn_settings(dir: TempDir, settings: Settings) -> Self {
        let app = Application::build(settings).await.expect("build");
        let addr = app.addr();
        let handle = app.handle();
        let task = tokio::spawn(async move {
            app.run_until_stopped().await.expect("server ran");
        });
        Self {
            addr,
            client: reqwest::Client::new(),
            dir,
            handle,
            task: Some(task),
        }
    }

    /// The data directory of this server.
    pub fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// A request with `Authorization: Basic email:token`.
    pub async fn post_as(&self, auth: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        Answer::of(
            self.client
                .post(self.url(path))
                .header("authorization", auth)
                .form(form),
        )
        .await
    }

    /// Adds the account `email` (on `plan`, else the default one) and returns its
    /// `Authorization` header.
    pub async fn account(&self, email: &str, plan: Option<&str>) -> String {
        basic(email, &add_account(&self.data(), email, plan).await)
    }

    /// Shares `form` as the account behind `auth`.
    pub async fn share_as(&self, auth: &str, form: &[(&str, &str)]) -> Answer {
        self.post_as(auth, "/api/v1/share", form).await
    }

    /// A GET with `Authorization: Basic email:token`.
    pub async fn get_as(&self, auth: &str, path: &str) -> Answer {
        Answer::of(
            self.client
                .get(self.url(path))
                .header("authorization", auth),
        )
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the server gracefully and waits until the store is flushed and closed.
    pub async fn stop(mut self) -> TempDir {
        self.handle.stop(true).await;
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
        self.dir
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        Answer::of(self.client.post(self.url(path)).form(form)).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        Answer::of(self.client.get(self.url(path))).await
    }

    pub async fn share(&self, form: &[(&str, &str)]) -> Answer {
        self.post_form("/api/v1/share", form).await
    }

    /// What the two anonymous creates answer: a share of `secret`, then a generate.
    pub async fn anonymous_creates(&self, secret: &str) -> [Answer; 2] {
        [
            self.share(&[("secret", secret)]).await,
            self.post_form("/api/v1/generate", &[]).await,
        ]
    }

    /// Shares `form` anonymously and asserts the refusal: intended 400 with `message`.
    pub async fn share_refused(&self, form: &[(&str, &str)], message: &str) {
        self.share(form).await.assert_error(400, message);
    }

    /// Shares `secret` and returns (secret_key, metadata_key).
    pub async fn share_ok(&self, secret: &str, extra: &[(&str, &str)]) -> (String, String) {
        let mut form = vec![("secret", secret)];
        form.extend_from_slice(extra);
        self.share(&form).await.keys()
    }

    /// Shares `secret` behind `passphrase` and returns (secret_key, metadata_key).
    pub async fn share_guarded(&self, secret: &str, passphrase: &str) -> (String, String) {
        self.share_ok(secret, &[("passphrase", passphrase)]).await
    }

    /// Reveals the secret of the share that answered `body`, asserting success; the reveal's
    /// body.
    pub async fn reveal_shared(&self, body: &Value) -> Value {
        let key = body["secret_key"].as_str().expect("secret_key");
        self.reveal(key, None).await.ok()
    }

    pub async fn reveal(&self, key: &str, passphrase: Option<&str>) -> Answer {
        let form: Vec<_> = passphrase.map(|p| ("passphrase", p)).into_iter().collect();
        self.post_form(&format!("/api/v1/secret/{key}"), &form)
            .await
    }

    pub async fn receipt(&self, metadata_key: &str) -> Answer {
        self.get(&format!("/api/v1/private/{metadata_key}")).await
    }

    pub async fn burn(&self, metadata_key: &str, passphrase: Option<&str>) -> Answer {
        let form: Vec<_> = passphrase.map(|p| ("passphrase", p)).into_iter().collect();
        self.post_form(&format!("/api/v1/private/{metadata_key}/burn"), &form)
            .await
    }
}

/// POSTs `form` to `base` + `path` from the proxied client address `ip`, on one shared client
/// (a client per request costs more than the request), giving up after 10 s.
pub async fn post(base: &str, path: &str, form: &[(&str, &str)], ip: &str) -> Answer {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    let client = CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .expect("client")
    });
    Answer::of(
        client
            .post(format!("{base}{path}"))
            .header("x-forwarded-for", ip)
            .form(form),
    )
    .await
}

/// Reveals `secret_key` (no passphrase) on the server at `base`.
pub async fn reveal_on(base: &str, secret_key: &str) -> Answer {
    let url = format!("{base}/api/v1/secret/{secret_key}");
    Answer::of(reqwest::Client::new().post(url)).await
}

/// Shares `form` on the server at `base` from `ip`, asserting success; returns the body and the
/// path that reveals the secret.
pub async fn share_on(base: &str, form: &[(&str, &str)], ip: &str) -> (Value, String) {
    let body = post(base, "/api/v1/share", form, ip).await.ok();
    let secret_key = body["secret_key"].as_str().expect("secret_key");
    let reveal = format!("/api/v1/secret/{secret_key}");
    (body, reveal)
}

/// Asserts that `text` says each of `said` and none of `unsaid`.
pub fn assert_says(text: &str, said: &[&str], unsaid: &[&str]) {
    for needle in said {
        assert!(text.contains(needle), "{needle:?} is not in {text}");
    }
    for needle in unsaid {
        assert!(!text.contains(needle), "{needle:?} is in {text}");
    }
}

/// Every regular file under `dir` (not sockets), read whole.
pub fn read_tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push((
                    path.display().to_string(),
                    std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    out
}

/// Whether `needle` occurs anywhere in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs `onetime ARGS` over the store in `data` (reaching a running server through its admin
/// socket, or opening the store itself). Off the test's runtime thread: an in-process server's
/// admin socket is served on that runtime.
pub async fn cli(data: &Path, args: &[&str]) -> Output {
    let mut command = Process::command(data);
    command.args(args);
    output_of(command).await
}

/// Runs `command` to its end off the test's runtime thread, which an in-process server (or
/// the test's own requests) may need meanwhile.
pub async fn output_of(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || command.output().expect("run the command"))
        .await
        .expect("join")
}

/// Runs `onetime ARGS` like [`cli`], with `input` on its standard input.
pub async fn cli_with_input(data: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut command = Process::command(data);
    command.args(args);
    let input = input.to_vec();
    tokio::task::spawn_blocking(move || {
        onetime_test_support::process::run_with_input(command, &input)
    })
    .await
    .expect("join")
}

/// `onetime account add EMAIL [--plan PLAN]`; returns the token from the last stdout line.
pub async fn add_account(data: &Path, email: &str, plan: Option<&str>) -> String {
    let mut args = vec!["account", "add", email];
    if let Some(plan) = plan {
        args.extend(["--plan", plan]);
    }
    last_line_of(&cli(data, &args).await)
}

/// `onetime account rotate EMAIL`; returns the new token from the last stdout line.
pub async fn rotate_account(data: &Path, email: &str) -> String {
    last_line_of(&cli(data, &["account", "rotate", email]).await)
}

/// The last stdout line of a command that must have succeeded.
fn last_line_of(out: &Output) -> String {
    let stdout = stdout_of_success(out, "onetime");
    stdout.lines().last().expect("token line").trim().to_owned()
}

/// `Authorization: Basic` for `email:token`.
pub fn basic(email: &str, token: &str) -> String {
    use base64::Engine;
    let pair = format!("{email}:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

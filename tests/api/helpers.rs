//! `TestApp`: one real server per test, with typed helpers for the v1 API.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;

use actix_web::dev::ServerHandle;
use onetime::app::Application;
use onetime::config::Settings;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

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

    /// Asserts the API's error shape: HTTP 404, intended status, and message.
    pub fn assert_error(&self, intended: u16, message: &str) {
        assert_eq!(self.status, StatusCode::NOT_FOUND, "{}", self.text);
        assert_eq!(self.intended, Some(intended), "{}", self.text);
        assert_eq!(self.json["message"], message, "{}", self.text);
    }
}

/// Settings for a test server in `dir`: port 0, cheap scrypt, plus `overrides` as env vars.
pub fn test_settings(dir: &Path, overrides: &[(&str, &str)]) -> Settings {
    let mut env: HashMap<String, String> = HashMap::from([
        ("ONETIME__SERVER__BIND".into(), "127.0.0.1:0".into()),
        ("ONETIME__SERVER__WORKERS".into(), "2".into()),
        (
            "ONETIME__STORAGE__PATH".into(),
            dir.join("data").display().to_string(),
        ),
        ("ONETIME__CRYPTO__SCRYPT_LOG_N".into(), "10".into()),
    ]);
    for (k, v) in overrides {
        env.insert((*k).into(), (*v).into());
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
        let resp = self
            .client
            .post(self.url(path))
            .form(form)
            .send()
            .await
            .expect("request");
        Answer::from(resp).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        let resp = self
            .client
            .get(self.url(path))
            .send()
            .await
            .expect("request");
        Answer::from(resp).await
    }

    pub async fn share(&self, form: &[(&str, &str)]) -> Answer {
        self.post_form("/api/v1/share", form).await
    }

    /// Shares `secret` and returns (secret_key, metadata_key).
    pub async fn share_ok(&self, secret: &str, extra: &[(&str, &str)]) -> (String, String) {
        let mut form = vec![("secret", secret)];
        form.extend_from_slice(extra);
        let body = self.share(&form).await.ok();
        (
            body["secret_key"].as_str().expect("secret_key").to_owned(),
            body["metadata_key"]
                .as_str()
                .expect("metadata_key")
                .to_owned(),
        )
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

//! `TestApp`: one real server per test, with typed helpers for the v1 API.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use actix_web::dev::ServerHandle;
use onetime::app::Application;
use onetime::config::Settings;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;

// The library's TLS tests make their certificates with this same file.
#[path = "../../src/store/redis/test_pki.rs"]
mod test_pki;
pub use test_pki::TestPki;

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
        // Links as a configured deployment has them, so tests can name them in advance; an
        // override of "" unsets it and links follow the bound address.
        (
            "ONETIME__SERVER__BASE_URL".into(),
            "http://127.0.0.1:7143".into(),
        ),
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

    /// The data directory of this server.
    pub fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// A request with `Authorization: Basic email:token`.
    pub async fn post_as(&self, auth: &str, path: &str, form: &[(&str, &str)]) -> Answer {
        let resp = self
            .client
            .post(self.url(path))
            .header("authorization", auth)
            .form(form)
            .send()
            .await
            .expect("request");
        Answer::from(resp).await
    }

    /// A GET with `Authorization: Basic email:token`.
    pub async fn get_as(&self, auth: &str, path: &str) -> Answer {
        let resp = self
            .client
            .get(self.url(path))
            .header("authorization", auth)
            .send()
            .await
            .expect("request");
        Answer::from(resp).await
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

/// A running `onetime` process and everything it has logged.
pub struct Process {
    pub child: Child,
    pub base: String,
    logs: Arc<Mutex<String>>,
}

impl Process {
    /// Starts the real binary over `data` with extra `env`, and waits until it listens.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_under(&[], data, env)
    }

    /// [`Process::start`], run through `wrapper` (a command that runs the rest of its
    /// arguments, e.g. `["prlimit", "--nofile=256:256", "--"]`); empty: the binary itself.
    pub fn start_under(wrapper: &[&str], data: &Path, env: &[(&str, &str)]) -> Self {
        let binary = env!("CARGO_BIN_EXE_onetime");
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(binary);
                c
            }
            None => Command::new(binary),
        };
        let mut child = command
            .env("ONETIME__SERVER__BIND", "127.0.0.1:0")
            .env("ONETIME__STORAGE__PATH", data)
            .env("ONETIME__CRYPTO__SCRYPT_LOG_N", "10")
            .env("ONETIME__LOG__LEVEL", "info")
            .env_remove("RUST_LOG")
            .envs(env.iter().copied())
            .current_dir(data.parent().expect("parent"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn onetime");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            let logs = Arc::clone(&logs);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let (Some(tx), Some(at)) = (&tx, line.find("address=")) {
                        let addr = line[at + 8..].split_whitespace().next().unwrap_or("");
                        let _ = tx.send(addr.to_owned());
                    }
                    let mut logs = logs.lock().expect("logs");
                    logs.push_str(&line);
                    logs.push('\n');
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no listening line; logs: {}", logs.lock().expect("l")));
        Self {
            child,
            base: format!("http://{addr}"),
            logs,
        }
    }

    /// SIGKILL, and everything it logged.
    pub fn kill9(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
        std::thread::sleep(Duration::from_millis(100));
        let logs = self.logs.lock().expect("logs").clone();
        logs
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        self.logs.lock().expect("logs").clone()
    }
}

/// A test that fails before `kill9` leaves no server behind.
impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `onetime ARGS` over the store in `data` (reaching a running server through its admin
/// socket, or opening the store itself). Off the test's runtime thread: an in-process server's
/// admin socket is served on that runtime.
pub async fn cli(data: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_onetime"));
    command
        .args(args)
        .env("ONETIME__STORAGE__PATH", data)
        .env_remove("RUST_LOG");
    tokio::task::spawn_blocking(move || command.output().expect("run onetime"))
        .await
        .expect("join")
}

/// Runs `onetime ARGS` like [`cli`], with `input` on its standard input.
pub async fn cli_with_input(data: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut command = Command::new(env!("CARGO_BIN_EXE_onetime"));
    command
        .args(args)
        .env("ONETIME__STORAGE__PATH", data)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let input = input.to_vec();
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().expect("run onetime");
        let mut stdin = child.stdin.take().expect("stdin");
        // The command may refuse before reading all of it: a broken pipe is fine.
        let _ = stdin.write_all(&input);
        drop(stdin);
        child.wait_with_output().expect("onetime output")
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
    let out = cli(data, &args).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().last().expect("token line").trim().to_owned()
}

/// `onetime account rotate EMAIL`; returns the new token from the last stdout line.
pub async fn rotate_account(data: &Path, email: &str) -> String {
    last_line_of(&cli(data, &["account", "rotate", email]).await)
}

fn last_line_of(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

/// A real redis-server on a free loopback port, stopped when dropped.
pub struct RedisServer {
    pub port: u16,
    /// For a TLS server: its `--tls-*` arguments.
    tls: Option<Vec<String>>,
    child: Option<Child>,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A server that speaks only TLS on its port, with `pki`'s server certificate, listening on
    /// 127.0.0.1 (in the certificate) and 127.0.0.2 (not in it). With `require_client_cert`, it
    /// wants a client certificate signed by `pki.ca` (`tls-auth-clients yes`).
    pub fn start_tls(pki: &TestPki, require_client_cert: bool) -> Self {
        let path = |p: &Path| p.display().to_string();
        let auth = if require_client_cert { "yes" } else { "no" };
        Self::start_with(Some(vec![
            "--tls-cert-file".into(),
            path(&pki.server_cert),
            "--tls-key-file".into(),
            path(&pki.server_key),
            "--tls-ca-cert-file".into(),
            path(&pki.ca),
            "--tls-auth-clients".into(),
            auth.into(),
        ]))
    }

    fn start_with(tls: Option<Vec<String>>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut server = Self {
            port,
            tls,
            child: None,
        };
        server.restart();
        server
    }

    /// `redis://127.0.0.1:PORT`, or `rediss://` for a TLS server.
    pub fn url(&self) -> String {
        self.url_on("127.0.0.1")
    }

    /// The URL by another host name or address than 127.0.0.1.
    pub fn url_on(&self, host: &str) -> String {
        let scheme = if self.tls.is_some() {
            "rediss"
        } else {
            "redis"
        };
        format!("{scheme}://{host}:{}", self.port)
    }

    /// Starts (again) on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        let port = self.port.to_string();
        let mut command = Command::new("redis-server");
        match &self.tls {
            None => command.args(["--port", &port, "--bind", "127.0.0.1"]),
            Some(tls) => command
                .args(["--port", "0", "--tls-port", &port])
                .args(["--bind", "127.0.0.1 127.0.0.2"])
                .args(tls),
        };
        let child = command
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/test installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("redis-server did not start on {}", self.port);
    }

    /// Kills it (SIGKILL): a Redis that vanishes.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real 3-primary Redis Cluster from `redis-server` and `redis-cli --cluster create`, on free
/// loopback ports, stopped when dropped.
pub struct RedisCluster {
    /// Client ports of the primaries.
    pub ports: Vec<u16>,
    /// `requirepass` of every node, if any.
    password: Option<String>,
    /// Cluster bus ports, given explicitly (the default, port + 10000, may be taken).
    bus: Vec<u16>,
    /// `nodes-<port>.conf` files: a restarted node rejoins the same cluster from its file.
    dir: TempDir,
    children: Vec<Child>,
}

impl RedisCluster {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A cluster whose nodes require `password`.
    pub fn start_with_password(password: &str) -> Self {
        Self::start_with(Some(password.to_owned()))
    }

    fn start_with(password: Option<String>) -> Self {
        // Held together until all are picked, so they differ.
        let listeners: Vec<_> = (0..6)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").expect("free port"))
            .collect();
        let mut ports: Vec<u16> = listeners
            .iter()
            .map(|l| l.local_addr().expect("addr").port())
            .collect();
        drop(listeners);
        let bus = ports.split_off(3);
        let mut cluster = Self {
            ports,
            password,
            bus,
            dir: tempfile::tempdir().expect("tempdir"),
            children: Vec::new(),
        };
        cluster.restart();
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = cluster
            .redis_cli()
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli (scripts/test installs redis-tools)");
        assert!(
            created.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        cluster.wait_until_ok();
        cluster
    }

    /// `redis+cluster://` with every primary as a seed (and the password, if any).
    pub fn url(&self) -> String {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let auth = self
            .password
            .as_ref()
            .map(|p| format!(":{p}@"))
            .unwrap_or_default();
        format!("redis+cluster://{auth}{}", seeds.join(","))
    }

    /// `redis-cli`, with the password if there is one.
    fn redis_cli(&self) -> Command {
        let mut command = Command::new("redis-cli");
        if let Some(password) = &self.password {
            command.args(["--no-auth-warning", "-a", password]);
        }
        command
    }

    /// Starts every node (again, from its nodes file) and waits until each accepts connections.
    pub fn restart(&mut self) {
        for (port, bus) in self.ports.iter().zip(&self.bus) {
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args([
                    "--cluster-enabled",
                    "yes",
                    "--cluster-port",
                    &bus.to_string(),
                ])
                .arg("--cluster-config-file")
                .arg(self.dir.path().join(format!("nodes-{port}.conf")))
                .arg("--dir")
                .arg(self.dir.path())
                .args(["--save", "", "--appendonly", "no"])
                .args(self.password.iter().flat_map(|p| ["--requirepass", p]))
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server (scripts/test installs it)");
            self.children.push(child);
        }
        for port in &self.ports {
            let up = (0..200).any(|_| {
                let up = std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok();
                if !up {
                    std::thread::sleep(Duration::from_millis(25));
                }
                up
            });
            assert!(up, "redis-server did not start on {port}");
        }
    }

    /// Waits until every node says `cluster_state:ok`.
    pub fn wait_until_ok(&self) {
        for port in &self.ports {
            let ok = (0..300).any(|_| {
                let info = self
                    .redis_cli()
                    .args(["-p", &port.to_string(), "cluster", "info"])
                    .output()
                    .expect("redis-cli");
                let ok = String::from_utf8_lossy(&info.stdout).contains("cluster_state:ok");
                if !ok {
                    std::thread::sleep(Duration::from_millis(50));
                }
                ok
            });
            assert!(ok, "the cluster is not ok on {port}");
        }
    }

    /// How many keys matching `pattern` the primary on `port` holds itself.
    pub fn keys_on(&self, port: u16, pattern: &str) -> usize {
        let out = self
            .redis_cli()
            .args(["-p", &port.to_string(), "--scan", "--pattern", pattern])
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).lines().count()
    }

    /// Whether every primary holds at least one key matching `pattern`.
    pub fn on_every_primary(&self, pattern: &str) -> bool {
        self.ports.iter().all(|p| self.keys_on(*p, pattern) > 0)
    }

    /// Kills every node (SIGKILL): a cluster that vanishes.
    pub fn kill(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        self.kill();
    }
}

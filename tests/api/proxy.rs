//! The shipped `deploy/nginx.conf` in front of the real binary: TLS, links, client addresses
//! through `trust_proxy`, and bodies too large for us or for nginx (issue 14).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::helpers::{stdout_of_success, Process, TestPki};
use crate::mail::free_port;

/// The public name in the shipped config, and the one curl asks for (resolved to loopback).
const HOST: &str = "secrets.example.com";

/// A real nginx (Debian's package) running the shipped site file, stopped when dropped.
struct Nginx {
    child: Child,
    https: u16,
    http: u16,
    dir: tempfile::TempDir,
}

impl Nginx {
    /// nginx with `deploy/nginx.conf` as its only site, rewritten for this machine in four
    /// places and no more: the listen ports (loopback, free), the certificate, and the upstream.
    fn start(upstream: &str, pki: &TestPki) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let (https, http) = (free_port(), free_port());
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf"),
        )
        .expect("deploy/nginx.conf");
        let cert_dir = "/etc/letsencrypt/live/secrets.example.com";
        let mut site = shipped;
        for (from, to) in [
            ("listen [::]:80;", String::new()),
            ("listen [::]:443 ssl http2;", String::new()),
            ("listen 80;", format!("listen 127.0.0.1:{http};")),
            (
                "listen 443 ssl http2;",
                format!("listen 127.0.0.1:{https} ssl http2;"),
            ),
            (
                &format!("{cert_dir}/fullchain.pem"),
                pki.server_cert.display().to_string(),
            ),
            (
                &format!("{cert_dir}/privkey.pem"),
                pki.server_key.display().to_string(),
            ),
            ("http://127.0.0.1:7143", upstream.to_owned()),
        ] {
            assert!(site.contains(from), "deploy/nginx.conf lost `{from}`");
            site = site.replace(from, &to);
        }
        let site_path = dir.path().join("onetime.conf");
        std::fs::write(&site_path, site).expect("site");
        // What Debian's /etc/nginx/nginx.conf provides around a site, kept in the temp dir.
        // One process, no user switch (the test may run as root): nginx's own defaults
        // otherwise.
        let d = dir.path().display();
        let main = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  client_body_temp_path {d}/body;\n  \
             proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {};\n}}\n",
            site_path.display()
        );
        let conf = dir.path().join("nginx.conf");
        std::fs::write(&conf, main).expect("nginx.conf");
        let checked = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .arg("-t")
            .output()
            .expect("nginx -t (scripts/test installs nginx-light)");
        stdout_of_success(&checked, "nginx -t");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let nginx = Self {
            child,
            https,
            http,
            dir,
        };
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", https)).is_ok() {
                return nginx;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nginx did not listen: {}", nginx.errors());
    }

    fn errors(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What curl got: status, headers (lowercased names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Asserts that the header `name` is there and starts with `prefix`.
    fn assert_header_starts(&self, name: &str, prefix: &str) {
        assert!(
            self.header(name).is_some_and(|v| v.starts_with(prefix)),
            "{name} does not start with {prefix}: {:?}",
            self.headers
        );
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|_| panic!("not JSON ({}): {}", self.status, self.body))
    }
}

/// A request with curl from the loopback address `from`, to `url` on [`HOST`] at `port`.
/// `form`: a urlencoded body read from a file; `headers`: extra request headers.
fn curl(from: &str, port: u16, url: &str, form: Option<&Path>, headers: &[&str]) -> Reply {
    let mut command = Command::new("curl");
    command
        .args([
            "-sS",
            "-k",
            "-D",
            "-",
            "--max-time",
            "30",
            "--interface",
            from,
        ])
        .arg("--resolve")
        .arg(format!("{HOST}:{port}:127.0.0.1"));
    for header in headers {
        command.args(["-H", header]);
    }
    if let Some(path) = form {
        command
            .arg("--data-binary")
            .arg(format!("@{}", path.display()));
        command.args(["-H", "content-type: application/x-www-form-urlencoded"]);
    }
    let out = command.arg(url).output().expect("curl");
    let text = stdout_of_success(&out, &format!("curl {url}"));
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// A urlencoded `secret=...` body of `bytes` value bytes, in a file under `dir`.
fn secret_form(dir: &Path, name: &str, bytes: usize) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("secret={}", "s".repeat(bytes))).expect("form");
    path
}

/// The shipped nginx config in front of the real binary, with the settings its header asks for.
fn behind_nginx(extra: &[(&str, &str)]) -> (Process, Nginx, tempfile::TempDir, TestPki) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env = vec![
        ("ONETIME__SERVER__BASE_URL", "https://secrets.example.com"),
        ("ONETIME__LIMITS__CREATE_PER_IP", "3"),
    ];
    env.extend_from_slice(extra);
    let server = Process::start(&dir.path().join("data"), &env);
    let pki = TestPki::generate();
    let nginx = Nginx::start(&server.base, &pki);
    (server, nginx, dir, pki)
}

#[test]
fn links_through_nginx_use_base_url_and_plain_http_redirects() {
    // Arrange
    let (_server, nginx, dir, _pki) = behind_nginx(&[("ONETIME__SERVER__TRUST_PROXY", "true")]);
    let form = secret_form(dir.path(), "small", 20);

    // Act
    let created = curl(
        "127.0.0.2",
        nginx.https,
        &format!("https://{HOST}:{}/api/v1/share", nginx.https),
        Some(&form),
        &[],
    );
    let plain = curl(
        "127.0.0.2",
        nginx.http,
        &format!("http://{HOST}:{}/api/v1/status", nginx.http),
        None,
        &[],
    );

    // Assert: links name base_url, not the address nginx reached us on.
    assert_eq!(created.status, 200, "{}", created.body);
    let body = created.json();
    let receipt = body["metadata_url"].as_str().expect("metadata_url");
    assert!(
        receipt.starts_with("https://secrets.example.com/receipt/"),
        "{receipt}"
    );
    assert_eq!(plain.status, 301);
    plain.assert_header_starts("location", "https://secrets.example.com");
}

#[test]
fn clients_behind_nginx_are_told_apart_and_cannot_forge_their_address() {
    // Arrange: three creates per address; two clients on different loopback addresses.
    let (_server, nginx, dir, _pki) = behind_nginx(&[("ONETIME__SERVER__TRUST_PROXY", "true")]);
    let form = secret_form(dir.path(), "small", 20);
    let share = format!("https://{HOST}:{}/api/v1/share", nginx.https);

    // Act: the first client spends its budget, each time claiming another address.
    let forged: Vec<Reply> = ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"]
        .iter()
        .map(|fake| {
            let header = format!("X-Forwarded-For: {fake}");
            curl("127.0.0.2", nginx.https, &share, Some(&form), &[&header])
        })
        .collect();
    let other = curl("127.0.0.4", nginx.https, &share, Some(&form), &[]);

    // Assert: the fourth is refused (nginx appended the real address; the server believed
    // that one), while another client still has its own budget.
    for reply in &forged[..3] {
        assert_eq!(reply.status, 200, "{}", reply.body);
    }
    assert_eq!(forged[3].header("x-ots-intended-status"), Some("429"));
    assert_eq!(
        forged[3].json()["message"],
        "Rate limit exceeded. Please try again later."
    );
    assert_eq!(other.status, 200, "{}", other.body);
}

#[test]
fn without_trust_proxy_every_client_behind_nginx_is_the_proxy() {
    // Arrange: trust_proxy off (the default): the server sees only nginx's address.
    let (_server, nginx, dir, _pki) = behind_nginx(&[]);
    let form = secret_form(dir.path(), "small", 20);
    let share = format!("https://{HOST}:{}/api/v1/share", nginx.https);

    // Act: three creates from one client, then one from another.
    for _ in 0..3 {
        assert_eq!(
            curl("127.0.0.2", nginx.https, &share, Some(&form), &[]).status,
            200
        );
    }
    let other = curl("127.0.0.4", nginx.https, &share, Some(&form), &[]);

    // Assert: one budget for all, as README says: set trust_proxy behind a proxy.
    assert_eq!(other.header("x-ots-intended-status"), Some("429"));
}

#[test]
fn oversized_bodies_through_nginx_get_the_api_error_not_an_html_page() {
    // Arrange: one body over the server's limit but within nginx's, one over nginx's too.
    let (_server, nginx, dir, _pki) = behind_nginx(&[("ONETIME__SERVER__TRUST_PROXY", "true")]);
    let ours = secret_form(dir.path(), "ours", 100 * 1024);
    let nginxs = secret_form(dir.path(), "nginxs", 300 * 1024);
    let share = format!("https://{HOST}:{}/api/v1/share", nginx.https);

    // Act
    let over_ours = curl("127.0.0.2", nginx.https, &share, Some(&ours), &[]);
    let over_nginxs = curl("127.0.0.2", nginx.https, &share, Some(&nginxs), &[]);

    // Assert: the server's own error, word for word; nginx's refusal in the same shape.
    assert_eq!(over_ours.status, 404, "{}", over_ours.body);
    assert_eq!(over_ours.header("x-ots-intended-status"), Some("413"));
    assert_eq!(
        over_ours.json()["message"],
        "Secret value exceeds the maximum size of 10000 bytes"
    );
    assert_eq!(over_nginxs.status, 404, "{}", over_nginxs.body);
    assert_eq!(over_nginxs.header("x-ots-intended-status"), Some("413"));
    over_nginxs.assert_header_starts("content-type", "application/json");
    assert_eq!(over_nginxs.json()["message"], "Request body is too large");
    assert!(!over_nginxs.body.contains("<html"), "{}", over_nginxs.body);
}

#[test]
fn shipped_caddyfile_is_valid_and_formatted() {
    // Arrange: Caddy keeps its state under XDG dirs; a temp dir, so nothing lands in $HOME.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/Caddyfile");

    // Act: Debian's caddy loads and provisions the file without serving it.
    let validated = Command::new("caddy")
        .args(["validate", "--adapter", "caddyfile", "--config"])
        .arg(&file)
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .env("HOME", dir.path())
        .output()
        .expect("caddy (scripts/test installs it)");
    let formatted = Command::new("caddy")
        .arg("fmt")
        .arg(&file)
        .output()
        .expect("caddy fmt");

    // Assert
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );
    assert!(validated.status.success(), "{said}");
    assert!(said.contains("Valid configuration"), "{said}");
    let shipped = std::fs::read_to_string(&file).expect("Caddyfile");
    assert_eq!(String::from_utf8_lossy(&formatted.stdout), shipped);
}

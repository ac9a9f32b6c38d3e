//! The OpenID providers of `tests/oidc/provider.mjs` as child processes, for the API and the
//! browser tests alike (each includes this file). `npm ci` in `tests/oidc` installs the real
//! one (`scripts/test` does it when it is missing); a missing install fails the test clearly.
//! Each test binary uses part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The client secret `provider.mjs` registers for the client `onetime`.
pub const CLIENT_SECRET: &str = "onetime-test-client-secret";

/// A running provider; killed on drop.
pub struct Provider {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    /// `http://127.0.0.1:PORT`, its issuer.
    pub issuer: String,
}

impl Provider {
    /// The real `oidc-provider`; call [`Provider::register`] with the redirect URI before use.
    pub fn real() -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        assert!(
            dir.join("node_modules/oidc-provider/package.json")
                .is_file(),
            "tests/oidc/node_modules is missing: the sign-in tests need oidc-provider: run \
             `npm ci` in tests/oidc (`bash scripts/test` does it when it is missing)"
        );
        Self::start("real")
    }

    /// The hostile stand-in, which signs what [`Provider::set_mode`] asks for.
    pub fn hostile() -> Self {
        Self::start("hostile")
    }

    fn start(mode: &str) -> Self {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc");
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .arg(mode)
            .current_dir(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs tests/oidc/provider.mjs (is Node.js installed?)");
        let stdin = child.stdin.take();
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("the provider's port");
        let port: u16 = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("provider.mjs said {line:?}, not its port"));
        Self {
            child,
            stdin,
            stdout,
            issuer: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Registers the client's redirect URI with the real provider and waits until it serves.
    pub fn register(&mut self, redirect_uri: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{redirect_uri}").expect("write the redirect URI");
        stdin.flush().expect("flush");
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready", "provider.mjs did not start");
    }

    /// The next ID token the hostile provider signs: `ok`, `wrong-nonce`, `wrong-aud`,
    /// `expired`, `other-key`, `rotated`, `unverified`, `other-domain`.
    pub async fn set_mode(&self, mode: &str) {
        let status = reqwest::Client::new()
            .post(format!("{}/mode?m={mode}", self.issuer))
            .send()
            .await
            .expect("the hostile provider answers")
            .status();
        assert!(status.is_success(), "mode {mode}: {status}");
    }

    /// The `ONETIME__OIDC__*` settings of a server using this provider.
    pub fn settings(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ONETIME__OIDC__ISSUER", self.issuer.clone()),
            ("ONETIME__OIDC__CLIENT_ID", "onetime".into()),
            ("ONETIME__OIDC__CLIENT_SECRET", CLIENT_SECRET.into()),
            ("ONETIME__OIDC__ALLOWED_DOMAINS", "example.com".into()),
            ("ONETIME__OIDC__BUTTON_LABEL", "Example SSO".into()),
        ]
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

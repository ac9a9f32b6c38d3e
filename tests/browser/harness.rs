//! The rig every browser test stands on: the real `onetime` binary on a free loopback port over a
//! temp data directory, Debian's chromedriver on another, and Chromium sessions with fresh
//! profiles (one per person in the story: a creator, a recipient).
//!
//! Everything started here is stopped on drop, also when a test panics: the sessions are deleted
//! (Chromium quits), then chromedriver's process group is killed.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
pub use onetime_test_support::free_port;
use serde_json::{json, Value};
use tempfile::TempDir;

/// Debian's packages `chromium` and `chromium-driver` (`scripts/test` installs them).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// axe-core, at the version `package-lock.json` pins (`npm ci`; `scripts/test` runs it).
const AXE: &str = "node_modules/axe-core/axe.min.js";

/// The WCAG success criteria axe checks: 2.0, 2.1 and 2.2, levels A and AA.
const AXE_TAGS: [&str; 6] = [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa",
];

/// The axe-core source, read once per test binary; a missing file fails the test clearly.
fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(AXE);
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; the accessibility checks need axe-core: run `npm ci` \
                 (`bash scripts/test` does it when it is missing)",
                path.display()
            )
        })
    })
}

/// How long an element or a navigation may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(15);

/// Fails the test clearly when a browser package is missing: a browser test that cannot run must
/// not pass.
fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the browser tests need Debian's `{package}` package \
         (`bash scripts/test` installs it when run as root: apt-get install chromium chromium-driver)"
    );
}

/// Where screenshots go: `<target dir>/screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(|t| manifest.join(t))
        .unwrap_or_else(|| manifest.join("target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot directory");
    dir
}

/// The server, chromedriver and the browsers of one test.
pub struct Rig {
    // Dropped first: the browsers close while the server still answers.
    pub driver: Driver,
    pub server: Server,
}

impl Rig {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// With extra settings for the server (`limits.create_per_ip`-style keys).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        Self {
            driver: Driver::start(),
            server: Server::start_with(env),
        }
    }

    /// A desktop browser with a fresh profile, JavaScript on or off.
    pub async fn browser(&self, js: bool) -> Browser {
        self.driver
            .open(Profile {
                js,
                ..Profile::default()
            })
            .await
    }

    /// The browsers of the two people in most stories, a creator and a recipient: each with a
    /// fresh profile, JavaScript on or off.
    pub async fn creator_and_recipient(&self, js: bool) -> (Browser, Browser) {
        (self.browser(js).await, self.browser(js).await)
    }

    /// A browser with a fresh profile in `look`, JavaScript on.
    pub async fn browser_in(&self, look: Look) -> Browser {
        self.driver.open(Profile::from(look)).await
    }
}

/// The binary these tests run.
pub struct Onetime;

impl onetime_test_support::Binary for Onetime {
    const PATH: &'static str = env!("CARGO_BIN_EXE_onetime");
}

type Process = onetime_test_support::Process<Onetime>;

/// The real `onetime` binary, serving on a free loopback port.
pub struct Server {
    /// `http://127.0.0.1:PORT`, also its `server.base_url`.
    pub base: String,
    process: Process,
    http: reqwest::Client,
    dir: TempDir,
}

impl Server {
    /// Starts the binary with cheap scrypt over a temp data directory and waits until it
    /// listens; `env` adds settings (`limits.create_per_ip`-style keys).
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = vec![("ONETIME__SERVER__WORKERS", "2")];
        settings.extend_from_slice(env);
        let process = Process::start_with_base_url(&dir.path().join("data"), &settings);
        Self {
            base: process.base.clone(),
            process,
            http: reqwest::Client::new(),
            dir,
        }
    }

    /// The absolute URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Runs `onetime ARGS` against this server's store (through its admin socket), with `stdin`.
    pub fn cli(&self, args: &[&str], stdin: &str) -> Output {
        let mut command = Process::command(&self.dir.path().join("data"));
        command
            .args(args)
            .env("ONETIME__CRYPTO__SCRYPT_LOG_N", "10")
            .current_dir(self.dir.path());
        onetime_test_support::process::run_with_input(command, stdin.as_bytes())
    }

    /// Like `cli`, and fails the test unless it succeeded; returns its last stdout line.
    pub fn cli_ok(&self, args: &[&str], stdin: &str) -> String {
        let out = self.cli(args, stdin);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "onetime {} failed: {}",
            args.iter().take(2).copied().collect::<Vec<_>>().join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        stdout.lines().last().unwrap_or_default().trim().to_owned()
    }

    /// The receipt through the API, a view that is not the browser's.
    pub async fn receipt_json(&self, metadata_key: &str) -> Value {
        self.http
            .get(self.url(&format!("/api/v1/receipt/{metadata_key}")))
            .send()
            .await
            .expect("receipt request")
            .json()
            .await
            .expect("receipt JSON")
    }

    /// The receipt's state through the API.
    pub async fn state_of(&self, metadata_key: &str) -> String {
        let body = self.receipt_json(metadata_key).await;
        body["state"].as_str().unwrap_or("(no state)").to_owned()
    }

    /// `GET /api/v1/authcheck` with Basic auth; whether it answered 200.
    pub async fn token_works(&self, email: &str, token: &str) -> bool {
        self.http
            .get(self.url("/api/v1/authcheck"))
            .basic_auth(email, Some(token))
            .send()
            .await
            .expect("authcheck request")
            .status()
            == reqwest::StatusCode::OK
    }

    /// Everything the server has logged so far.
    pub fn logs(&self) -> String {
        self.process.logs()
    }
}

/// A chromedriver process on a free loopback port, in its own process group (with the
/// Chromium processes it starts).
pub struct Driver {
    port: u16,
    child: Child,
    sessions: Mutex<Vec<String>>,
    dir: TempDir,
}

/// How a browser looks at the pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Look {
    /// Desktop, 1280x900, light colour scheme.
    Light,
    /// Desktop, 1280x900, `prefers-color-scheme: dark`.
    Dark,
    /// A phone: 390x844 CSS pixels, mobile emulation.
    Phone,
}

impl Look {
    pub const ALL: [Look; 3] = [Look::Light, Look::Dark, Look::Phone];

    /// The suffix of its screenshot names.
    pub fn name(self) -> &'static str {
        match self {
            Look::Light => "light",
            Look::Dark => "dark",
            Look::Phone => "phone",
        }
    }
}

/// What a new browser session is like.
#[derive(Clone, Debug)]
pub struct Profile {
    pub js: bool,
    pub look: Look,
    /// Chromium's `Accept-Language`, e.g. `nl`.
    pub accept_language: &'static str,
}

impl From<Look> for Profile {
    /// The default profile in `look`.
    fn from(look: Look) -> Self {
        Self {
            look,
            ..Self::default()
        }
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self {
            js: true,
            look: Look::Light,
            accept_language: "en-US,en",
        }
    }
}

impl Driver {
    pub fn start() -> Self {
        require(CHROMIUM, "chromium");
        require(CHROMEDRIVER, "chromium-driver");
        let dir = tempfile::tempdir().expect("tempdir");
        for _ in 0..5 {
            let port = free_port();
            let mut command = Command::new(CHROMEDRIVER);
            command
                .arg(format!("--port={port}"))
                .arg(format!(
                    "--log-path={}",
                    dir.path().join("chromedriver.log").display()
                ))
                // Chromium's scratch files land in the temp dir removed with the driver.
                .env("TMPDIR", dir.path())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            // Its own process group, so the Chromium processes it starts can all be ended by
            // one id even when a test panics before its sessions are closed.
            std::os::unix::process::CommandExt::process_group(&mut command, 0);
            let mut child = command.spawn().expect("spawn chromedriver");
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self {
                        port,
                        child,
                        sessions: Mutex::new(Vec::new()),
                        dir,
                    };
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("chromedriver did not start on any of five free ports");
    }

    /// Opens a Chromium session with a fresh profile.
    pub async fn open(&self, profile: Profile) -> Browser {
        let profile_dir = tempfile::tempdir_in(self.dir.path()).expect("profile dir");
        let mut args = vec![
            "--headless".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--no-default-browser-check".to_owned(),
            // Without these Chromium keeps calling home, and there is no network here.
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--hide-scrollbars".to_owned(),
            format!("--user-data-dir={}", profile_dir.path().display()),
            format!("--lang={}", profile.accept_language),
        ];
        let mut prefs = json!({ "intl.accept_languages": profile.accept_language });
        if !profile.js {
            prefs["profile.managed_default_content_settings.javascript"] = json!(2);
        }
        let mut chrome = json!({ "binary": CHROMIUM, "prefs": prefs });
        match profile.look {
            Look::Light | Look::Dark => args.push("--window-size=1280,900".to_owned()),
            Look::Phone => {
                chrome["mobileEmulation"] = json!({
                    "deviceMetrics": { "width": 390, "height": 844, "pixelRatio": 3.0,
                                       "mobile": true, "touch": true },
                    "userAgent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 \
                                  (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
                });
            }
        }
        chrome["args"] = json!(args);
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), chrome);
        // Leave a surprise alert open, so a test can see it (the default dismisses it).
        caps.insert("unhandledPromptBehavior".into(), json!("ignore"));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("a Chromium session through chromedriver: {e}"));
        if let Ok(Some(id)) = client.session_id().await {
            self.sessions
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(id);
        }
        let browser = Browser {
            client,
            profile,
            _profile_dir: profile_dir,
        };
        browser.settle_look().await;
        browser
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let sessions = std::mem::take(
            self.sessions
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for id in sessions {
            delete_session(self.port, &id);
        }
        // Whatever is left of the group (chromedriver, a Chromium that did not quit): by its id.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `DELETE /session/{id}` over a plain blocking socket: it must work from `Drop`, also while a
/// panic unwinds the test's runtime.
fn delete_session(port: u16, id: &str) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let request = format!(
        "DELETE /session/{id} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n\
         Connection: close\r\n\r\n"
    );
    if stream.write_all(request.as_bytes()).is_err() {
        return;
    }
    // chromedriver keeps the connection open: read the head and `Content-Length` bytes.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(n @ 1..) = stream.read(&mut chunk) {
        answer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&answer);
        if let Some(head_end) = text.find("\r\n\r\n") {
            let length = text[..head_end]
                .lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if answer.len() >= head_end + 4 + length {
                return;
            }
        }
    }
}

/// A chromedriver extension command: `POST /session/{id}/goog/cdp/execute`, one DevTools call.
#[derive(Debug)]
struct Cdp {
    cmd: &'static str,
    params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// One Chromium session, with helpers named for what a test does on a page.
pub struct Browser {
    pub client: Client,
    pub profile: Profile,
    _profile_dir: TempDir,
}

impl Browser {
    /// Applies the colour scheme and checks that the page really sees the chosen look.
    async fn settle_look(&self) {
        let dark = self.profile.look == Look::Dark;
        if dark {
            self.cdp(
                "Emulation.setEmulatedMedia",
                json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
            )
            .await;
        }
        self.client
            .goto("about:blank")
            .await
            .expect("open about:blank");
        // A phone's layout viewport is 980 px wide on a page without a viewport tag, so its
        // width is the screen's; a desktop's is the window's.
        let seen = self
            .eval(
                "return [matchMedia('(prefers-color-scheme: dark)').matches, \
                 matchMedia('(pointer: coarse)').matches ? screen.width : innerWidth]",
            )
            .await;
        assert_eq!(seen[0], json!(dark), "prefers-color-scheme: dark");
        let width = if self.profile.look == Look::Phone {
            390
        } else {
            1280
        };
        assert_eq!(seen[1], json!(width), "viewport width");
    }

    /// One DevTools Protocol call on this session's page.
    pub async fn cdp(&self, cmd: &'static str, params: Value) -> Value {
        self.client
            .issue_cmd(Cdp { cmd, params })
            .await
            .unwrap_or_else(|e| panic!("CDP {cmd}: {e}"))
    }

    /// Runs `script` (a function body) in the page; works with the page's JavaScript off too.
    pub async fn eval(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("script `{script}`: {e}"))
    }

    /// Navigates to `url` and waits for the load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("open {}: {e}", redact(url)));
    }

    /// Reloads the current page.
    pub async fn reload(&self) {
        self.client.refresh().await.expect("reload");
    }

    /// The current URL's path.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("current URL")
            .path()
            .to_owned()
    }

    /// The HTTP status of the document now shown (Navigation Timing's `responseStatus`).
    pub async fn status(&self) -> u64 {
        let status = self
            .eval("return performance.getEntriesByType('navigation')[0].responseStatus")
            .await;
        status.as_u64().expect("a numeric response status")
    }

    /// The `lang` of `<html>`.
    pub async fn lang(&self) -> String {
        self.attr("html", "lang").await.unwrap_or_default()
    }

    /// The one element matching `css`, waiting a while for it.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + PATIENCE;
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(element) => return element,
                Err(e) if Instant::now() > deadline => {
                    panic!(
                        "no `{css}` on {} ({e}); the page says: {}",
                        self.path().await,
                        self.summary().await
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .is_empty()
    }

    /// Whether the element matching `css` is shown (not `hidden`, not `display: none`).
    pub async fn shown(&self, css: &str) -> bool {
        self.find(css)
            .await
            .is_displayed()
            .await
            .expect("displayed")
    }

    /// The element's attribute.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.expect("attribute")
    }

    /// The element's current value (a form field) or else its visible text.
    pub async fn value(&self, css: &str) -> String {
        let element = self.find(css).await;
        let tag = element.tag_name().await.expect("tag name");
        if matches!(tag.as_str(), "input" | "textarea" | "select") {
            element
                .prop("value")
                .await
                .expect("value")
                .unwrap_or_default()
        } else {
            element.text().await.expect("text")
        }
    }

    /// The element's visible text.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Types `text` into the field matching `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into `{css}`: {e}"));
    }

    /// Chooses the file at `path` in the file input at `css`.
    pub async fn choose_file(&self, css: &str, path: &Path) {
        let path = path.to_str().expect("a UTF-8 path");
        self.find(css)
            .await
            .send_keys(path)
            .await
            .unwrap_or_else(|e| panic!("choose {path} in `{css}`: {e}"));
    }

    /// Chooses the option `value` of the `<select>` at `css`.
    pub async fn choose(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("choose `{value}` in `{css}`: {e}"));
    }

    /// Clicks `css` without expecting a navigation.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click `{css}`: {e}"));
    }

    /// Clicks `css` (a submit button or a link) and waits until the next page has loaded.
    pub async fn submit(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        let deadline = Instant::now() + PATIENCE;
        // The old document's root goes stale once the next page has replaced it.
        while old.tag_name().await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "clicking `{css}` on {} led nowhere",
                self.path().await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.find("body").await;
    }

    /// Runs axe-core's WCAG 2.0-2.2 A and AA rules on the page shown (injected through
    /// WebDriver, which the page's CSP does not govern) and returns one readable line per
    /// violation: rule id, impact, what it asks, and the selectors of the elements that fail.
    pub async fn axe(&self) -> Vec<String> {
        if self.eval("return typeof window.axe").await != json!("object") {
            self.client
                .execute(axe_source(), vec![])
                .await
                .unwrap_or_else(|e| panic!("inject axe-core: {e}"));
        }
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { runOnly: { type: 'tag', values: arguments[0] },
                                     resultTypes: ['violations'] })
                   .then(r => done(r.violations.map(v =>
                     `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map(n =>
                       n.target.join(' ')).join(', ')}`)))
                   .catch(e => done([`axe failed: ${e}`]));",
                vec![json!(AXE_TAGS)],
            )
            .await
            .unwrap_or_else(|e| panic!("run axe-core: {e}"));
        serde_json::from_value(found).expect("axe's violations as lines")
    }

    /// Presses and releases `key` as the keyboard does (WebDriver key actions), on whatever
    /// has the focus.
    pub async fn press(&self, key: fantoccini::key::Key) {
        self.type_keys(&char::from(key).to_string()).await;
    }

    /// Types `text` key by key into whatever has the focus.
    pub async fn type_keys(&self, text: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut actions = KeyActions::new("keyboard".to_owned());
        for c in text.chars() {
            actions = actions
                .then(KeyAction::Down { value: c })
                .then(KeyAction::Up { value: c });
        }
        self.client
            .perform_actions(actions)
            .await
            .unwrap_or_else(|e| panic!("type {text:?}: {e}"));
    }

    /// The focused element, named for a failure message and a comparison: `#id` when it has
    /// one, else `tag.class[href]`; `body` when nothing has the focus.
    pub async fn focused(&self) -> String {
        let name = self
            .eval(
                "const e = document.activeElement;
                 if (!e) return 'body';
                 if (e.id) return '#' + e.id;
                 let name = e.tagName.toLowerCase();
                 if (e.classList.length) name += '.' + [...e.classList].join('.');
                 if (e.getAttribute('href')) name += `[href='${e.getAttribute('href')}']`;
                 return name;",
            )
            .await;
        name.as_str().unwrap_or("(none)").to_owned()
    }

    /// The text of an open alert, if one is open.
    pub async fn alert(&self) -> Option<String> {
        self.client.get_alert_text().await.ok()
    }

    /// The visible text of the page, shortened, for failure messages.
    pub async fn summary(&self) -> String {
        let text = match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.chars()
            .take(300)
            .collect::<String>()
            .replace('\n', " | ")
    }

    /// Saves a PNG of the whole page (the viewport's width, the document's height, so what lies
    /// below the fold shows too) as `<page>-<look>.png` in the screenshot directory.
    pub async fn screenshot(&self, page: &str) -> PathBuf {
        use base64::Engine;
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await;
        let (width, height) = (
            &metrics["cssLayoutViewport"]["clientWidth"],
            &metrics["cssContentSize"]["height"],
        );
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 },
                }),
            )
            .await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap_or_default())
            .expect("a base64 screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a screenshot is a PNG");
        let path = screenshot_dir().join(format!("{page}-{}.png", self.profile.look.name()));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

/// A URL fit for a failure message: the key in a secret or receipt path is left out.
fn redact(url: &str) -> String {
    match url.rfind('/') {
        Some(at) if url.len() - at > 20 => format!("{}/[key]", &url[..at]),
        _ => url.to_owned(),
    }
}

//! The real `onetime` binary: serving over a data directory on a loopback port, with
//! everything it logs collected; or running one command over a store.

use std::io::{BufRead, BufReader, Read, Write};
use std::marker::PhantomData;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::free_port;

/// The executable under test. Only a test of the package that builds it knows its path
/// (`env!("CARGO_BIN_EXE_onetime")`), so each test crate names it once:
/// `struct Onetime; impl Binary for Onetime { const PATH: &str = env!("CARGO_BIN_EXE_onetime"); }`
/// and `type Process = onetime_test_support::Process<Onetime>;`.
pub trait Binary {
    /// Absolute path of the executable.
    const PATH: &'static str;
}

/// A running `onetime` process and everything it has logged, killed when dropped.
#[derive(Debug)]
pub struct Process<B> {
    pub child: Child,
    /// `http://ADDRESS` it listens on.
    pub base: String,
    logs: Arc<Mutex<String>>,
    binary: PhantomData<B>,
}

impl<B: Binary> Process<B> {
    /// Starts the binary over `data` on a port it binds itself, with extra `env` (settings as
    /// `storage.path`-style keys or `ONETIME__*` variables), and waits until it listens.
    pub fn start(data: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_under(&[], data, env)
    }

    /// [`Process::start`], run through `wrapper` (a command that runs the rest of its
    /// arguments, e.g. `["prlimit", "--nofile=256:256", "--"]`); empty: the binary itself.
    pub fn start_under(wrapper: &[&str], data: &Path, env: &[(&str, &str)]) -> Self {
        let bind = [("ONETIME__SERVER__BIND", "127.0.0.1:0")];
        Self::spawn(wrapper, data, &bind, env).unwrap_or_else(|logs| {
            panic!("no listening line; logs: {logs}");
        })
    }

    /// [`Process::start`] on a port chosen first, which is also its `server.base_url` (links
    /// must be known before the start). Another port is tried when one is taken meanwhile.
    pub fn start_with_base_url(data: &Path, env: &[(&str, &str)]) -> Self {
        for _ in 0..5 {
            let addr = format!("127.0.0.1:{}", free_port());
            let base = format!("http://{addr}");
            let bind = [
                ("ONETIME__SERVER__BIND", addr.as_str()),
                ("ONETIME__SERVER__BASE_URL", base.as_str()),
            ];
            match Self::spawn(&[], data, &bind, env) {
                Ok(process) => return process,
                Err(logs) => eprintln!("onetime did not start; its log:\n{logs}"),
            }
        }
        panic!("onetime did not start on any of five free ports");
    }

    /// Spawns it and waits for its `address=` line: the process, or what it logged before it
    /// exited (say its port was taken) or gave up after 30 s.
    fn spawn(
        wrapper: &[&str],
        data: &Path,
        bind: &[(&str, &str)],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(B::PATH);
                c
            }
            None => Command::new(B::PATH),
        };
        let mut child = command
            .envs(bind.iter().copied())
            .env("ONETIME__STORAGE__PATH", data)
            .env("ONETIME__CRYPTO__SCRYPT_LOG_N", "10")
            .env("ONETIME__LOG__LEVEL", "info")
            .env_remove("RUST_LOG")
            .envs(crate::setting_vars(env))
            .current_dir(data.parent().expect("the data directory's parent"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn onetime");
        let logs = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        collect(Box::new(stdout), Arc::clone(&logs), Some(tx));
        collect(Box::new(stderr), Arc::clone(&logs), None);
        // The stdout reader drops its sender when the process exits: no waiting 30 s then.
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => Ok(Self {
                child,
                base: format!("http://{addr}"),
                logs,
                binary: PhantomData,
            }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let logs = lock(&logs).clone();
                Err(logs)
            }
        }
    }

    /// `onetime` for one command over the store in `data`: no `RUST_LOG` from the test's
    /// environment, so its output is what a user sees.
    pub fn command(data: &Path) -> Command {
        let mut command = Self::bare_command();
        command.env("ONETIME__STORAGE__PATH", data);
        command
    }

    /// `onetime` for one command with no store named: its arguments and configuration decide.
    /// No `RUST_LOG` from the test's environment either.
    pub fn bare_command() -> Command {
        let mut command = Command::new(B::PATH);
        command.env_remove("RUST_LOG");
        command
    }

    /// SIGKILL, and everything it logged.
    pub fn kill9(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
        std::thread::sleep(Duration::from_millis(100));
        self.logs()
    }

    /// Everything logged so far.
    pub fn logs(&self) -> String {
        lock(&self.logs).clone()
    }
}

/// A test that fails before `kill9` leaves no server behind.
impl<B> Drop for Process<B> {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` with `input` on its standard input; its output. The command may refuse
/// before reading all of it: a broken pipe is fine.
pub fn run_with_input(mut command: Command, input: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run onetime");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("onetime output")
}

/// The stdout of a finished command, asserting that it succeeded; else the message names
/// `what` and shows both of its outputs.
pub fn stdout_of_success(out: &Output, what: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The logs even when a reader thread panicked while holding them.
fn lock(logs: &Mutex<String>) -> MutexGuard<'_, String> {
    logs.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Appends each line of `stream` to `logs`; the address of the first `address=` line is sent
/// to `tx`.
fn collect(
    stream: Box<dyn Read + Send>,
    logs: Arc<Mutex<String>>,
    mut tx: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(at) = line.find("address=") {
                if let Some(tx) = tx.take() {
                    let addr = line[at + 8..].split_whitespace().next().unwrap_or("");
                    let _ = tx.send(addr.to_owned());
                }
            }
            let mut logs = lock(&logs);
            logs.push_str(&line);
            logs.push('\n');
        }
    });
}

//! `share`: reading the secret (stdin or a file), sealing it end to end unless `--plain`, and
//! building the link with its key in the fragment.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use onetime::crypto::envelope::{self, Contents, File, Key};
use serde_json::Value;
use zeroize::Zeroizing;

use super::transport::{call, http};
use super::Account;

/// What `share` sends.
pub(super) struct Share {
    pub(super) ttl: Option<humantime::Duration>,
    pub(super) passphrase: Option<Zeroizing<String>>,
    pub(super) file: Option<PathBuf>,
    pub(super) recipient: Option<String>,
    pub(super) plain: bool,
}

impl Share {
    /// Shares, and returns the full link and the receipt.
    pub(super) fn run(self, account: &Account) -> anyhow::Result<(Zeroizing<String>, Value)> {
        let base = account.base()?;
        let text = if self.file.is_some() {
            Zeroizing::new(String::new())
        } else {
            read_stdin_text()?
        };
        let file = self.file.as_deref().map(read_file).transpose()?;
        if file.is_none() && text.trim().is_empty() {
            bail!("nothing to share: the secret on stdin is empty");
        }
        let mut form: Vec<(&str, String)> = Vec::new();
        let key = Key::generate();
        if self.plain {
            if file.is_some() {
                bail!("--plain cannot share a file: files are end-to-end only");
            }
            form.push(("secret", text.to_string()));
        } else {
            let is_file = file.is_some();
            let contents = Contents { text, file };
            form.push(("secret", envelope::seal(&key, &contents)));
            form.push(("e2e", if is_file { "file" } else { "text" }.into()));
            form.push(("verifier", key.verifier()));
        }
        if let Some(ttl) = self.ttl {
            form.push(("ttl", ttl.as_secs().to_string()));
        }
        if let Some(p) = &self.passphrase {
            form.push(("passphrase", p.to_string()));
        }
        if let Some(to) = &self.recipient {
            form.push(("recipient", to.clone()));
        }
        // A file announces itself in the query: only then does the server give the body a
        // file's room.
        let query = if self.file.is_some() { "?e2e=file" } else { "" };
        let request = account.sign(
            http()?
                .post(format!("{base}/api/v1/share{query}"))
                .form(&form),
        );
        // The form holds the secret (or the passphrase): wiped once sent.
        for (_, value) in &mut form {
            zeroize::Zeroize::zeroize(value);
        }
        let receipt = call(request)?;
        let secret_key = receipt["secret_key"]
            .as_str()
            .ok_or_else(|| anyhow!("the server's answer has no secret_key"))?;
        let share_domain = receipt["share_domain"].as_str().unwrap_or_default();
        let link_base = if share_domain.is_empty() {
            base
        } else {
            format!("https://{share_domain}")
        };
        let mut link = Zeroizing::new(format!("{link_base}/secret/{secret_key}"));
        if !self.plain {
            link.push('#');
            link.push_str(&key.fragment());
        }
        Ok((link, receipt))
    }
}

/// The secret on stdin, with one trailing newline removed (`echo secret | onetime share`).
fn read_stdin_text() -> anyhow::Result<Zeroizing<String>> {
    let mut text = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the secret from stdin (it must be UTF-8 text; use --file otherwise)")?;
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    Ok(text)
}

fn read_file(path: &Path) -> anyhow::Result<File> {
    let bytes =
        Zeroizing::new(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(File {
        name,
        media_type: String::new(),
        bytes,
    })
}

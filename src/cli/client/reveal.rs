//! `reveal`: one request for the secret (a passphrase asked for on the terminal if the page
//! wants one), the envelope opened here, a file written without overwriting another.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context};
use onetime::crypto::envelope::{self, File, Key};
use zeroize::Zeroizing;

use super::transport::{call, http, split_link};

/// Reveals `link` once and writes what it holds.
pub(super) fn reveal(
    link: &str,
    output: Option<&Path>,
    force: bool,
    passphrase: Option<&str>,
) -> anyhow::Result<()> {
    let (without_key, fragment) = match link.split_once('#') {
        Some((bare, key)) => (bare, Some(key)),
        None => (link, None),
    };
    let (base, secret_key) = split_link(without_key, &["secret"])?;
    // A key that cannot be one is refused here: nothing is sent, the secret stays unread.
    let key = match fragment.filter(|f| !f.is_empty()) {
        Some(f) => Some(Key::parse(f).map_err(|_| {
            anyhow!(
                "the link's key (after #) is incomplete or damaged; the secret was not revealed"
            )
        })?),
        None => None,
    };
    let verifier = key.as_ref().map(Key::verifier);
    let attempt = |passphrase: Option<&str>| {
        let mut form: Vec<(&str, &str)> = Vec::new();
        match &verifier {
            Some(v) => form.push(("verifier", v)),
            // No key: an end-to-end secret must stay unread rather than be handed out.
            None => form.push(("require_key", "1")),
        }
        if let Some(p) = passphrase {
            form.push(("passphrase", p));
        }
        call(
            http()?
                .post(format!("{base}/api/v1/secret/{secret_key}"))
                .form(&form),
        )
    };
    let body = match attempt(passphrase) {
        Ok(body) => body,
        Err(e)
            if passphrase.is_none()
                && std::io::stdin().is_terminal()
                && asks_passphrase(&base, &secret_key) =>
        {
            drop(e);
            let typed = Zeroizing::new(
                rpassword::prompt_password("Passphrase: ").context("reading the passphrase")?,
            );
            attempt(Some(&typed))?
        }
        Err(e) => return Err(e),
    };
    let value = Zeroizing::new(
        body["value"]
            .as_str()
            .ok_or_else(|| anyhow!("the server's answer has no value"))?
            .to_owned(),
    );
    if !value.starts_with(envelope::PREFIX) {
        print_text(&value)?;
        return Ok(());
    }
    let key = key.ok_or_else(|| {
        anyhow!("this secret is end-to-end and the link has no key (the part after #)")
    })?;
    let contents = envelope::open(&key, &value).map_err(|_| {
        anyhow!("could not decrypt: the key is wrong or the encrypted secret was changed (it is now deleted)")
    })?;
    if !contents.text.is_empty() || contents.file.is_none() {
        print_text(&contents.text)?;
    }
    if let Some(file) = &contents.file {
        let path = write_file(file, output, force)?;
        eprintln!("wrote {} ({} bytes)", path.display(), file.bytes.len());
    }
    Ok(())
}

/// Whether the secret's page asks for a passphrase (this server's page contract; a server
/// whose page differs never prompts: pass --passphrase-file).
fn asks_passphrase(base: &str, secret_key: &str) -> bool {
    http()
        .ok()
        .and_then(|c| c.get(format!("{base}/secret/{secret_key}")).send().ok())
        .and_then(|r| r.text().ok())
        .is_some_and(|page| page.contains("id=\"passphrase\""))
}

fn print_text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Writes a revealed file: under `output` (a directory: the file's own name inside it; else
/// that name), or under its own name here. Never overwrites without `force`.
fn write_file(file: &File, output: Option<&Path>, force: bool) -> anyhow::Result<PathBuf> {
    // The name is the sender's: only its last component, never a path.
    let own = Path::new(&file.name)
        .file_name()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .map_or_else(|| PathBuf::from("secret.bin"), PathBuf::from);
    let path = match output {
        Some(dir) if dir.is_dir() => dir.join(&own),
        Some(path) => path.to_owned(),
        None => own,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut handle = options.open(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            anyhow!("{} exists; pass --force to overwrite it", path.display())
        }
        _ => anyhow!("writing {}: {e}", path.display()),
    })?;
    handle
        .write_all(&file.bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_written_under_its_own_name_and_never_over_another() {
        let dir = tempfile::tempdir().expect("dir");
        let file = File {
            name: "../../etc/evil name.txt".into(),
            media_type: String::new(),
            bytes: Zeroizing::new(b"x".to_vec()),
        };
        let path = write_file(&file, Some(dir.path()), false).expect("written");
        assert_eq!(path, dir.path().join("evil name.txt"));
        assert!(
            write_file(&file, Some(dir.path()), false).is_err(),
            "no overwrite"
        );
        assert!(
            write_file(&file, Some(dir.path()), true).is_ok(),
            "with --force"
        );
        let named = dir.path().join("chosen");
        assert_eq!(
            write_file(&file, Some(&named), false).expect("named"),
            named
        );
    }
}

//! `onetime backup DEST`: a snapshot of every live record, taken through the running server's
//! admin socket (or from the store directly when no server runs), written to a new file.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use onetime::admin::{self, AdminRequest, AdminResponse};
use onetime::app;
use onetime::backup::{Header, FORMAT, VERSION};
use onetime::config::Settings;

use super::progress::Progress;

/// Takes the snapshot and writes it to `dest` (mode 0600, never over an existing file).
pub async fn run(settings: &Settings, dest: &Path, with_key: bool) -> anyhow::Result<()> {
    if dest.exists() {
        anyhow::bail!(
            "{} exists; a backup never overwrites a file",
            dest.display()
        );
    }
    let used = app::store_description(settings);
    let socket = admin::socket_path(settings);
    let (schema, created, records) = match admin::request(&socket, &AdminRequest::Backup).await? {
        Some(AdminResponse::Snapshot {
            schema,
            created,
            records,
        }) => {
            eprintln!("backup: store {used}, through the running server");
            (schema, created, records)
        }
        Some(AdminResponse::Error { message }) => anyhow::bail!(message),
        Some(_) => anyhow::bail!("unexpected answer from the server to a backup request"),
        None => {
            let (store, _) = app::open_offline(settings).await?;
            eprintln!("backup: store {used}, opened directly: no server is running");
            match admin::snapshot(store.as_ref()).await {
                AdminResponse::Snapshot {
                    schema,
                    created,
                    records,
                } => (schema, created, records),
                AdminResponse::Error { message } => anyhow::bail!(message),
                _ => anyhow::bail!("unexpected snapshot"),
            }
        }
    };
    let server_key = if with_key {
        eprintln!(
            "backup: WARNING: this backup holds the server key. With it, anyone who has the \
             backup file and a secret's link can read that secret: keep the file as safe as \
             the server itself, or back up without --with-key and keep the key apart"
        );
        Some(server_key_hex(settings)?)
    } else {
        None
    };
    let header = Header {
        format: FORMAT.into(),
        version: VERSION,
        schema,
        created,
        records: records.len() as u64,
        server_key,
    };
    // Owner-only, and never a file someone else prepared.
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .map_err(|e| anyhow::anyhow!("creating {}: {e}", dest.display()))?;
    let mut out = std::io::BufWriter::new(file);
    writeln!(out, "{}", serde_json::to_string(&header)?)?;
    let progress = Progress::start("backup", "records", Some(records.len() as u64));
    for line in &records {
        writeln!(out, "{line}")?;
        progress.inc(1);
    }
    out.into_inner()
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", dest.display()))?
        .sync_all()?;
    progress.finish(&format!("written to {}", dest.display()));
    println!(
        "backed up {} records to {}{}",
        records.len(),
        dest.display(),
        if with_key {
            " (with the server key)"
        } else {
            " (without the server key: keep server.key or server.secret apart)"
        }
    );
    Ok(())
}

/// The server key as 64 hex characters: `server.secret`, or `<storage.path>/server.key`.
fn server_key_hex(settings: &Settings) -> anyhow::Result<String> {
    if let Some(secret) = &settings.server.secret {
        return Ok(secret.0.trim().to_ascii_lowercase());
    }
    let path = settings.storage.path.join("server.key");
    let key =
        std::fs::read(&path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
    Ok(hex::encode(key))
}

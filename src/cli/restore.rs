//! `onetime restore SRC`: a backup into an empty store, with the server stopped.

use std::io::BufRead;
use std::os::unix::fs::OpenOptionsExt;

use onetime::admin;
use onetime::app;
use onetime::backup;
use onetime::config::Settings;
use onetime::store::SCHEMA_VERSION;

use super::progress::Progress;

/// Restores `src` into the configured store, which must be empty.
pub async fn run(settings: &Settings, src: &std::path::Path) -> anyhow::Result<()> {
    let file =
        std::fs::File::open(src).map_err(|e| anyhow::anyhow!("opening {}: {e}", src.display()))?;
    let mut lines = std::io::BufReader::new(file).lines();
    let first = lines
        .next()
        .ok_or_else(|| anyhow::anyhow!("{} is empty", src.display()))??;
    let header = backup::header(&first)?;
    if header.schema != SCHEMA_VERSION {
        anyhow::bail!(
            "the backup's records are in store schema {}, this onetime writes schema \
             {SCHEMA_VERSION}: restore it with the version that made it, start that server \
             once (it upgrades the store), then upgrade",
            header.schema
        );
    }
    // A running server holds the store: restoring under it would mix two histories.
    if std::os::unix::net::UnixStream::connect(admin::socket_path(settings)).is_ok() {
        anyhow::bail!("a server is running on this store: stop it, then restore");
    }
    let store = app::open_store(settings).await?;
    if !store.export(0).await?.is_empty() {
        anyhow::bail!(
            "the store {} is not empty: restore only into an empty store",
            app::store_description(settings)
        );
    }
    restore_key(settings, header.server_key.as_deref())?;
    let progress = Progress::start("restore", "records", Some(header.records));
    let mut restored = 0u64;
    for line in lines {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        store.import(&backup::decode(&line)?).await?;
        restored += 1;
        progress.inc(1);
    }
    store.flush().await?;
    if restored != header.records {
        anyhow::bail!(
            "the backup is cut short: {restored} of {} records restored",
            header.records
        );
    }
    progress.finish(&format!(
        "restored into {}",
        app::store_description(settings)
    ));
    println!("restored {restored} records from {}", src.display());
    Ok(())
}

/// Puts the backup's server key in place, or checks the one in place matches it. Without a
/// key in the backup, the original key must be provided by hand.
fn restore_key(settings: &Settings, key: Option<&str>) -> anyhow::Result<()> {
    let path = settings.storage.path.join("server.key");
    match (key, &settings.server.secret) {
        (Some(key), Some(secret)) => {
            if !key.eq_ignore_ascii_case(secret.0.trim()) {
                anyhow::bail!("the backup's server key differs from server.secret");
            }
        }
        (Some(key), None) => {
            let bytes = hex::decode(key)
                .map_err(|_| anyhow::anyhow!("the backup's server key is not hex"))?;
            match std::fs::read(&path) {
                Ok(existing) if existing == bytes => {}
                Ok(_) => anyhow::bail!(
                    "{} holds another key than the backup's: move it away first",
                    path.display()
                ),
                Err(_) => {
                    let mut file = std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o600)
                        .open(&path)?;
                    std::io::Write::write_all(&mut file, &bytes)?;
                    file.sync_all()?;
                    eprintln!("restore: server key written to {}", path.display());
                }
            }
        }
        (None, None) if !path.is_file() => eprintln!(
            "restore: the backup holds no server key: copy the original server.key to {} \
             (or set server.secret) before starting the server, or nothing restored can be read",
            path.display()
        ),
        (None, _) => {}
    }
    Ok(())
}

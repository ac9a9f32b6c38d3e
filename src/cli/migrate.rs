//! `onetime migrate --from A --to B`: copies everything live from one store to another.

use onetime::app;
use onetime::config::Settings;

/// `onetime migrate`: export everything live from one store, import it into the other.
pub async fn run(settings: &Settings, from: &str, to: &str) -> anyhow::Result<()> {
    use onetime::store::Exported;
    let source = app::open_named_store(settings, from, false).await?;
    let destination = app::open_named_store(settings, to, true).await?;
    eprintln!("migrate: reading everything live from {from}");
    let records = source.export(onetime::domain::unix_now()).await?;
    let progress =
        super::progress::Progress::start("migrate", "records", Some(records.len() as u64));
    let (mut secrets, mut unread, mut accounts, mut recent, mut mails) = (0, 0, 0, 0, 0);
    for record in &records {
        destination.import(record).await?;
        progress.inc(1);
        match record {
            Exported::Secret(e) => {
                secrets += 1;
                unread += usize::from(e.secret.is_some());
            }
            Exported::Account(_) => accounts += 1,
            Exported::Recent(_) => recent += 1,
            Exported::Mail(_) => mails += 1,
        }
    }
    destination.flush().await?;
    progress.finish(&format!("copied into {to}"));
    println!(
        "copied {secrets} receipts ({unread} with unread secrets), {accounts} accounts, \
         {recent} recent entries, {mails} queued mails"
    );
    if let Some(path) = from.strip_prefix("sled:") {
        println!(
            "the destination must use the same server key: set server.secret on every node to \
             the hex of {path}/server.key (xxd -p -c 64 {path}/server.key)"
        );
    }
    Ok(())
}

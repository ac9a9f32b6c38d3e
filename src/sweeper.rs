//! Background reclaiming of expired records.
//!
//! Correctness never depends on this task: expiry is enforced when a record is read. The
//! sweeper only gives the space back.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::domain::unix_now;
use crate::store::{Sweep, SweepReport};

/// Starts a task that sweeps `store` every `interval` until aborted.
pub fn spawn(store: Arc<dyn Sweep>, interval: Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            sweep_once(store.as_ref()).await;
        }
    })
}

/// One sweep at the current time, logged; what it removed, or `None` when it failed.
pub async fn sweep_once(store: &dyn Sweep) -> Option<SweepReport> {
    let swept = store.sweep_expired(unix_now()).await;
    match &swept {
        Ok(report) if report.secrets + report.receipts > 0 => {
            crate::metrics::secrets_expired(report.secrets);
            tracing::info!(
                secrets = report.secrets,
                receipts = report.receipts,
                "swept expired records"
            )
        }
        Ok(_) => tracing::debug!("sweep found nothing expired"),
        Err(e) => tracing::warn!(error = %e, "sweep failed; will retry next interval"),
    }
    swept.ok()
}

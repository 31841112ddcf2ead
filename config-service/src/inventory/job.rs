//! One inventory sync pass, the `inventory` job of `serve`, and the CSV import.
//!
//! A pass pulls the platform's hosts WITHOUT holding the store, then pairs and stores them in
//! one transaction. Its outcome is kept (`inventory_runs`, shown on the console); a failure
//! opens an `inventory_sync` incident (one alert) that a later good pass resolves (one recovery
//! notice). Nothing in a pass can stop the job: the next pass runs at the next period.
//!
//! Spug disables an account after 3 failed logins in 24 h, so credentials refused once are not
//! tried again by the job until the password (file) changes; `inventory sync` by hand does try.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::matching::{match_hosts, HostMatch};
use super::spug::SpugClient;
use super::{csv_import, InventoryHost, InventorySettings, SyncError};
use crate::settings::Secret;
use crate::store::{Applied, InventoryRun, Store, StoreError};
use crate::{lock, Clock, SharedStore};

pub const INCIDENT_KIND: &str = "inventory_sync";

/// The platform session and what the job remembers between passes.
pub struct Syncer {
    settings: InventorySettings,
    client: SpugClient,
    /// SHA-256 of a password the platform refused (never the password itself).
    refused_password: Option<[u8; 32]>,
    refused_error: Option<SyncError>,
}

/// The job's syncer, shared with the console's "sync now"; None when `[inventory]` is unset.
pub type SharedSyncer = Arc<Mutex<Option<Syncer>>>;

pub fn shared(settings: Option<&InventorySettings>) -> SharedSyncer {
    Arc::new(Mutex::new(settings.map(Syncer::new)))
}

#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Sync(#[from] SyncError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Syncer {
    pub fn new(settings: &InventorySettings) -> Syncer {
        Syncer {
            settings: settings.clone(),
            client: SpugClient::new(settings),
            refused_password: None,
            refused_error: None,
        }
    }

    /// The password as of now: the file is read again at each pass.
    fn password(&self) -> Result<Secret, SyncError> {
        let mut settings = self.settings.clone();
        settings.resolve_password_file().map_err(SyncError::Settings)?;
        settings.password.ok_or_else(|| SyncError::Settings("inventory: no password".into()))
    }

    /// Pull the platform's hosts. `retry_refused`: log in even with a password refused before.
    pub fn pull(&mut self, retry_refused: bool) -> Result<Vec<InventoryHost>, SyncError> {
        let password = self.password()?;
        let fingerprint: [u8; 32] = Sha256::digest(password.expose().as_bytes()).into();
        if !retry_refused && self.refused_password == Some(fingerprint) {
            if let Some(e) = &self.refused_error {
                return Err(e.clone());
            }
        }
        let pulled = self.client.fetch(&password, self.settings.node_from);
        match &pulled {
            Err(e) if e.blocks_login() => {
                self.refused_password = Some(fingerprint);
                self.refused_error = Some(e.clone());
            }
            _ => {
                self.refused_password = None;
                self.refused_error = None;
            }
        }
        pulled
    }

    /// One whole pass: pull, pair, store, record, alert.
    pub fn pass(
        &mut self,
        store: &SharedStore,
        clock: &dyn Clock,
        retry_refused: bool,
    ) -> Result<Applied, PassError> {
        let source = self.settings.source();
        let started_at = clock.now();
        let pulled = self.pull(retry_refused);
        let mut store = lock(store);
        match pulled {
            Ok(hosts) => {
                let applied = apply(&mut store, source, &hosts, clock.now())?;
                finish(&mut store, source, started_at, clock.now(), Ok(applied))?;
                Ok(applied)
            }
            Err(e) => {
                finish(&mut store, source, started_at, clock.now(), Err(&e))?;
                Err(e.into())
            }
        }
    }
}

/// Pair `hosts` with the machines and store them.
pub fn apply(
    store: &mut Store,
    source: &str,
    hosts: &[InventoryHost],
    now: i64,
) -> Result<Applied, StoreError> {
    let machines = store.inventory_machine_keys()?;
    let links = store.inventory_links(source)?;
    let matches: Vec<HostMatch> = match_hosts(hosts, &machines, &links);
    store.apply_inventory(source, hosts, &matches, now)
}

/// Pair `source`'s stored hosts again (after an operator's link changed).
pub fn rematch(store: &mut Store, source: &str, now: i64) -> Result<Applied, StoreError> {
    let hosts = store.inventory_hosts_of(source)?;
    apply(store, source, &hosts, now)
}

/// The CSV import (`POST /api/inventory`): all rows or none.
pub fn import_csv(store: &mut Store, text: &str, now: i64) -> Result<Result<Applied, String>, StoreError> {
    let hosts = match csv_import::parse(text) {
        Ok(hosts) => hosts,
        Err(e) => return Ok(Err(e)),
    };
    let applied = apply(store, "csv", &hosts, now)?;
    finish(store, "csv", now, now, Ok(applied))?;
    Ok(Ok(applied))
}

/// Record the pass and open or resolve its incident (one alert each way).
fn finish(
    store: &mut Store,
    source: &str,
    started_at: i64,
    now: i64,
    outcome: Result<Applied, &SyncError>,
) -> Result<(), StoreError> {
    let (applied, error) = match outcome {
        Ok(applied) => (applied, None),
        Err(e) => (Applied::default(), Some(e)),
    };
    store.record_inventory_run(&InventoryRun {
        source: source.to_owned(),
        started_at,
        finished_at: now,
        ok: error.is_none(),
        error_code: error.map(|e| e.code().to_owned()),
        error: error.map(ToString::to_string),
        hosts: applied.hosts,
        matched: applied.matched,
        changed: applied.changed,
    })?;
    let (_, doc) = store.global()?;
    let zh = doc.alerts.language != "en";
    let channels: Vec<String> = doc.alerts.channels.iter().map(|c| c.name.clone()).collect();
    let open = store.open_incidents()?.into_iter().find(|i| i.kind == INCIDENT_KIND);
    match (error, open) {
        (Some(e), None) => {
            log::warn!("inventory sync from {source} failed: {e}");
            let (title, body) = if zh {
                ("资产同步失败", format!("从 {source} 同步主机名称和节点失败：{e}"))
            } else {
                ("Inventory sync failed", format!("syncing host names and nodes from {source} failed: {e}"))
            };
            let incident = store.open_incident(INCIDENT_KIND, None, &body, false, now)?;
            store.add_alert(Some(incident), "opened", None, title, &body, &channels, now)?;
        }
        (Some(e), Some(_)) => log::warn!("inventory sync from {source} still failing: {e}"),
        (None, Some(incident)) => {
            let (title, body) = if zh {
                ("资产同步恢复", format!("从 {source} 同步主机名称和节点已恢复"))
            } else {
                (
                    "Inventory sync recovered",
                    format!("syncing host names and nodes from {source} works again"),
                )
            };
            store.resolve_incident(incident.id, now)?;
            store.add_alert(Some(incident.id), "recovered", None, title, &body, &channels, now)?;
        }
        (None, None) => {}
    }
    Ok(())
}

/// The `inventory` job of `serve`: a pass every `interval_secs`, the first at start.
pub fn spawn(
    syncer: SharedSyncer,
    store: SharedStore,
    clock: Arc<dyn Clock>,
) -> Option<tokio::task::JoinHandle<()>> {
    let period = lock_syncer(&syncer).as_ref().map(|s| Duration::from_secs(s.settings.interval_secs))?;
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let (syncer, store, clock) = (Arc::clone(&syncer), Arc::clone(&store), Arc::clone(&clock));
            let pass = tokio::task::spawn_blocking(move || {
                lock_syncer(&syncer).as_mut().map(|s| s.pass(&store, clock.as_ref(), false))
            });
            match pass.await {
                Ok(Some(Ok(a))) if a.changed > 0 => {
                    log::info!(
                        "inventory: {} hosts, {} paired, {} machines changed",
                        a.hosts,
                        a.matched,
                        a.changed
                    )
                }
                Ok(Some(Err(PassError::Store(e)))) => {
                    log::error!("inventory pass failed (retried next period): {e}")
                }
                Ok(_) => {}
                Err(e) => log::error!("job inventory panicked: {e}"),
            }
        }
    }))
}

pub fn lock_syncer(syncer: &SharedSyncer) -> std::sync::MutexGuard<'_, Option<Syncer>> {
    syncer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

//! Global and per-machine config, with their audit.

use super::*;

impl Store {
    /// A machine's config as its agent gets it: with its node's offsets (`node_offset_*`).
    pub fn machine_config(&self, machine_id: i64) -> Result<MachineConfig, StoreError> {
        self.conn
            .query_row(
                &format!("SELECT {} FROM {CONFIG_FROM} WHERE c.machine_id = ?1", config_columns!()),
                [machine_id],
                |r| config_from_row(r, 0),
            )
            .optional()?
            .ok_or_else(|| StoreError::NotFound(format!("no machine {machine_id}")))
    }

    /// The global config in force and its version.
    pub fn global(&self) -> Result<(i64, GlobalDoc), StoreError> {
        let (version, doc): (i64, String) = self.conn.query_row(
            "SELECT version, doc FROM global_config ORDER BY version DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let doc = serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("global config {version}: {e}")))?;
        Ok((version, doc))
    }

    /// Store a new version of the global config (when it differs) and audit each changed field.
    pub fn update_global(&mut self, doc: &GlobalDoc, actor: &str, now: i64) -> Result<i64, StoreError> {
        let (version, old) = self.global()?;
        if &old == doc {
            return Ok(version);
        }
        let tx = self.write_tx()?;
        let new_version = version + 1;
        tx.execute(
            "INSERT INTO global_config (version, doc, changed_at, changed_by) VALUES (?1, ?2, ?3, ?4)",
            params![new_version, to_json(doc)?, now, actor],
        )?;
        let old_flat = flatten(&old.redacted(version));
        let new_flat = flatten(&doc.redacted(new_version));
        for (field, new_value) in &new_flat {
            let old_value = old_flat.iter().find(|(f, _)| f == field).map(|(_, v)| v.clone());
            if field != "version" && old_value.as_ref() != Some(new_value) {
                audit(
                    &tx,
                    now,
                    actor,
                    "global_config",
                    &new_version.to_string(),
                    field,
                    old_value,
                    Some(new_value.clone()),
                )?;
            }
        }
        if old.customer.secret != doc.customer.secret {
            audit(
                &tx,
                now,
                actor,
                "global_config",
                &new_version.to_string(),
                "customer.secret",
                Some("<old>".into()),
                Some("<changed>".into()),
            )?;
        }
        for (field, old_value) in &old_flat {
            if !new_flat.iter().any(|(f, _)| f == field) {
                audit(
                    &tx,
                    now,
                    actor,
                    "global_config",
                    &new_version.to_string(),
                    field,
                    Some(old_value.clone()),
                    None,
                )?;
            }
        }
        tx.commit()?;
        Ok(new_version)
    }

    // ---- admin: machines ----
}

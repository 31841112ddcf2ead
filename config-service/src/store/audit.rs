//! The audit log.

use super::*;

#[derive(Debug, Clone, Serialize)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    pub entity: String,
    pub entity_id: String,
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    /// The config level the change was made at (`global`, `node`, `machine`); None for other
    /// entities (a machine's host name, users...).
    pub level: Option<&'static str>,
}

/// Where an audited entity sits among the config levels (`proto::offset::Level`).
pub fn level_of(entity: &str) -> Option<&'static str> {
    use pushagent_proto::offset::Level;
    match entity {
        "global_config" => Some(Level::Global.as_str()),
        NODE_ENTITY => Some(Level::Node.as_str()),
        "machine_config" => Some(Level::Machine.as_str()),
        _ => None,
    }
}

impl Store {
    pub fn list_audit(&self, limit: u32, offset: u64) -> Result<(u64, Vec<AuditRow>), StoreError> {
        self.page(
            "audit_log",
            None,
            "id, at, actor, entity, entity_id, field, old_value, new_value",
            "id DESC",
            limit,
            offset,
            |r| {
                let entity: String = r.get(3)?;
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    level: level_of(&entity),
                    entity,
                    entity_id: r.get(4)?,
                    field: r.get(5)?,
                    old_value: r.get(6)?,
                    new_value: r.get(7)?,
                })
            },
        )
    }
}

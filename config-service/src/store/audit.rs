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
                Ok(AuditRow {
                    id: r.get(0)?,
                    at: r.get(1)?,
                    actor: r.get(2)?,
                    entity: r.get(3)?,
                    entity_id: r.get(4)?,
                    field: r.get(5)?,
                    old_value: r.get(6)?,
                    new_value: r.get(7)?,
                })
            },
        )
    }
}

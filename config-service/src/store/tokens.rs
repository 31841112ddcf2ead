//! Users, sessions, API and enrollment tokens.

use super::*;

/// The login state of one user.
#[derive(Debug, Clone)]
pub struct UserLogin {
    pub id: i64,
    pub password_hash: String,
    pub failed_logins: i64,
    pub locked_until: i64,
}

/// A stored enrollment token as the console lists it (never the token).
#[derive(Debug, Clone, Serialize)]
pub struct EnrollmentTokenRow {
    pub id: i64,
    pub created_at: i64,
    pub created_by: String,
    pub revoked_at: Option<i64>,
}

impl Store {
    pub fn enrollment_tokens(&self) -> Result<Vec<EnrollmentTokenRow>, StoreError> {
        let rows = self
            .conn
            .prepare("SELECT id, created_at, created_by, revoked_at FROM enrollment_tokens ORDER BY id DESC")?
            .query_map([], |r| {
                Ok(EnrollmentTokenRow {
                    id: r.get(0)?,
                    created_at: r.get(1)?,
                    created_by: r.get(2)?,
                    revoked_at: r.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Store a new enrollment token (its hash), revoking the others when `revoke_others`
    /// (a rotation); audited. Returns its id and the ids revoked.
    pub fn create_enrollment_token(
        &mut self,
        token_hash: &str,
        actor: &str,
        revoke_others: bool,
        now: i64,
    ) -> Result<(i64, Vec<i64>), StoreError> {
        let tx = self.write_tx()?;
        let revoked = if revoke_others {
            tx.prepare("UPDATE enrollment_tokens SET revoked_at = ?1 WHERE revoked_at IS NULL RETURNING id")?
                .query_map([now], |r| r.get(0))?
                .collect::<Result<Vec<i64>, _>>()?
        } else {
            Vec::new()
        };
        tx.execute(
            "INSERT INTO enrollment_tokens (token_hash, created_at, created_by) VALUES (?1, ?2, ?3)",
            params![token_hash, now, actor],
        )?;
        let id = tx.last_insert_rowid();
        audit(&tx, now, actor, "enrollment_token", &id.to_string(), "created", None, Some("active".into()))?;
        for old in &revoked {
            audit(
                &tx,
                now,
                actor,
                "enrollment_token",
                &old.to_string(),
                "revoked",
                Some("active".into()),
                Some("revoked".into()),
            )?;
        }
        tx.commit()?;
        Ok((id, revoked))
    }

    pub fn revoke_enrollment_token(&mut self, id: i64, actor: &str, now: i64) -> Result<(), StoreError> {
        let tx = self.write_tx()?;
        let changed = tx.execute(
            "UPDATE enrollment_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, now],
        )?;
        if changed == 0 {
            return Err(StoreError::NotFound(format!("no active enrollment token {id}")));
        }
        audit(
            &tx,
            now,
            actor,
            "enrollment_token",
            &id.to_string(),
            "revoked",
            Some("active".into()),
            Some("revoked".into()),
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn add_enrollment_token(&self, token_hash: &str, now: i64) -> Result<(), StoreError> {
        self.conn.execute(
            "INSERT INTO enrollment_tokens (token_hash, created_at) VALUES (?1, ?2)",
            params![token_hash, now],
        )?;
        Ok(())
    }

    /// A stored, not revoked enrollment token.
    pub fn enrollment_token_valid(&self, token_hash: &str) -> Result<bool, StoreError> {
        Ok(self.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM enrollment_tokens WHERE token_hash = ?1 AND revoked_at IS NULL)",
            [token_hash],
            |r| r.get(0),
        )?)
    }

    pub fn add_api_token(&self, name: &str, token_hash: &str, now: i64) -> Result<(), StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO api_tokens (name, token_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            params![name, token_hash, now],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!("an API token named {name:?} exists already")));
        }
        Ok(())
    }

    pub fn api_token_name(&self, token_hash: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row("SELECT name FROM api_tokens WHERE token_hash = ?1", [token_hash], |r| r.get(0))
            .optional()?)
    }

    pub fn add_user(&self, name: &str, password_hash: &str, now: i64) -> Result<(), StoreError> {
        let inserted = self.conn.execute(
            "INSERT INTO users (name, password_hash, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            params![name, password_hash, now],
        )?;
        if inserted == 0 {
            return Err(StoreError::Conflict(format!("user {name:?} exists already")));
        }
        Ok(())
    }

    /// New password; also lifts a lockout.
    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM login_throttle WHERE name = ?1", [throttle_key(name)])?;
        let updated = self.conn.execute(
            "UPDATE users SET password_hash = ?2, failed_logins = 0, locked_until = 0 WHERE name = ?1",
            params![name, password_hash],
        )?;
        if updated == 0 {
            return Err(StoreError::NotFound(format!("no user {name:?}")));
        }
        Ok(())
    }

    pub fn user_login(&self, name: &str) -> Result<Option<UserLogin>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, password_hash, failed_logins, locked_until FROM users WHERE name = ?1",
                [name],
                |r| {
                    Ok(UserLogin {
                        id: r.get(0)?,
                        password_hash: r.get(1)?,
                        failed_logins: r.get(2)?,
                        locked_until: r.get(3)?,
                    })
                },
            )
            .optional()?)
    }

    /// Count an attempt of `name` before its password is checked: Ok = check it, Err(secs) =
    /// locked for that long. At most `max_failures` attempts are let through (in flight or
    /// failed; a success takes back only its own); the next locks the name for `lock_secs`.
    /// Counts are forgotten a lock period after the name's last attempt.
    pub fn login_admit(
        &mut self,
        name: &str,
        now: i64,
        max_failures: i64,
        lock_secs: i64,
    ) -> Result<Result<(), i64>, StoreError> {
        let key = throttle_key(name);
        let tx = self.write_tx()?;
        tx.execute(
            "DELETE FROM login_throttle WHERE last_at < ?1 AND locked_until <= ?2",
            params![now - lock_secs, now],
        )?;
        let (failures, locked_until): (i64, i64) = tx
            .query_row("SELECT failures, locked_until FROM login_throttle WHERE name = ?1", [&key], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?
            .unwrap_or((0, 0));
        let answer = if locked_until > now {
            Err(locked_until - now)
        } else if failures >= max_failures {
            tx.execute(
                "UPDATE login_throttle SET failures = 0, locked_until = ?2, last_at = ?3 WHERE name = ?1",
                params![key, now + lock_secs, now],
            )?;
            Err(lock_secs)
        } else {
            tx.execute(
                "INSERT INTO login_throttle (name, failures, last_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (name) DO UPDATE SET failures = failures + 1, last_at = ?2",
                params![key, now],
            )?;
            Ok(())
        };
        tx.commit()?;
        Ok(answer)
    }

    /// An admitted attempt that was not checked (no hashing slot): it does not count.
    pub fn login_not_checked(&self, name: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE login_throttle SET failures = MAX(failures - 1, 0) WHERE name = ?1",
            [throttle_key(name)],
        )?;
        Ok(())
    }

    /// The right password: this attempt is taken back, the others' stay counted (they may be
    /// in flight: a success never reopens the budget for a flood running beside it). Counts
    /// are forgotten a lock period after the name's last attempt.
    pub fn login_checked_ok(&self, name: &str) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE login_throttle SET failures = MAX(failures - 1, 0) WHERE name = ?1",
            [throttle_key(name)],
        )?;
        Ok(())
    }

    pub fn login_succeeded(
        &self,
        user_id: i64,
        session_hash: &str,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        self.conn.execute("UPDATE users SET failed_logins = 0 WHERE id = ?1", [user_id])?;
        self.conn.execute(
            "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
            params![session_hash, user_id, expires_at],
        )?;
        Ok(())
    }

    pub fn session_user(&self, session_hash: &str, now: i64) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn
            .query_row(
                "SELECT u.name FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![session_hash, now],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn delete_session(&self, session_hash: &str) -> Result<(), StoreError> {
        self.conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [session_hash])?;
        Ok(())
    }

    // ---- agents ----
}

/// The throttle's key of a user name: long names (never a real user) are cut, so a flood of
/// random names cannot grow a row without bound.
fn throttle_key(name: &str) -> String {
    name.chars().take(128).collect()
}

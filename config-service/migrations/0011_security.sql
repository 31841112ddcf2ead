-- Evidence belongs to the machine that produced it (issue 11).

-- Who holds each MAC: one open claim (released_at NULL) per MAC; closed rows say which
-- machines held it before (their history under it stays theirs).
CREATE TABLE mac_claims (
    id          INTEGER PRIMARY KEY,
    mac         TEXT NOT NULL,
    machine_id  INTEGER NOT NULL REFERENCES machines (id),
    claimed_at  INTEGER NOT NULL,
    released_at INTEGER
);
CREATE UNIQUE INDEX mac_claims_open ON mac_claims (mac) WHERE released_at IS NULL;
CREATE INDEX mac_claims_machine ON mac_claims (machine_id, mac);

-- Today's MACs: the machine seen last holds each; the others held it before.
INSERT INTO mac_claims (mac, machine_id, claimed_at, released_at)
SELECT m.mac, m.id, m.first_seen_at,
    CASE WHEN m.id = (SELECT o.id FROM machines o WHERE o.mac = m.mac ORDER BY o.last_seen_at DESC, o.id DESC LIMIT 1)
         THEN NULL ELSE m.last_seen_at END
FROM machines m;
-- MACs a machine left behind.
INSERT INTO mac_claims (mac, machine_id, claimed_at, released_at)
SELECT DISTINCT h.old_mac, h.machine_id, 0, h.changed_at FROM mac_history h
WHERE NOT EXISTS (SELECT 1 FROM mac_claims c WHERE c.mac = h.old_mac AND c.machine_id = h.machine_id);

-- A MAC refused to a machine because another live machine holds it; alerted once per row.
CREATE TABLE mac_claim_refusals (
    id         INTEGER PRIMARY KEY,
    mac        TEXT NOT NULL,
    machine_id INTEGER NOT NULL REFERENCES machines (id),
    owner_id   INTEGER NOT NULL REFERENCES machines (id),
    what       TEXT NOT NULL,               -- heartbeat | register | history
    first_at   INTEGER NOT NULL,
    last_at    INTEGER NOT NULL,
    times      INTEGER NOT NULL DEFAULT 1,
    alerted    INTEGER NOT NULL DEFAULT 0
);
-- One row (and one alert) per MAC, claimant and holder; repeats only count.
CREATE UNIQUE INDEX mac_claim_refusals_pair ON mac_claim_refusals (mac, machine_id, owner_id);
CREATE INDEX mac_claim_refusals_alerted ON mac_claim_refusals (alerted);

-- A history item sent again under a stored identity with other values (or by another
-- machine): kept beside the stored row, never silently dropped; alerted once.
CREATE TABLE history_conflicts (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,                -- push | verification | held | skipped
    machine_id  INTEGER NOT NULL REFERENCES machines (id),
    mac         TEXT NOT NULL,
    flux_hour   TEXT NOT NULL,
    stored_machine_id INTEGER NOT NULL,
    sent        TEXT NOT NULL,                -- the item as sent (JSON)
    received_at INTEGER NOT NULL,
    alerted     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX history_conflicts_alerted ON history_conflicts (alerted);

-- When the machine's token was last used by a heartbeat: a re-registration of a machine whose
-- token is in use is a clone, not a takeover.
ALTER TABLE machines ADD COLUMN token_used_at INTEGER;
UPDATE machines SET token_used_at = last_seen_at WHERE agent_time IS NOT NULL;

-- Enrollment tokens: who made them, and revoked ones stop working (kept for the audit).
ALTER TABLE enrollment_tokens ADD COLUMN created_by TEXT NOT NULL DEFAULT 'cli';
ALTER TABLE enrollment_tokens ADD COLUMN revoked_at INTEGER;

-- Login throttle per user name, known or not (so both answer the same).
CREATE TABLE login_throttle (
    name         TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER NOT NULL DEFAULT 0,
    last_at      INTEGER NOT NULL
);

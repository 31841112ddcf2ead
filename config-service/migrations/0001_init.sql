-- The config service's store: machines, their config, global config, push history,
-- verifications, held hours, incidents/alerts/deliveries, audit log, users and tokens.

CREATE TABLE machines (
    id                    INTEGER PRIMARY KEY,
    machine_uid           TEXT NOT NULL UNIQUE,      -- /etc/machine-id
    hostname              TEXT NOT NULL,
    mac                   TEXT NOT NULL,
    agent_version         TEXT NOT NULL,
    facts                 TEXT NOT NULL DEFAULT '{}', -- raw `pushagent info` JSON
    interfaces            TEXT NOT NULL DEFAULT '[]', -- JSON list of InterfaceReport
    chosen_interface      TEXT,
    ambiguous             INTEGER NOT NULL DEFAULT 0,
    backlog_outbox_hours  INTEGER NOT NULL DEFAULT 0,
    backlog_history_items INTEGER NOT NULL DEFAULT 0,
    backlog_held_hours    INTEGER NOT NULL DEFAULT 0,
    last_push             TEXT,                       -- JSON LastPush
    agent_time            INTEGER,
    first_seen_at         INTEGER NOT NULL,
    last_seen_at          INTEGER NOT NULL,
    token_hash            TEXT UNIQUE
);
CREATE INDEX machines_mac ON machines (mac);

CREATE TABLE mac_history (
    id          INTEGER PRIMARY KEY,
    machine_id  INTEGER NOT NULL REFERENCES machines (id),
    old_mac     TEXT NOT NULL,
    new_mac     TEXT NOT NULL,
    changed_at  INTEGER NOT NULL,
    alerted     INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE machine_config (
    machine_id   INTEGER PRIMARY KEY REFERENCES machines (id),
    version      INTEGER NOT NULL,
    push_enabled INTEGER NOT NULL,
    acceptance   TEXT NOT NULL,
    interface    TEXT,
    offset_bp    INTEGER,
    node         TEXT,
    isp_id       INTEGER,
    device_type  INTEGER,
    updated_at   INTEGER NOT NULL
);

-- Every version is kept; the highest is in force.
CREATE TABLE global_config (
    version    INTEGER PRIMARY KEY,
    doc        TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    changed_by TEXT NOT NULL
);

CREATE TABLE push_history (
    id            INTEGER PRIMARY KEY,
    machine_id    INTEGER NOT NULL REFERENCES machines (id),
    mac           TEXT NOT NULL,
    flux_hour     TEXT NOT NULL,
    version       INTEGER NOT NULL,
    attempt       INTEGER NOT NULL,
    raw_bytes     INTEGER NOT NULL,
    pushed_bytes  INTEGER NOT NULL,
    raw_points    TEXT NOT NULL,
    pushed_points TEXT NOT NULL,
    offset_bp     INTEGER NOT NULL,
    status        TEXT NOT NULL,
    http_status   INTEGER,
    code          INTEGER,
    message       TEXT,
    attempted_at  INTEGER NOT NULL,
    received_at   INTEGER NOT NULL,
    UNIQUE (mac, flux_hour, version, attempt)
);
CREATE INDEX push_history_machine ON push_history (machine_id, attempted_at);
CREATE INDEX push_history_hour ON push_history (flux_hour);
CREATE INDEX push_history_attempted ON push_history (attempted_at);

CREATE TABLE verifications (
    id          INTEGER PRIMARY KEY,
    machine_id  INTEGER NOT NULL REFERENCES machines (id),
    mac         TEXT NOT NULL,
    flux_hour   TEXT NOT NULL,
    version     INTEGER NOT NULL,
    matched     INTEGER NOT NULL,
    corrected   INTEGER NOT NULL,
    verified_at INTEGER NOT NULL,
    message     TEXT,
    UNIQUE (mac, flux_hour, version, verified_at)
);
CREATE INDEX verifications_machine ON verifications (machine_id, verified_at);

CREATE TABLE held_hours (
    id         INTEGER PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines (id),
    mac        TEXT NOT NULL,
    flux_hour  TEXT NOT NULL,
    reason     TEXT NOT NULL,
    held_at    INTEGER NOT NULL,
    UNIQUE (mac, flux_hour)
);

-- One row per incident (a condition of one kind on one machine, or a storm); open while
-- resolved_at is NULL.
CREATE TABLE incidents (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    machine_id       INTEGER REFERENCES machines (id),
    opened_at        INTEGER NOT NULL,
    resolved_at      INTEGER,
    last_notified_at INTEGER NOT NULL,
    summary          TEXT NOT NULL,
    quiet            INTEGER NOT NULL DEFAULT 0   -- opened inside a storm summary
);
CREATE INDEX incidents_open ON incidents (kind, machine_id, resolved_at);

-- One row per message sent about an incident (opened, reminder, recovered, storm, event).
CREATE TABLE alerts (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER REFERENCES incidents (id),
    kind        TEXT NOT NULL,
    machine_id  INTEGER,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    alert_id        INTEGER NOT NULL REFERENCES alerts (id),
    channel         TEXT NOT NULL,   -- channel name
    status          TEXT NOT NULL,   -- pending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at        INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    entity    TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    field     TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT
);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    expires_at INTEGER NOT NULL
);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

CREATE TABLE enrollment_tokens (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL
);

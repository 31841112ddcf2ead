-- The push outbox: one report per (mac, hour), committed BEFORE its first send, with every
-- attempt and every verification against the customer's copy.
CREATE TABLE report (
    mac             TEXT    NOT NULL,          -- canonical aa:bb:cc:dd:ee:ff
    flux_hour       TEXT    NOT NULL,          -- canonical YYYYMMDDHH in the report time zone
    hour_start      INTEGER NOT NULL,          -- unix seconds
    raw_points      TEXT    NOT NULL,          -- JSON [12] billed bytes as measured
    pushed_points   TEXT    NOT NULL,          -- JSON [12] after the offset
    offset_bp       INTEGER NOT NULL,          -- offset in hundredths of a percent
    offset_source   TEXT    NOT NULL,          -- 'machine' | 'global'
    direction       TEXT    NOT NULL,          -- tx | rx | max | sum
    slot_flags      INTEGER NOT NULL,          -- OR of the hour's slot flags
    missing_slots   INTEGER NOT NULL,          -- slots of the hour with no data (counted as 0)
    version         INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'held', 'skipped_off')),
    reason          TEXT,                      -- why held / skipped
    solo            INTEGER NOT NULL DEFAULT 0,-- send alone (its batch was refused as invalid)
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,          -- unix ms
    last_error      TEXT,
    created_at      INTEGER NOT NULL,          -- unix ms
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    verify_next_at  INTEGER,                   -- unix ms; NULL = no more checks
    verify_until    INTEGER,
    verify_result   TEXT,
    PRIMARY KEY (mac, flux_hour)
) WITHOUT ROWID;
CREATE INDEX report_due ON report (state, next_attempt_at);
CREATE INDEX report_verify ON report (verify_next_at);

CREATE TABLE push_attempt (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    mac         TEXT    NOT NULL,
    flux_hour   TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    at_ms       INTEGER NOT NULL,
    http_status INTEGER,
    code        INTEGER,
    outcome     TEXT    NOT NULL,   -- accepted | invalid | conflict | auth_refused | retry
    message     TEXT    NOT NULL,
    duration_ms INTEGER NOT NULL,
    raw_total   INTEGER NOT NULL,
    pushed_total INTEGER NOT NULL
);
CREATE INDEX push_attempt_by_report ON push_attempt (mac, flux_hour);

CREATE TABLE verification (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    mac       TEXT    NOT NULL,
    flux_hour TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    result    TEXT    NOT NULL CHECK (result IN ('match', 'corrected', 'missing', 'unverifiable')),
    detail    TEXT    NOT NULL
);

-- The next report hour to build (unix seconds of its start).
CREATE TABLE push_cursor (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    next_hour  INTEGER NOT NULL
);

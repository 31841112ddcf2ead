-- The customer's odd answers (issue 10 §2). SQLite cannot ALTER a CHECK, so `report` and
-- `verification` are rebuilt with the same rows and their indexes recreated.
--
-- report.state gains:
--   'unverifiable'      the customer's copy could not be read until verify_until (query
--                       failures, unreadable record): its own state, never a mismatch;
--   'correction_failed' the customer's copy still differed after max_corrections_per_hour
--                       corrections: held for an operator (`pushagent push --hour` releases it).
-- report.corrections: version raises made because the customer's copy differed or conflicted.
-- report.verify_failures: checks in a row that could not read the customer's copy (backoff).
CREATE TABLE report_new (
    mac             TEXT    NOT NULL,
    flux_hour       TEXT    NOT NULL,
    hour_start      INTEGER NOT NULL,
    raw_points      TEXT    NOT NULL,
    pushed_points   TEXT    NOT NULL,
    offset_bp       INTEGER NOT NULL,
    offset_source   TEXT    NOT NULL,
    direction       TEXT    NOT NULL,
    slot_flags      INTEGER NOT NULL,
    missing_slots   INTEGER NOT NULL,
    version         INTEGER NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'held', 'skipped_off',
                                                      'unverifiable', 'correction_failed')),
    reason          TEXT,
    solo            INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    sent_at         INTEGER,
    verify_next_at  INTEGER,
    verify_until    INTEGER,
    verify_result   TEXT,
    held_mirrored   INTEGER NOT NULL DEFAULT 0,
    off_switches    TEXT    NOT NULL DEFAULT '',
    skip_mirrored   INTEGER NOT NULL DEFAULT 0,
    off_slots       INTEGER NOT NULL DEFAULT 0,
    offset_fixed_bytes INTEGER NOT NULL DEFAULT 0,
    corrections     INTEGER NOT NULL DEFAULT 0,
    verify_failures INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (mac, flux_hour)
) WITHOUT ROWID;
INSERT INTO report_new (mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp, offset_source,
    direction, slot_flags, missing_slots, version, state, reason, solo, attempts, next_attempt_at,
    last_error, created_at, updated_at, sent_at, verify_next_at, verify_until, verify_result,
    held_mirrored, off_switches, skip_mirrored, off_slots, offset_fixed_bytes)
SELECT mac, flux_hour, hour_start, raw_points, pushed_points, offset_bp, offset_source,
    direction, slot_flags, missing_slots, version, state, reason, solo, attempts, next_attempt_at,
    last_error, created_at, updated_at, sent_at, verify_next_at, verify_until, verify_result,
    held_mirrored, off_switches, skip_mirrored, off_slots, offset_fixed_bytes
FROM report;
DROP TABLE report;
ALTER TABLE report_new RENAME TO report;
-- Every index on report as migrations 2..10 left them (report_verify was superseded in 8).
CREATE INDEX report_due ON report (state, next_attempt_at);
CREATE INDEX report_verify_due ON report (state, verify_next_at);
CREATE INDEX report_by_hour ON report (hour_start);

-- verification.result gains 'correction_failed' and 'customer_extra' (see
-- pushagent_proto::agent::VERIFY_*); each check keeps the version of the customer's copy it
-- compared and the customer's 12 points as read (JSON), NULL when nothing was read.
CREATE TABLE verification_new (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    mac       TEXT    NOT NULL,
    flux_hour TEXT    NOT NULL,
    at_ms     INTEGER NOT NULL,
    result    TEXT    NOT NULL CHECK (result IN ('match', 'corrected', 'missing', 'unverifiable',
                                                 'correction_failed', 'customer_extra')),
    detail    TEXT    NOT NULL,
    version   INTEGER NOT NULL DEFAULT 0,
    mirrored  INTEGER NOT NULL DEFAULT 0,
    checked_version INTEGER,
    customer_points TEXT
);
INSERT INTO verification_new (id, mac, flux_hour, at_ms, result, detail, version, mirrored)
SELECT id, mac, flux_hour, at_ms, result, detail, version, mirrored FROM verification;
DROP TABLE verification;
ALTER TABLE verification_new RENAME TO verification;
CREATE INDEX verification_unmirrored ON verification (mirrored, id);
CREATE INDEX verification_by_report ON verification (mac, flux_hour);

-- History items the config service refused as invalid (HTTP 400) when sent alone: recorded
-- here and skipped, so one bad item never blocks every later one.
CREATE TABLE mirror_refused (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,   -- push | verification | held | skipped
    mac     TEXT    NOT NULL,
    flux_hour TEXT  NOT NULL,
    at_ms   INTEGER NOT NULL,
    status  INTEGER NOT NULL,
    message TEXT    NOT NULL
);

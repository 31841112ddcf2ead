-- Hours an agent deliberately did not report because a push switch was off when it built
-- them (they are never reported later). Kept apart from push_history: they are not push
-- attempts, so they take no part in the history counts, the latest-attempt table, the
-- failure checks or the CSV. One row per (mac, flux_hour): resending is a no-op.
CREATE TABLE skipped_hours (
    id          INTEGER PRIMARY KEY,
    machine_id  INTEGER NOT NULL REFERENCES machines (id),
    mac         TEXT NOT NULL,
    flux_hour   TEXT NOT NULL,
    reason      TEXT NOT NULL,                -- 'switched_off'
    switches    TEXT NOT NULL DEFAULT '',     -- switches that were off: 'machine,global,local' subset; '' = not known
    raw_bytes   INTEGER NOT NULL,             -- billed bytes the agent measured in the hour (no offset)
    decided_at  INTEGER NOT NULL,             -- when the agent built the hour (unix secs)
    received_at INTEGER NOT NULL,
    UNIQUE (mac, flux_hour)
);
CREATE INDEX skipped_hours_machine ON skipped_hours (machine_id, flux_hour);
CREATE INDEX skipped_hours_decided ON skipped_hours (decided_at);

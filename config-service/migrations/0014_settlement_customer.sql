-- The customer's copy in the settlement (issue 14), and a compact row layout; the slots of a
-- pushed hour that a push switch sent as 0 (issue 10 §3).
ALTER TABLE push_history ADD COLUMN off_slots INTEGER NOT NULL DEFAULT 0;
-- Verifications keep what a new agent says of the customer's copy (issue 10 §2): the outcome,
-- the customer's version it compared, and the customer's 12 points as read (JSON array).
ALTER TABLE verifications ADD COLUMN state TEXT;
ALTER TABLE verifications ADD COLUMN checked_version INTEGER;
ALTER TABLE verifications ADD COLUMN customer_points TEXT;
-- Settlement rows, second layout (store/settlement_codec.rs): one blob of varints for the 288
-- raw, pushed and customer points, one for the 24 hour states, so a row fits in one page.
-- The rows are rebuilt from the stored history by Rust code run in this migration's
-- transaction (settlement::backfill).
DROP TABLE settlement_days;
CREATE TABLE settlement_days (
    id              INTEGER PRIMARY KEY,
    machine_id      INTEGER NOT NULL REFERENCES machines (id),
    mac             TEXT NOT NULL,
    day             TEXT NOT NULL,       -- YYYYMMDD in the agent's report time zone
    utc_offset_secs INTEGER NOT NULL,    -- that time zone (the machine's, when it was stored)
    points          BLOB NOT NULL,
    hours           BLOB NOT NULL,
    UNIQUE (mac, utc_offset_secs, day)
);
CREATE INDEX settlement_days_machine ON settlement_days (machine_id, day);

-- Settlement (95th percentiles per machine and node): one row per (MAC, report day as the agent
-- named its hours), with the day's 288 five-minute points as arrays, kept from the push history
-- as it arrives (store/settlement.rs): the latest successful version of each hour wins.
--   raw, pushed: 288 × u64 little-endian (bytes of each slot; 0 where the hour was not pushed)
--   hours:       24 × (push version u32, push attempt u32, verified version u32, verified_at i64,
--                matched u8), little-endian; push version 0 = no successful push of that hour
-- The rows are filled from the existing history by Rust code run in this migration's
-- transaction (settlement::backfill), since the arrays are built in Rust.
CREATE TABLE settlement_days (
    id              INTEGER PRIMARY KEY,
    machine_id      INTEGER NOT NULL REFERENCES machines (id),
    mac             TEXT NOT NULL,
    day             TEXT NOT NULL,       -- YYYYMMDD in the agent's report time zone
    utc_offset_secs INTEGER NOT NULL,    -- that time zone (the machine's, when it was stored)
    raw             BLOB NOT NULL,
    pushed          BLOB NOT NULL,
    hours           BLOB NOT NULL,
    UNIQUE (mac, utc_offset_secs, day)
);
CREATE INDEX settlement_days_machine ON settlement_days (machine_id, day);

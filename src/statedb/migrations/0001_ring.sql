-- The local ring: 5-minute slots per MAC, the last counter reading, and notable events.
CREATE TABLE slot (
    mac         TEXT    NOT NULL,
    slot_start  INTEGER NOT NULL,          -- unix seconds, a multiple of 300
    ifname      TEXT    NOT NULL,
    rx_bytes    INTEGER NOT NULL DEFAULT 0,
    tx_bytes    INTEGER NOT NULL DEFAULT 0,
    rx_packets  INTEGER NOT NULL DEFAULT 0,
    tx_packets  INTEGER NOT NULL DEFAULT 0,
    rx_errors   INTEGER NOT NULL DEFAULT 0,
    tx_errors   INTEGER NOT NULL DEFAULT 0,
    rx_dropped  INTEGER NOT NULL DEFAULT 0,
    tx_dropped  INTEGER NOT NULL DEFAULT 0,
    covered_ms  INTEGER NOT NULL DEFAULT 0, -- time of the slot covered by readings or spreads
    samples     INTEGER NOT NULL DEFAULT 0, -- readings that ended inside the slot
    flags       INTEGER NOT NULL DEFAULT 0, -- tally::flag bits
    closed      INTEGER NOT NULL DEFAULT 0, -- 1 once a reading at or after its end is in
    PRIMARY KEY (mac, slot_start)
) WITHOUT ROWID;
CREATE INDEX slot_by_time ON slot (slot_start);

-- Exactly one row: the last reading (JSON of tally::LastReading) and whether the agent
-- stopped cleanly after it.
CREATE TABLE last_reading (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    reading    TEXT    NOT NULL,
    clean_stop INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE event (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms  INTEGER NOT NULL,
    kind   TEXT    NOT NULL,
    detail TEXT    NOT NULL
);
CREATE INDEX event_by_time ON event (at_ms);

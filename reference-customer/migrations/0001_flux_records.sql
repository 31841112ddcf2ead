-- The customer's copy: per (mac, flux_hour) the record with the highest version pushed.
CREATE TABLE flux_record (
    mac           TEXT    NOT NULL,
    flux_hour     TEXT    NOT NULL,
    flux_dat      TEXT    NOT NULL,
    provider_id   TEXT    NOT NULL,
    provider_uiid TEXT    NOT NULL,
    isp_id        INTEGER NOT NULL,
    v0  INTEGER NOT NULL, v1  INTEGER NOT NULL, v2  INTEGER NOT NULL, v3  INTEGER NOT NULL,
    v4  INTEGER NOT NULL, v5  INTEGER NOT NULL, v6  INTEGER NOT NULL, v7  INTEGER NOT NULL,
    v8  INTEGER NOT NULL, v9  INTEGER NOT NULL, v10 INTEGER NOT NULL, v11 INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    device_type   INTEGER NOT NULL,
    stored_at     INTEGER NOT NULL, -- unix secs of the push that stored this version
    PRIMARY KEY (mac, flux_hour)
);

CREATE INDEX flux_record_by_day ON flux_record (mac, flux_dat, flux_hour);

-- Every accepted push, for the dump.
CREATE TABLE push (
    id          INTEGER PRIMARY KEY,
    received_at INTEGER NOT NULL, -- unix secs
    records     INTEGER NOT NULL
);

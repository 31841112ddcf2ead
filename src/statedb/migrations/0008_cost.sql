-- Cost that does not grow with history.
-- The push loop asks every few minutes "which sent hour is verified next, and which are due":
-- with (state, verify_next_at) both answers come from the due rows alone, not from every
-- report ever sent (`report_due` is (state, next_attempt_at); `report_verify` alone could
-- not skip the sent hours whose checks ended). Superseded: report_verify.
CREATE INDEX report_verify_due ON report (state, verify_next_at);
DROP INDEX report_verify;
-- Retention and the CLI's day views find hours by time, and a report's verifications by key.
CREATE INDEX report_by_hour ON report (hour_start);
CREATE INDEX verification_by_report ON verification (mac, flux_hour);

-- Upkeep of the file itself: when the full integrity check last ran (unix ms). Every start
-- checks the header, the schema and the ring's tables; the whole file only once a period.
CREATE TABLE upkeep (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    full_check_at_ms  INTEGER NOT NULL
);

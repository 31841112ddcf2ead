-- The agent's customer request number (profiles with a sequence header, e.g. `X-Seq`):
-- one row, incremented and committed before each request, so a number is never reused.
CREATE TABLE request_sequence (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    last INTEGER NOT NULL
);
INSERT INTO request_sequence (id, last) VALUES (1, 0);

-- The checks read each machine's latest push attempts by when the service received them (an
-- agent's clock may be wrong): the machine's rows in receive order.
CREATE INDEX push_history_received ON push_history (machine_id, received_at);

-- Every reading closes the slots that ended: it asks for the open ones only (a handful),
-- not for every slot of the ring's 35 days.
CREATE INDEX slot_open ON slot (slot_start, mac) WHERE closed = 0;

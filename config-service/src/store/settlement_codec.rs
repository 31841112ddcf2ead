//! The stored form of one settlement row (one MAC's report day): its 288 raw, pushed and
//! customer points and the state of its 24 hours, as two compact blobs of varints
//! (`integer-encoding`), so that a row fits in one database page (no overflow chain to walk
//! when a fleet's month is read). Layout (migrations/0014_settlement_customer.sql):
//!
//! - `points`: format byte 1, then per slot: raw (unsigned varint) and pushed − raw (signed,
//!   zigzag varint, wrapping: exact for any u64); then, for the slots of the hours whose
//!   customer's copy was read with a record, customer − pushed (the same way). Pushed is raw
//!   plus the offset and the customer's copy is mostly the pushed value, so the differences
//!   take one to four bytes; the customer's points of other hours are 0.
//! - `hours`: format byte 1, then per hour the fields of [`HourState`] in order, as varints.

use integer_encoding::VarInt;

use super::StoreError;

pub(super) const SLOTS_PER_DAY: usize = pushagent_proto::settlement::SLOTS_PER_DAY;
pub(super) const HOURS: usize = 24;
pub(super) const SLOTS_PER_HOUR: usize = 12;
const FORMAT: u8 = 1;

/// What the settlement knows of one report hour of one MAC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct HourState {
    /// 0: no successful push of this hour.
    pub push_version: u32,
    pub push_attempt: u32,
    /// The latest verification of this hour (by `verified_at`): which version, and whether the
    /// customer's copy matched it.
    pub verified_version: u32,
    pub verified_at: i64,
    pub matched: bool,
    /// The customer's copy of this hour in `DayRow::customer` was read by the verification at
    /// `customer_at` of our version `customer_version` (what we had pushed then; 0 for an hour
    /// the customer holds that we never pushed). `customer_at` 0: never read.
    pub customer_version: u32,
    pub customer_at: i64,
    /// That read found a record (false: the customer held nothing for this hour).
    pub customer_held: bool,
}

impl HourState {
    /// The customer's points of this hour are known for the version in force.
    pub fn customer_known(&self) -> bool {
        self.customer_at != 0 && self.customer_version == self.push_version
    }
}

/// One (MAC, report day) row, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DayRow {
    pub raw: Vec<u64>,
    pub pushed: Vec<u64>,
    /// The customer's points where `hours[h].customer_at != 0`, else 0.
    pub customer: Vec<u64>,
    pub hours: [HourState; HOURS],
}

impl Default for DayRow {
    fn default() -> DayRow {
        DayRow {
            raw: vec![0; SLOTS_PER_DAY],
            pushed: vec![0; SLOTS_PER_DAY],
            customer: vec![0; SLOTS_PER_DAY],
            hours: [HourState::default(); HOURS],
        }
    }
}

fn put<V: VarInt>(out: &mut Vec<u8>, value: V) {
    let start = out.len();
    out.resize(start + value.required_space(), 0);
    value.encode_var(&mut out[start..]);
}

/// Reads varints off a blob; every read names what was cut short.
struct Reader<'a> {
    blob: &'a [u8],
    what: &'static str,
}

impl Reader<'_> {
    fn take<V: VarInt>(&mut self) -> Result<V, StoreError> {
        let (value, used) = V::decode_var(self.blob)
            .ok_or_else(|| StoreError::Corrupt(format!("settlement {}: cut short", self.what)))?;
        self.blob = &self.blob[used..];
        Ok(value)
    }

    fn format(&mut self) -> Result<(), StoreError> {
        match self.blob.split_first() {
            Some((&FORMAT, rest)) => {
                self.blob = rest;
                Ok(())
            }
            _ => Err(StoreError::Corrupt(format!("settlement {}: unknown format", self.what))),
        }
    }

    fn end(&self) -> Result<(), StoreError> {
        match self.blob.is_empty() {
            true => Ok(()),
            false => Err(StoreError::Corrupt(format!(
                "settlement {}: {} bytes too many",
                self.what,
                self.blob.len()
            ))),
        }
    }
}

/// The hours whose customer's points are stored: those read with a record.
fn customer_slots(hours: &[HourState; HOURS]) -> impl Iterator<Item = usize> + '_ {
    hours
        .iter()
        .enumerate()
        .filter(|(_, h)| h.customer_at != 0 && h.customer_held)
        .flat_map(|(hour, _)| hour * SLOTS_PER_HOUR..(hour + 1) * SLOTS_PER_HOUR)
}

pub(super) fn encode_points(row: &DayRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + SLOTS_PER_DAY * 8);
    out.push(FORMAT);
    for i in 0..SLOTS_PER_DAY {
        put(&mut out, row.raw[i]);
        put(&mut out, row.pushed[i].wrapping_sub(row.raw[i]) as i64);
    }
    for i in customer_slots(&row.hours) {
        put(&mut out, row.customer[i].wrapping_sub(row.pushed[i]) as i64);
    }
    out
}

/// The raw, pushed and customer points of a `points` blob, whose hours are `hours`.
fn decode_points(blob: &[u8], hours: &[HourState; HOURS]) -> Result<[Vec<u64>; 3], StoreError> {
    let mut r = Reader { blob, what: "points" };
    r.format()?;
    let mut raw = Vec::with_capacity(SLOTS_PER_DAY);
    let mut pushed = Vec::with_capacity(SLOTS_PER_DAY);
    for _ in 0..SLOTS_PER_DAY {
        let raw_point: u64 = r.take()?;
        raw.push(raw_point);
        pushed.push(raw_point.wrapping_add(r.take::<i64>()? as u64));
    }
    let mut customer = vec![0; SLOTS_PER_DAY];
    for i in customer_slots(hours) {
        customer[i] = pushed[i].wrapping_add(r.take::<i64>()? as u64);
    }
    r.end()?;
    Ok([raw, pushed, customer])
}

pub(super) fn encode_hours(hours: &[HourState; HOURS]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + HOURS * 16);
    out.push(FORMAT);
    for h in hours {
        put(&mut out, h.push_version);
        put(&mut out, h.push_attempt);
        put(&mut out, h.verified_version);
        put(&mut out, h.verified_at);
        put(&mut out, u32::from(h.matched));
        put(&mut out, h.customer_version);
        put(&mut out, h.customer_at);
        put(&mut out, u32::from(h.customer_held));
    }
    out
}

pub(super) fn decode_hours(blob: &[u8]) -> Result<[HourState; HOURS], StoreError> {
    let mut r = Reader { blob, what: "hours" };
    r.format()?;
    let mut hours = [HourState::default(); HOURS];
    for h in hours.iter_mut() {
        *h = HourState {
            push_version: r.take()?,
            push_attempt: r.take()?,
            verified_version: r.take()?,
            verified_at: r.take()?,
            matched: r.take::<u32>()? != 0,
            customer_version: r.take()?,
            customer_at: r.take()?,
            customer_held: r.take::<u32>()? != 0,
        };
    }
    r.end()?;
    Ok(hours)
}

pub(super) fn encode(row: &DayRow) -> (Vec<u8>, Vec<u8>) {
    (encode_points(row), encode_hours(&row.hours))
}

pub(super) fn decode(points: &[u8], hours: &[u8]) -> Result<DayRow, StoreError> {
    let hours = decode_hours(hours)?;
    let [raw, pushed, customer] = decode_points(points, &hours)?;
    Ok(DayRow { raw, pushed, customer, hours })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_exactly_for_any_values() {
        let mut row = DayRow::default();
        for i in 0..SLOTS_PER_DAY {
            let i64_ = i as u64;
            row.raw[i] = i64_ * 1_000_000_007;
            // Offsets up and down, the extremes of u64 and a customer copy that differs.
            row.pushed[i] = match i % 4 {
                0 => row.raw[i] + row.raw[i] / 33,
                1 => row.raw[i].saturating_sub(5_000_000),
                2 => u64::MAX - i64_,
                _ => 0,
            };
            row.customer[i] = if i % 7 == 0 { u64::MAX } else { row.pushed[i] };
        }
        // Hour 0 never read, hours 5, 10, 15, 20 read without a record: their customer's
        // points are 0; hour 23 at the extremes.
        for (h, state) in row.hours.iter_mut().enumerate() {
            state.customer_at = h as i64;
            state.customer_held = h % 5 != 0;
            if !state.customer_held {
                row.customer[h * SLOTS_PER_HOUR..(h + 1) * SLOTS_PER_HOUR].fill(0);
            }
        }
        row.hours[23] = HourState {
            push_version: u32::MAX,
            push_attempt: 2,
            verified_version: 3,
            verified_at: -5,
            matched: true,
            customer_version: 3,
            customer_at: i64::MAX,
            customer_held: true,
        };
        let (points, hours) = encode(&row);
        assert_eq!(decode(&points, &hours).unwrap(), row);
    }

    #[test]
    fn a_typical_row_fits_in_one_page() {
        // 1 Gbit/s at its peak (37.5 GB in 5 min), +3 % offset, the customer holds the same.
        let mut row = DayRow::default();
        for i in 0..SLOTS_PER_DAY {
            row.raw[i] = 37_500_000_000 - i as u64 * 99_999_999;
            row.pushed[i] = (row.raw[i] * 103 + 50) / 100;
            row.customer[i] = row.pushed[i];
        }
        for h in row.hours.iter_mut() {
            *h = HourState {
                push_version: 1,
                push_attempt: 1,
                verified_version: 1,
                verified_at: 1_788_000_000,
                matched: true,
                customer_version: 1,
                customer_at: 1_788_000_000,
                customer_held: true,
            };
        }
        let (points, hours) = encode(&row);
        // SQLite keeps up to 4,061 bytes of a row on a 4,096-byte page.
        assert!(points.len() + hours.len() < 4_000, "{} + {} bytes", points.len(), hours.len());
    }

    #[test]
    fn damaged_blobs_are_errors_not_panics() {
        let (points, hours) = encode(&DayRow::default());
        assert!(decode(&points[..points.len() - 1], &hours).is_err());
        assert!(decode(&points, &hours[..hours.len() - 1]).is_err());
        assert!(decode(&[2], &hours).is_err(), "unknown format");
        assert!(decode(&[], &hours).is_err());
        let mut long = points.clone();
        long.push(0);
        assert!(decode(&long, &hours).is_err());
        // The first layout (fixed 8-byte points) is not read as this one.
        assert!(decode(&vec![0; SLOTS_PER_DAY * 8], &hours).is_err());
    }
}

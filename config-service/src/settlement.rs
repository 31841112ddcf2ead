//! Settlement reports: the store's per-machine series over a range of report days, grouped by
//! machine or node (a node = the per-slot sum of its machines), turned into figures by the one
//! statistics function of `pushagent_proto::settlement`, next to what is known of the
//! customer's copy. Definitions: docs/settlement.md. HTTP and exports: `settlement_api`.

use chrono::{Datelike, NaiveDate};
use pushagent_proto::settlement::{
    self as stats, add_series, mbps, Figures, Series, SLOTS_PER_DAY, SLOT_SECS,
};
use serde::Serialize;

use crate::store::{CustomerHours, DayRange, MachineSeries, SettledMachine, Store, StoreError};

/// At most this many days in one report.
pub const MAX_DAYS: i64 = 366;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    Machine,
    Node,
}

/// What a report covers, checked.
#[derive(Debug, Clone)]
pub struct Query {
    pub from: NaiveDate,
    /// Inclusive; already clipped to today.
    pub to: NaiveDate,
    pub group_by: GroupBy,
    pub node: Option<String>,
    pub machine_id: Option<i64>,
    pub utc_offset_secs: i32,
}

impl Query {
    pub fn days(&self) -> usize {
        usize::try_from((self.to - self.from).num_days() + 1).unwrap_or(0)
    }

    fn range(&self) -> DayRange {
        DayRange { first_day: self.from, days: self.days(), utc_offset_secs: self.utc_offset_secs }
    }

    pub fn day_names(&self) -> Vec<String> {
        self.from.iter_days().take(self.days()).map(|d| d.format("%Y%m%d").to_string()).collect()
    }
}

/// `YYYYMMDD` → a date; the error names `field`.
pub fn parse_day(field: &str, text: &str) -> Result<NaiveDate, String> {
    let valid = text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit());
    valid
        .then(|| NaiveDate::parse_from_str(text, "%Y%m%d").ok())
        .flatten()
        .ok_or_else(|| format!("{field}: {text:?} is not a day YYYYMMDD"))
}

/// Check a request's days: `from` defaults to the first day of today's month, `to` to its last
/// day; `to` is then clipped to today (days to come have no points yet and would count as
/// missing). `today` is in the report time zone.
pub fn day_range(
    from: Option<&str>,
    to: Option<&str>,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate), String> {
    let month_start = today.with_day(1).unwrap_or(today);
    let from = from.map(|t| parse_day("from", t)).transpose()?.unwrap_or(month_start);
    let to = match to {
        Some(t) => parse_day("to", t)?,
        None => from
            .with_day(1)
            .and_then(|d| d.checked_add_months(chrono::Months::new(1)))
            .and_then(|d| d.pred_opt())
            .unwrap_or(from),
    };
    if to < from {
        return Err(format!("to: {} is before from {}", to.format("%Y%m%d"), from.format("%Y%m%d")));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(format!("to: at most {MAX_DAYS} days from from"));
    }
    Ok((from, to.min(today)))
}

/// The report day holding `now` in the zone `utc_offset_secs`.
pub fn today(now: i64, utc_offset_secs: i32) -> NaiveDate {
    chrono::DateTime::from_timestamp(now + i64::from(utc_offset_secs), 0)
        .map_or(NaiveDate::MIN, |t| t.date_naive())
}

/// Figures in bytes (exact) and Mbps (for reading).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FiguresOut {
    /// 月95 (the range's 95th percentile).
    pub p95_bytes: u64,
    pub p95_mbps: f64,
    /// 月均日95.
    pub mean_day_p95_bytes: u64,
    pub mean_day_p95_mbps: f64,
    /// The highest 日95 of the range (the 日95 when the range is one day).
    pub max_day_p95_bytes: u64,
    pub max_day_p95_mbps: f64,
    pub peak_bytes: u64,
    pub peak_mbps: f64,
    pub total_bytes: u64,
    /// Coverage: points present / expected (288 a day, per machine).
    pub present: u64,
    pub expected: u64,
    /// Per day, in order (series only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<DayOut>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DayOut {
    pub day: String,
    pub p95_bytes: u64,
    pub p95_mbps: f64,
    pub peak_bytes: u64,
    pub peak_mbps: f64,
    pub total_bytes: u64,
    pub present: u64,
    pub expected: u64,
}

impl FiguresOut {
    fn new(f: &Figures, day_names: Option<&[String]>) -> FiguresOut {
        let days = match day_names {
            Some(names) => f
                .days
                .iter()
                .zip(names)
                .map(|(d, name)| DayOut {
                    day: name.clone(),
                    p95_bytes: d.p95_bytes,
                    p95_mbps: mbps(d.p95_bytes),
                    peak_bytes: d.peak_bytes,
                    peak_mbps: mbps(d.peak_bytes),
                    total_bytes: d.total_bytes,
                    present: d.present,
                    expected: d.expected,
                })
                .collect(),
            None => Vec::new(),
        };
        FiguresOut {
            p95_bytes: f.p95_bytes,
            p95_mbps: mbps(f.p95_bytes),
            mean_day_p95_bytes: f.mean_day_p95_bytes,
            mean_day_p95_mbps: mbps(f.mean_day_p95_bytes),
            max_day_p95_bytes: f.max_day_p95_bytes,
            max_day_p95_mbps: mbps(f.max_day_p95_bytes),
            peak_bytes: f.peak_bytes,
            peak_mbps: mbps(f.peak_bytes),
            total_bytes: f.total_bytes,
            present: f.present,
            expected: f.expected,
            days,
        }
    }
}

/// What is known of the customer's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    /// Every pushed hour of the range was read back from the customer equal to the version in
    /// force: the customer's figures are the pushed ones.
    Confirmed,
    /// At least one hour differs in the customer's copy (other values, no record, or a record
    /// of an hour we did not send); its figures are given when every hour's values are known.
    Mismatched,
    /// No difference found, but at least one pushed hour's customer copy is not known for its
    /// version in force: the customer's figures are unknown (never guessed).
    Unverified,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CustomerOut {
    pub status: CustomerStatus,
    pub hours: CustomerHours,
    /// From the customer's own points, read back by the agents; only when the copy of every
    /// hour of the range is known, never guessed.
    pub figures: Option<FiguresOut>,
}

/// customer − pushed, per figure, in bytes (only when the customer's figures are known).
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Difference {
    pub p95_bytes: i128,
    pub mean_day_p95_bytes: i128,
    pub max_day_p95_bytes: i128,
    pub peak_bytes: i128,
    pub total_bytes: i128,
}

impl Difference {
    fn between(customer: &FiguresOut, pushed: &FiguresOut) -> Difference {
        let d = |c: u64, p: u64| i128::from(c) - i128::from(p);
        Difference {
            p95_bytes: d(customer.p95_bytes, pushed.p95_bytes),
            mean_day_p95_bytes: d(customer.mean_day_p95_bytes, pushed.mean_day_p95_bytes),
            max_day_p95_bytes: d(customer.max_day_p95_bytes, pushed.max_day_p95_bytes),
            peak_bytes: d(customer.peak_bytes, pushed.peak_bytes),
            total_bytes: d(customer.total_bytes, pushed.total_bytes),
        }
    }
}

/// One row of a settlement table: a machine, or a node.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Row {
    /// The node's name ("" = machines without a node).
    pub node: String,
    /// Machine rows only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Machine rows: the MACs its points came under.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub macs: Vec<String>,
    /// Machines with points in the range (1 for a machine row).
    pub machines: u32,
    pub raw: FiguresOut,
    pub pushed: FiguresOut,
    pub customer: CustomerOut,
    pub difference: Option<Difference>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub from: String,
    /// Clipped to today.
    pub to: String,
    pub report_timezone: String,
    pub group_by: GroupBy,
    pub days: Vec<String>,
    pub rows: Vec<Row>,
}

fn customer(
    hours: CustomerHours,
    series: &Series,
    pushed_series: &Series,
    pushed: &FiguresOut,
    day_names: Option<&[String]>,
) -> (CustomerOut, Option<Difference>) {
    let status = if hours.mismatched > 0 || hours.extra > 0 {
        CustomerStatus::Mismatched
    } else if hours.unverified > 0 {
        CustomerStatus::Unverified
    } else {
        CustomerStatus::Confirmed
    };
    let figures = hours.values_known().then(|| match series == pushed_series {
        // The customer holds exactly what was pushed (the usual case): the same figures.
        true => pushed.clone(),
        false => FiguresOut::new(&stats::settle(series), day_names),
    });
    let difference = figures.as_ref().map(|c| Difference::between(c, pushed));
    (CustomerOut { status, hours, figures }, difference)
}

/// A group's sums so far.
struct Group {
    node: String,
    machine: Option<SettledMachine>,
    macs: Vec<String>,
    raw: Series,
    pushed: Series,
    customer: Series,
    customer_hours: CustomerHours,
}

impl Group {
    fn row(self, day_names: Option<&[String]>) -> Row {
        let raw = FiguresOut::new(&stats::settle(&self.raw), day_names);
        let pushed = FiguresOut::new(&stats::settle(&self.pushed), day_names);
        let (customer, difference) =
            customer(self.customer_hours, &self.customer, &self.pushed, &pushed, day_names);
        Row {
            node: self.node,
            machine_id: self.machine.as_ref().map(|m| m.machine_id),
            hostname: self.machine.map(|m| m.hostname),
            macs: self.macs,
            machines: self.raw.members,
            raw,
            pushed,
            customer,
            difference,
        }
    }
}

/// The settlement table of `query`.
pub fn report(store: &Store, query: &Query, report_timezone: &str) -> Result<Report, StoreError> {
    let days = query.days();
    let machines = store.settlement_machines(query.node.as_deref(), query.machine_id)?;
    let mut rows = Vec::new();
    let mut node: Option<Group> = None;
    for machine in &machines {
        let Some(series) = store.settlement_series(machine, query.range())? else { continue };
        match query.group_by {
            GroupBy::Machine => rows.push(machine_group(series).row(None)),
            GroupBy::Node => {
                // Machines come ordered by node: a group closes when the node changes.
                let name = series.machine.node.clone().unwrap_or_default();
                if node.as_ref().is_some_and(|g| g.node != name) {
                    rows.extend(node.take().map(|g| g.row(None)));
                }
                let group = node.get_or_insert_with(|| empty_group(name, days));
                add_machine(group, &series);
            }
        }
    }
    rows.extend(node.take().map(|g| g.row(None)));
    Ok(Report {
        from: query.from.format("%Y%m%d").to_string(),
        to: query.to.format("%Y%m%d").to_string(),
        report_timezone: report_timezone.to_owned(),
        group_by: query.group_by,
        days: query.day_names(),
        rows,
    })
}

fn empty_group(node: String, days: usize) -> Group {
    Group {
        node,
        machine: None,
        macs: Vec::new(),
        raw: Series::empty(days, 0),
        pushed: Series::empty(days, 0),
        customer: Series::empty(days, 0),
        customer_hours: CustomerHours::default(),
    }
}

fn add_machine(group: &mut Group, series: &MachineSeries) {
    add_series(&mut group.raw, &series.raw);
    add_series(&mut group.pushed, &series.pushed);
    add_series(&mut group.customer, &series.customer);
    group.customer_hours.add(series.customer_hours);
}

fn machine_group(series: MachineSeries) -> Group {
    Group {
        node: series.machine.node.clone().unwrap_or_default(),
        machine: Some(series.machine),
        macs: series.macs,
        raw: series.raw,
        pushed: series.pushed,
        customer: series.customer,
        customer_hours: series.customer_hours,
    }
}

/// One machine's or one node's points, slot by slot, for a chart.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SeriesOut {
    pub from: String,
    pub to: String,
    pub report_timezone: String,
    /// Unix seconds of the first slot; slot i starts `i × 300` s later.
    pub first_slot_at: i64,
    pub slot_secs: u64,
    pub slots_per_day: usize,
    /// The machine's row (figures with `days`), or the node's; `None` without any point.
    pub row: Option<Row>,
    /// Bytes of each slot, raw and pushed (0 where missing).
    pub raw_bytes: Vec<u64>,
    pub pushed_bytes: Vec<u64>,
    /// Machines with a point in each slot.
    pub present: Vec<u32>,
    /// The customer's copy of each slot where the agents read it back (0 elsewhere), and the
    /// machines whose copy of the slot is known to be held by the customer.
    pub customer_bytes: Vec<u64>,
    pub customer_present: Vec<u32>,
}

/// The slot series of one machine (`query.machine_id`) or one node (`query.node`).
pub fn series(store: &Store, query: &Query, report_timezone: &str) -> Result<SeriesOut, StoreError> {
    let days = query.days();
    let day_names = query.day_names();
    let machines = store.settlement_machines(query.node.as_deref(), query.machine_id)?;
    let mut group: Option<Group> = None;
    for machine in &machines {
        let Some(series) = store.settlement_series(machine, query.range())? else { continue };
        if query.machine_id.is_some() {
            group = Some(machine_group(series));
            break;
        }
        let g = group.get_or_insert_with(|| empty_group(query.node.clone().unwrap_or_default(), days));
        add_machine(g, &series);
    }
    let empty = || Series::empty(days, 0);
    let (raw, pushed, customer) = match &group {
        Some(g) => (g.raw.clone(), g.pushed.clone(), g.customer.clone()),
        None => (empty(), empty(), empty()),
    };
    let first_slot_at = query.from.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp())
        - i64::from(query.utc_offset_secs);
    Ok(SeriesOut {
        from: query.from.format("%Y%m%d").to_string(),
        to: query.to.format("%Y%m%d").to_string(),
        report_timezone: report_timezone.to_owned(),
        first_slot_at,
        slot_secs: SLOT_SECS,
        slots_per_day: SLOTS_PER_DAY,
        row: group.map(|g| g.row(Some(&day_names))),
        raw_bytes: raw.bytes,
        pushed_bytes: pushed.bytes,
        present: raw.present,
        customer_bytes: customer.bytes,
        customer_present: customer.present,
    })
}

/// The header of the exported table (also written when it has no row).
pub fn export_header() -> Vec<&'static str> {
    let zero = FiguresOut::new(&Figures::default(), None);
    let none = Series::empty(0, 0);
    let (customer, difference) = customer(CustomerHours::default(), &none, &none, &zero, None);
    let row = Row {
        node: String::new(),
        machine_id: None,
        hostname: None,
        macs: Vec::new(),
        machines: 0,
        raw: zero.clone(),
        pushed: zero,
        customer,
        difference,
    };
    export_columns(&row).into_iter().map(|(name, _)| name).collect()
}

/// A cell of an exported table.
pub enum Cell {
    Text(String),
    Bytes(u64),
    Mbps(f64),
    Diff(Option<i128>),
}

/// The columns of the exported table (CSV and XLSX alike): header and value of each.
pub fn export_columns(row: &Row) -> Vec<(&'static str, Cell)> {
    use Cell::*;
    let mut cols = vec![
        ("node", Text(row.node.clone())),
        ("hostname", Text(row.hostname.clone().unwrap_or_default())),
        ("machine_id", Text(row.machine_id.map(|id| id.to_string()).unwrap_or_default())),
        ("macs", Text(row.macs.join(" "))),
        ("machines", Bytes(u64::from(row.machines))),
        ("coverage_present", Bytes(row.raw.present)),
        ("coverage_expected", Bytes(row.raw.expected)),
    ];
    let figures = |cols: &mut Vec<(&'static str, Cell)>, names: [&'static str; 9], f: Option<&FiguresOut>| {
        let b = |v: fn(&FiguresOut) -> u64| f.map_or(Text(String::new()), |f| Bytes(v(f)));
        let m = |v: fn(&FiguresOut) -> f64| f.map_or(Text(String::new()), |f| Mbps(v(f)));
        cols.push((names[0], m(|f| f.p95_mbps)));
        cols.push((names[1], m(|f| f.mean_day_p95_mbps)));
        cols.push((names[2], m(|f| f.max_day_p95_mbps)));
        cols.push((names[3], m(|f| f.peak_mbps)));
        cols.push((names[4], b(|f| f.p95_bytes)));
        cols.push((names[5], b(|f| f.mean_day_p95_bytes)));
        cols.push((names[6], b(|f| f.max_day_p95_bytes)));
        cols.push((names[7], b(|f| f.peak_bytes)));
        cols.push((names[8], b(|f| f.total_bytes)));
    };
    figures(
        &mut cols,
        [
            "raw_month95_mbps",
            "raw_mean_day95_mbps",
            "raw_max_day95_mbps",
            "raw_peak_mbps",
            "raw_month95_bytes",
            "raw_mean_day95_bytes",
            "raw_max_day95_bytes",
            "raw_peak_bytes",
            "raw_total_bytes",
        ],
        Some(&row.raw),
    );
    figures(
        &mut cols,
        [
            "pushed_month95_mbps",
            "pushed_mean_day95_mbps",
            "pushed_max_day95_mbps",
            "pushed_peak_mbps",
            "pushed_month95_bytes",
            "pushed_mean_day95_bytes",
            "pushed_max_day95_bytes",
            "pushed_peak_bytes",
            "pushed_total_bytes",
        ],
        Some(&row.pushed),
    );
    let status = match row.customer.status {
        CustomerStatus::Confirmed => "confirmed",
        CustomerStatus::Mismatched => "mismatched",
        CustomerStatus::Unverified => "unverified",
    };
    cols.push(("customer_status", Text(status.to_owned())));
    cols.push(("customer_confirmed_hours", Bytes(row.customer.hours.confirmed)));
    cols.push(("customer_mismatched_hours", Bytes(row.customer.hours.mismatched)));
    cols.push(("customer_unverified_hours", Bytes(row.customer.hours.unverified)));
    cols.push(("customer_extra_hours", Bytes(row.customer.hours.extra)));
    figures(
        &mut cols,
        [
            "customer_month95_mbps",
            "customer_mean_day95_mbps",
            "customer_max_day95_mbps",
            "customer_peak_mbps",
            "customer_month95_bytes",
            "customer_mean_day95_bytes",
            "customer_max_day95_bytes",
            "customer_peak_bytes",
            "customer_total_bytes",
        ],
        row.customer.figures.as_ref(),
    );
    let d = row.difference;
    cols.push(("diff_month95_bytes", Diff(d.map(|d| d.p95_bytes))));
    cols.push(("diff_mean_day95_bytes", Diff(d.map(|d| d.mean_day_p95_bytes))));
    cols.push(("diff_peak_bytes", Diff(d.map(|d| d.peak_bytes))));
    cols.push(("diff_total_bytes", Diff(d.map(|d| d.total_bytes))));
    cols
}

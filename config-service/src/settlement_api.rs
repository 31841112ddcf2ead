//! The settlement endpoints: `GET /api/settlement` (the node or machine table),
//! `GET /api/settlement/series` (one machine or node, slot by slot) and the table as CSV and
//! XLSX. The figures come from `settlement`; this file only reads parameters and writes answers.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use crate::error::ApiError;
use crate::http::{AdminAuth, Params, Shared};
use crate::settlement::{self, Cell, GroupBy, Query, Report, SeriesOut};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementParams {
    /// First report day `YYYYMMDD` (default: the first day of this month).
    from: Option<String>,
    /// Last report day `YYYYMMDD` (default: the last day of `from`'s month); clipped to today.
    to: Option<String>,
    /// `machine` (default) or `node`.
    group_by: Option<String>,
    /// Only this node's machines ("" = machines without a node).
    node: Option<String>,
    machine_id: Option<i64>,
}

fn query(app: &Shared, p: SettlementParams) -> Result<Query, ApiError> {
    let bad = ApiError::BadRequest;
    let offset = app.settings.report_offset().local_minus_utc();
    let today = settlement::today(app.now(), offset);
    let (from, to) = settlement::day_range(p.from.as_deref(), p.to.as_deref(), today).map_err(bad)?;
    let group_by = match p.group_by.as_deref() {
        None | Some("machine") => GroupBy::Machine,
        Some("node") => GroupBy::Node,
        Some(other) => return Err(bad(format!("group_by: {other:?} is not machine or node"))),
    };
    Ok(Query { from, to, group_by, node: p.node, machine_id: p.machine_id, utc_offset_secs: offset })
}

async fn build(app: &Shared, p: SettlementParams) -> Result<Report, ApiError> {
    let q = query(app, p)?;
    let zone = app.settings.report_timezone.clone();
    app.with_reader(move |s| settlement::report(s, &q, &zone)).await
}

pub async fn table(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(p): Params<SettlementParams>,
) -> Result<Json<Report>, ApiError> {
    Ok(Json(build(&app, p).await?))
}

pub async fn series(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(p): Params<SettlementParams>,
) -> Result<Json<SeriesOut>, ApiError> {
    if p.machine_id.is_some() == p.node.is_some() {
        return Err(ApiError::BadRequest("machine_id or node: give exactly one".into()));
    }
    let q = query(&app, p)?;
    let zone = app.settings.report_timezone.clone();
    Ok(Json(app.with_reader(move |s| settlement::series(s, &q, &zone)).await?))
}

fn file_name(report: &Report, ext: &str) -> String {
    let group = match report.group_by {
        GroupBy::Machine => "machines",
        GroupBy::Node => "nodes",
    };
    format!("settlement-{group}-{}-{}.{ext}", report.from, report.to)
}

pub async fn csv(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(p): Params<SettlementParams>,
) -> Result<Response, ApiError> {
    let report = build(&app, p).await?;
    let csv_err = |e: csv::Error| ApiError::Internal(format!("CSV: {e}"));
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(settlement::export_header()).map_err(csv_err)?;
    for row in &report.rows {
        let cols = settlement::export_columns(row);
        writer
            .write_record(cols.iter().map(|(_, cell)| match cell {
                Cell::Text(t) => t.clone(),
                Cell::Bytes(b) => b.to_string(),
                Cell::Mbps(m) => format!("{m:.6}"),
                Cell::Diff(d) => d.map(|d| d.to_string()).unwrap_or_default(),
            }))
            .map_err(csv_err)?;
    }
    let bytes = writer.into_inner().map_err(|e| ApiError::Internal(format!("CSV: {e}")))?;
    let disposition = format!("attachment; filename=\"{}\"", file_name(&report, "csv"));
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

/// Largest integer a spreadsheet's number (an f64) holds exactly; larger ones go as text.
const EXACT_IN_F64: u64 = 1 << 53;

pub async fn xlsx(
    State(app): State<Shared>,
    AdminAuth(_): AdminAuth,
    Params(p): Params<SettlementParams>,
) -> Result<Response, ApiError> {
    use rust_xlsxwriter::{Format, Workbook};
    let report = build(&app, p).await?;
    let xlsx_err = |e: rust_xlsxwriter::XlsxError| ApiError::Internal(format!("XLSX: {e}"));
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    sheet.set_name("settlement").map_err(xlsx_err)?;
    let bold = Format::new().set_bold();
    let mbps = Format::new().set_num_format("0.000000");
    let integer = Format::new().set_num_format("0");
    for (c, name) in settlement::export_header().into_iter().enumerate() {
        let c = u16::try_from(c).map_err(|_| ApiError::Internal("XLSX: too many columns".into()))?;
        sheet.write_string_with_format(0, c, name, &bold).map_err(xlsx_err)?;
    }
    for (r, row) in report.rows.iter().enumerate() {
        let cols = settlement::export_columns(row);
        let line = u32::try_from(r + 1).map_err(|_| ApiError::Internal("XLSX: too many rows".into()))?;
        for (c, (_, cell)) in cols.iter().enumerate() {
            let c = u16::try_from(c).map_err(|_| ApiError::Internal("XLSX: too many columns".into()))?;
            match cell {
                Cell::Text(t) => sheet.write_string(line, c, t).map(drop),
                Cell::Bytes(b) if *b <= EXACT_IN_F64 => {
                    sheet.write_number_with_format(line, c, *b as f64, &integer).map(drop)
                }
                Cell::Bytes(b) => sheet.write_string(line, c, b.to_string()).map(drop),
                Cell::Mbps(m) => sheet.write_number_with_format(line, c, *m, &mbps).map(drop),
                Cell::Diff(None) => Ok(()),
                Cell::Diff(Some(d)) if d.unsigned_abs() <= u128::from(EXACT_IN_F64) => {
                    sheet.write_number_with_format(line, c, *d as f64, &integer).map(drop)
                }
                Cell::Diff(Some(d)) => sheet.write_string(line, c, d.to_string()).map(drop),
            }
            .map_err(xlsx_err)?;
        }
    }
    let bytes = workbook.save_to_buffer().map_err(xlsx_err)?;
    let disposition = format!("attachment; filename=\"{}\"", file_name(&report, "xlsx"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_owned(),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

//! The text `pushagent detect` prints: the choice and why first, then every interface.

use super::{Candidate, Detection};

impl Detection {
    pub fn render(&self) -> String {
        let chosen = &self.chosen;
        let speed = match chosen.speed_bits_per_sec {
            Some(bits) if bits % 1_000_000_000 == 0 => format!("{} Gb/s", bits / 1_000_000_000),
            Some(bits) => format!("{} Mb/s", bits / 1_000_000),
            None => "unknown".to_string(),
        };
        let mut out = String::new();
        if chosen.ambiguous {
            out.push_str("AMBIGUOUS: confirm in the console\n");
        }
        out.push_str(&format!("Collecting: {}\n", chosen.name));
        out.push_str(&format!("  MAC:     {}\n", chosen.mac));
        out.push_str(&format!("  ifindex: {}\n", chosen.ifindex));
        out.push_str(&format!("  driver:  {}\n", chosen.driver.as_deref().unwrap_or("unknown")));
        out.push_str(&format!("  speed:   {speed}\n"));
        out.push_str(&format!("  rule:    {}\n", chosen.rule.as_str()));
        out.push_str(&format!("  why:     {}\n", chosen.reason));
        out.push_str("\nInterfaces:\n");

        let header = ["", "NAME", "KIND", "MAC", "VERDICT"];
        let rows: Vec<[String; 5]> = self.candidates.iter().map(row).collect();
        let width = |column: usize| {
            rows.iter().map(|r| r[column].chars().count()).chain([header[column].len()]).max().unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2), width(3)];
        let line = |cells: [&str; 5]| {
            let mut text = String::from("  ");
            for (cell, width) in cells.iter().zip(widths) {
                text.push_str(&format!("{cell:<width$}  "));
            }
            text.push_str(cells[4]);
            text.trim_end().to_string() + "\n"
        };
        out.push_str(&line(header));
        for r in &rows {
            out.push_str(&line([&r[0], &r[1], &r[2], &r[3], &r[4]]));
        }
        out
    }
}

fn row(candidate: &Candidate) -> [String; 5] {
    let marker = if candidate.chosen { "*" } else { "" };
    let verdict =
        if candidate.chosen { "chosen".to_string() } else { format!("rejected: {}", candidate.reason) };
    [
        marker.to_string(),
        candidate.name.clone(),
        candidate.kind.clone(),
        candidate.mac.clone().unwrap_or_else(|| "-".to_string()),
        verdict,
    ]
}

//! Memory and swap sizes from /proc/meminfo.

use super::read::Reader;

pub(super) struct Memory {
    pub total_bytes: Option<u64>,
    pub swap_total_bytes: Option<u64>,
}

pub(super) fn read(reader: &mut Reader) -> Memory {
    let rel = "proc/meminfo";
    let Some(text) = reader.parsed("memory", rel, |text| Ok(text.to_string())) else {
        return Memory { total_bytes: None, swap_total_bytes: None };
    };
    let mut field = |what: &str, key: &str| match meminfo_bytes(&text, key) {
        Ok(bytes) => Some(bytes),
        Err(why) => {
            reader.note(what, format_args!("{why} ({rel})"));
            None
        }
    };
    Memory {
        total_bytes: field("memory_total_bytes", "MemTotal"),
        swap_total_bytes: field("swap_total_bytes", "SwapTotal"),
    }
}

/// The value of `key` in bytes: "MemTotal:       24684096 kB" (kB is KiB in meminfo).
pub fn meminfo_bytes(meminfo: &str, key: &str) -> Result<u64, String> {
    let line = meminfo
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .ok_or_else(|| format!("no {key} line"))?;
    let mut tokens = line.split_whitespace();
    let number = tokens.next().unwrap_or("");
    let value: u64 = number.parse().map_err(|_| format!("{key} {number:?} is not a number"))?;
    match tokens.next() {
        None => Ok(value),
        Some("kB") => value.checked_mul(1024).ok_or_else(|| format!("{key} overflows")),
        Some(unit) => Err(format!("{key} has unknown unit {unit:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Head of /proc/meminfo captured from this machine (Linux vm 6.18.44-fc-v595 x86_64,
    /// Debian 12), 2026-11-24.
    const MEMINFO_6_18: &str = "\
MemTotal:       24684096 kB
MemFree:        24552624 kB
MemAvailable:   24454312 kB
Buffers:             444 kB
Cached:            33212 kB
SwapCached:            0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
HugePages_Total:       0
Hugepagesize:       2048 kB
";

    #[test]
    fn sizes_are_kib_times_1024() {
        assert_eq!(meminfo_bytes(MEMINFO_6_18, "MemTotal"), Ok(24_684_096 * 1024));
        assert_eq!(meminfo_bytes(MEMINFO_6_18, "SwapTotal"), Ok(0));
        assert_eq!(meminfo_bytes(MEMINFO_6_18, "HugePages_Total"), Ok(0));
    }

    #[test]
    fn a_key_is_matched_whole_not_as_a_prefix() {
        assert_eq!(meminfo_bytes("MemTotalX: 5 kB\nMemTotal: 7 kB\n", "MemTotal"), Ok(7 * 1024));
    }

    #[test]
    fn junk_values_are_errors_not_guesses() {
        assert!(meminfo_bytes("MemTotal:  lots kB\n", "MemTotal").is_err());
        assert!(meminfo_bytes("MemTotal:  -5 kB\n", "MemTotal").is_err());
        assert!(meminfo_bytes("MemTotal:  5 MB\n", "MemTotal").is_err());
        assert!(meminfo_bytes("MemTotal:\n", "MemTotal").is_err());
        assert!(meminfo_bytes("MemTotal: 18446744073709551615 kB\n", "MemTotal").is_err());
        assert!(meminfo_bytes("", "SwapTotal").is_err());
    }
}

//! Vendor, model and serials from the firmware's SMBIOS tables (/sys/class/dmi/id). Serials
//! and the UUID are readable only by root; firmware placeholders are treated as absent.

use serde::{Deserialize, Serialize};

use super::read::Reader;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dmi {
    pub sys_vendor: Option<String>,
    pub product_name: Option<String>,
    pub product_serial: Option<String>,
    /// Lower case.
    pub product_uuid: Option<String>,
    pub board_serial: Option<String>,
}

const DMI_DIR: &str = "sys/class/dmi/id";

pub(super) fn read(reader: &mut Reader) -> Dmi {
    if !reader.exists(DMI_DIR) {
        // VMs without SMBIOS, most ARM boards, containers.
        reader.note("dmi", format_args!("not present ({DMI_DIR})"));
        return Dmi::default();
    }
    // A missing attribute means the firmware has no such string, not that reading failed.
    let mut attr = |name: &str| {
        reader
            .parsed_if_present(&format!("dmi {name}"), &format!("{DMI_DIR}/{name}"), |text| {
                Ok(clean_dmi_value(text))
            })
            .flatten()
    };
    Dmi {
        sys_vendor: attr("sys_vendor"),
        product_name: attr("product_name"),
        product_serial: attr("product_serial"),
        product_uuid: attr("product_uuid").map(|uuid| uuid.to_ascii_lowercase()),
        board_serial: attr("board_serial"),
    }
}

/// Strings vendors leave in the firmware instead of a real value (compared case-blind).
const PLACEHOLDERS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by oem",
    "default string",
    "not specified",
    "not applicable",
    "not available",
    "system serial number",
    "system product name",
    "system manufacturer",
    "system version",
    "base board serial number",
    "chassis serial number",
    "type1productconfigid",
    "0123456789",
    "123456789",
    "o.e.m.",
    "oem",
    "none",
    "null",
    "n/a",
    "na",
    "unknown",
    "invalid",
    "empty",
    "-",
    "03000200-0400-0500-0006-000700080009",
];

/// The value, or None when blank, a known placeholder, or one repeated character
/// ("0000000", "FFFFFFFF-FFFF-...", "XXXXXXXX").
pub fn clean_dmi_value(text: &str) -> Option<String> {
    let value = text.trim();
    if value.is_empty() || value.chars().any(char::is_control) {
        return None;
    }
    if PLACEHOLDERS.iter().any(|p| value.eq_ignore_ascii_case(p)) {
        return None;
    }
    let mut significant = value.chars().filter(|c| !matches!(c, '-' | ' ' | '.' | ':'));
    let first = significant.next()?;
    if significant.all(|c| c.eq_ignore_ascii_case(&first)) {
        return None;
    }
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values_are_kept() {
        assert_eq!(clean_dmi_value("Dell Inc.\n"), Some("Dell Inc.".into()));
        assert_eq!(clean_dmi_value("8XKJ9M2\n"), Some("8XKJ9M2".into()));
        assert_eq!(
            clean_dmi_value("Standard PC (i440FX + PIIX, 1996)\n"),
            Some("Standard PC (i440FX + PIIX, 1996)".into())
        );
    }

    #[test]
    fn firmware_placeholders_are_absent_values() {
        for junk in [
            "To Be Filled By O.E.M.\n",
            "Default string\n",
            "System Serial Number\n",
            "Not Specified\n",
            "0\n",
            "00000000\n",
            "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF\n",
            "00000000-0000-0000-0000-000000000000\n",
            "03000200-0400-0500-0006-000700080009\n",
            "          \n",
            "\n",
            ".\n",
        ] {
            assert_eq!(clean_dmi_value(junk), None, "{junk:?}");
        }
    }
}

//! Block devices from /sys/block, and the size of the root filesystem.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::read::Reader;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    pub name: String,
    pub size_bytes: Option<u64>,
    /// true for spinning disks; virtual disks often say true too (KVM's virtio default).
    pub rotational: Option<bool>,
    /// `device/model`; virtio disks have none.
    pub model: Option<String>,
}

/// The filesystem mounted at "/", as statvfs(3) sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilesystemUsage {
    pub total_bytes: u64,
    /// Free blocks, including those reserved for root.
    pub free_bytes: u64,
    /// Free blocks an unprivileged user may take (df's "Avail").
    pub available_bytes: u64,
}

/// Kernel-made devices that are not disks (loop, RAM disks, device-mapper, nbd).
pub fn is_virtual_block_device(name: &str) -> bool {
    ["loop", "ram", "zram", "dm-", "nbd"].iter().any(|prefix| name.starts_with(prefix))
}

pub(super) fn read(reader: &mut Reader) -> Vec<Disk> {
    let names = match reader.dir_names("sys/block") {
        Ok(names) => names,
        Err(err) => {
            reader.note("disks", err);
            return Vec::new();
        }
    };
    names
        .into_iter()
        .filter(|name| !is_virtual_block_device(name))
        .map(|name| {
            let dir = format!("sys/block/{name}");
            let what = |attr: &str| format!("disk {name} {attr}");
            Disk {
                size_bytes: reader.parsed(&what("size"), &format!("{dir}/size"), parse_sectors),
                rotational: reader.parsed(
                    &what("rotational"),
                    &format!("{dir}/queue/rotational"),
                    parse_flag,
                ),
                model: reader
                    .parsed_if_present(&what("model"), &format!("{dir}/device/model"), |text| {
                        Ok(parse_model(text))
                    })
                    .flatten(),
                name,
            }
        })
        .collect()
}

/// Sizes in /sys/block are in 512-byte sectors whatever the device's block size.
pub fn parse_sectors(text: &str) -> Result<u64, String> {
    let value = text.trim();
    let sectors: u64 = value.parse().map_err(|_| format!("{value:?} is not a number"))?;
    sectors.checked_mul(512).ok_or_else(|| format!("{sectors} sectors overflow"))
}

pub fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim() {
        "0" => Ok(false),
        "1" => Ok(true),
        other => Err(format!("{other:?} is not 0 or 1")),
    }
}

/// SCSI pads the model with blanks to 16 characters.
pub fn parse_model(text: &str) -> Option<String> {
    let model = text.trim();
    (!model.is_empty() && !model.chars().any(char::is_control)).then(|| model.to_string())
}

/// Only when the root is the real "/": statvfs asks the running kernel, so under a fixture
/// root it would describe this machine, not the fixture. None (not an error) otherwise.
pub(super) fn root_filesystem(reader: &mut Reader) -> Option<FilesystemUsage> {
    if reader.root().0 != Path::new("/") {
        return None;
    }
    let stat = match nix::sys::statvfs::statvfs("/") {
        Ok(stat) => stat,
        Err(errno) => {
            reader.note("root_filesystem", format_args!("statvfs: {}", errno.desc()));
            return None;
        }
    };
    #[allow(clippy::useless_conversion)] // the statvfs field types differ between platforms
    let (fragment, blocks, free, available) = (
        u64::from(stat.fragment_size()),
        u64::from(stat.blocks()),
        u64::from(stat.blocks_free()),
        u64::from(stat.blocks_available()),
    );
    let bytes = |count: u64| count.checked_mul(fragment);
    match (bytes(blocks), bytes(free), bytes(available)) {
        (Some(total_bytes), Some(free_bytes), Some(available_bytes)) => {
            Some(FilesystemUsage { total_bytes, free_bytes, available_bytes })
        }
        _ => {
            reader.note("root_filesystem", "statvfs sizes overflow");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_is_512_byte_sectors() {
        // Captured from this machine's vda (virtio, 256 GiB), 2026-11-24.
        assert_eq!(parse_sectors("536870912\n"), Ok(274_877_906_944));
        assert!(parse_sectors("big\n").is_err());
        assert!(parse_sectors("18446744073709551615\n").is_err());
    }

    #[test]
    fn kernel_made_devices_are_not_disks() {
        for name in ["loop0", "ram15", "zram0", "dm-0", "nbd3"] {
            assert!(is_virtual_block_device(name), "{name}");
        }
        for name in ["sda", "vda", "nvme0n1", "xvda", "md0", "mmcblk0"] {
            assert!(!is_virtual_block_device(name), "{name}");
        }
    }

    #[test]
    fn model_padding_is_trimmed_and_blank_is_none() {
        assert_eq!(parse_model("ST4000NM0035-1V4\n"), Some("ST4000NM0035-1V4".into()));
        assert_eq!(parse_model("INTEL SSDSC2KB48 \n"), Some("INTEL SSDSC2KB48".into()));
        assert_eq!(parse_model("                \n"), None);
    }

    #[test]
    fn rotational_is_zero_or_one() {
        assert_eq!(parse_flag("1\n"), Ok(true));
        assert_eq!(parse_flag("0\n"), Ok(false));
        assert!(parse_flag("2\n").is_err());
    }
}

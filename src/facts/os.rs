//! The operating system: distribution from os-release(5), or from the redhat-release line of
//! systems older than os-release (CentOS 6); kernel release; architecture.

use serde::{Deserialize, Serialize};

use super::read::Reader;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    /// os-release NAME, e.g. "CentOS Linux".
    pub name: Option<String>,
    /// os-release VERSION_ID, e.g. "7", "16.04".
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    /// os-release ID, e.g. "centos", "ubuntu", "debian".
    pub id: Option<String>,
    /// /proc/sys/kernel/osrelease, e.g. "3.10.0-1160.el7.x86_64".
    pub kernel_release: Option<String>,
    /// Architecture the agent was built for, e.g. "x86_64".
    pub arch: String,
}

/// The distribution fields of os-release (or of what stands in for it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    pub name: Option<String>,
    pub version_id: Option<String>,
    pub pretty_name: Option<String>,
    pub id: Option<String>,
}

type Parser = fn(&str) -> Result<OsRelease, String>;

/// Tried in order; the first that yields a distribution wins.
const RELEASE_FILES: [(&str, Parser); 4] = [
    ("etc/os-release", parse_os_release),
    ("usr/lib/os-release", parse_os_release),
    ("etc/redhat-release", parse_redhat_release),
    ("etc/centos-release", parse_redhat_release),
];

pub(super) fn read(reader: &mut Reader) -> Os {
    let release = read_release(reader).unwrap_or_default();
    Os {
        name: release.name,
        version_id: release.version_id,
        pretty_name: release.pretty_name,
        id: release.id,
        kernel_release: reader.parsed("os kernel_release", "proc/sys/kernel/osrelease", parse_kernel_release),
        arch: std::env::consts::ARCH.to_string(),
    }
}

/// Missing files are only worth a note when no file at all told the distribution; a file
/// that is there but unusable is always noted.
fn read_release(reader: &mut Reader) -> Option<OsRelease> {
    let mut missing = Vec::new();
    let mut found = None;
    for (rel, parse) in RELEASE_FILES {
        match reader.try_text(rel).map_err(|err| (err.is_not_found(), err.to_string())) {
            Ok(text) => match parse(&text) {
                Ok(release) => {
                    found = Some(release);
                    break;
                }
                Err(why) => reader.note("os release", format_args!("{why} ({rel})")),
            },
            Err((true, why)) => missing.push(why),
            Err((false, why)) => reader.note("os release", why),
        }
    }
    if found.is_none() && !missing.is_empty() {
        reader.note("os release", missing.join("; "));
    }
    found
}

/// KEY=value lines, values optionally in shell quotes (os-release(5)). Fails when none of
/// NAME, ID, PRETTY_NAME is there: then the file is junk or not an os-release.
pub fn parse_os_release(text: &str) -> Result<OsRelease, String> {
    let mut release = OsRelease::default();
    for line in text.lines() {
        let Some((key, raw)) = line.trim().split_once('=') else {
            continue;
        };
        let Some(value) = unquote(raw.trim()) else {
            continue;
        };
        let slot = match key {
            "NAME" => &mut release.name,
            "VERSION_ID" => &mut release.version_id,
            "PRETTY_NAME" => &mut release.pretty_name,
            "ID" => &mut release.id,
            _ => continue,
        };
        *slot = Some(value);
    }
    if release.name.is_none() && release.id.is_none() && release.pretty_name.is_none() {
        return Err("no NAME, ID or PRETTY_NAME".into());
    }
    Ok(release)
}

/// The value without its shell quoting; None when empty or holding control characters.
fn unquote(raw: &str) -> Option<String> {
    let value = if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match (c, chars.clone().next()) {
                ('\\', Some(next @ ('"' | '\\' | '$' | '`'))) => {
                    out.push(next);
                    chars.next();
                }
                _ => out.push(c),
            }
        }
        out
    } else if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        inner.to_string()
    } else {
        raw.to_string()
    };
    let usable = !value.is_empty() && !value.chars().any(char::is_control);
    usable.then_some(value)
}

/// "CentOS Linux release 7.9.2009 (Core)", "CentOS release 6.10 (Final)", "Red Hat
/// Enterprise Linux Server release 7.9 (Maipo)", "Fedora release 20 (Heisenbug)".
pub fn parse_redhat_release(text: &str) -> Result<OsRelease, String> {
    let line = text.lines().next().unwrap_or("").trim();
    let Some((name, rest)) = line.split_once(" release ") else {
        return Err("no \"NAME release VERSION\" line".into());
    };
    if name.is_empty() || line.chars().any(char::is_control) {
        return Err("no \"NAME release VERSION\" line".into());
    }
    let version = rest.split_whitespace().next().filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
    let id = if name.starts_with("CentOS") {
        Some("centos")
    } else if name.starts_with("Red Hat Enterprise Linux") {
        Some("rhel")
    } else if name.starts_with("Fedora") {
        Some("fedora")
    } else {
        None
    };
    Ok(OsRelease {
        name: Some(name.to_string()),
        version_id: version.map(str::to_string),
        pretty_name: Some(line.to_string()),
        id: id.map(str::to_string),
    })
}

pub fn parse_kernel_release(text: &str) -> Result<String, String> {
    let release = text.trim();
    if release.is_empty() || release.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{release:?} is not a kernel release"));
    }
    Ok(release.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn release(name: &str, version_id: &str, pretty_name: &str, id: &str) -> OsRelease {
        OsRelease {
            name: Some(name.into()),
            version_id: Some(version_id.into()),
            pretty_name: Some(pretty_name.into()),
            id: Some(id.into()),
        }
    }

    #[test]
    fn debian_12_os_release() {
        // Captured from this machine (Linux vm 6.18.44-fc-v595 x86_64), 2026-11-24.
        let text = r#"PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION="12 (bookworm)"
VERSION_CODENAME=bookworm
ID=debian
HOME_URL="https://www.debian.org/"
SUPPORT_URL="https://www.debian.org/support"
BUG_REPORT_URL="https://bugs.debian.org/"
"#;
        assert_eq!(
            parse_os_release(text),
            Ok(release("Debian GNU/Linux", "12", "Debian GNU/Linux 12 (bookworm)", "debian"))
        );
    }

    #[test]
    fn ubuntu_16_04_os_release() {
        // Typed from the format Ubuntu 16.04 ships (base-files 9.4ubuntu4).
        let text = r#"NAME="Ubuntu"
VERSION="16.04.7 LTS (Xenial Xerus)"
ID=ubuntu
ID_LIKE=debian
PRETTY_NAME="Ubuntu 16.04.7 LTS"
VERSION_ID="16.04"
HOME_URL="http://www.ubuntu.com/"
SUPPORT_URL="http://help.ubuntu.com/"
BUG_REPORT_URL="http://bugs.launchpad.net/ubuntu/"
VERSION_CODENAME=xenial
UBUNTU_CODENAME=xenial
"#;
        assert_eq!(parse_os_release(text), Ok(release("Ubuntu", "16.04", "Ubuntu 16.04.7 LTS", "ubuntu")));
    }

    #[test]
    fn quoting_comments_and_escapes() {
        let text = "# comment\nNAME='Single Quoted'\nPRETTY_NAME=\"Say \\\"hi\\\" \\$HOME\"\nID=\n";
        let parsed = parse_os_release(text).expect("os-release");
        assert_eq!(parsed.name.as_deref(), Some("Single Quoted"));
        assert_eq!(parsed.pretty_name.as_deref(), Some("Say \"hi\" $HOME"));
        assert_eq!(parsed.id, None);
    }

    #[test]
    fn binary_junk_is_not_an_os_release() {
        assert!(parse_os_release("\u{0}\u{1}\u{2}ELF\u{7f}\n\u{3}=\u{4}\n").is_err());
        assert!(parse_os_release("NAME=\"\u{1b}[31mred\"\n").is_err());
        assert!(parse_os_release("").is_err());
    }

    #[test]
    fn centos_7_redhat_release() {
        assert_eq!(
            parse_redhat_release("CentOS Linux release 7.9.2009 (Core)\n"),
            Ok(release("CentOS Linux", "7.9.2009", "CentOS Linux release 7.9.2009 (Core)", "centos"))
        );
    }

    #[test]
    fn centos_6_and_rhel_redhat_release() {
        let centos6 = parse_redhat_release("CentOS release 6.10 (Final)\n").expect("centos 6");
        assert_eq!(centos6.name.as_deref(), Some("CentOS"));
        assert_eq!(centos6.version_id.as_deref(), Some("6.10"));
        assert_eq!(centos6.id.as_deref(), Some("centos"));
        let rhel =
            parse_redhat_release("Red Hat Enterprise Linux Server release 7.9 (Maipo)\n").expect("rhel");
        assert_eq!(rhel.name.as_deref(), Some("Red Hat Enterprise Linux Server"));
        assert_eq!(rhel.version_id.as_deref(), Some("7.9"));
        assert_eq!(rhel.id.as_deref(), Some("rhel"));
        assert!(parse_redhat_release("garbage\n").is_err());
        assert!(parse_redhat_release("").is_err());
    }

    #[test]
    fn kernel_release_is_one_token() {
        // Captured from this machine, 2026-11-24.
        assert_eq!(parse_kernel_release("6.18.44-fc-v595\n"), Ok("6.18.44-fc-v595".into()));
        assert!(parse_kernel_release("\n").is_err());
    }
}

//! Reading files under the host root without ever failing the whole collection: every
//! failure becomes one line of `Facts.unreadable` ("what: why (path)") and a `None`.

use std::fmt::Display;
use std::fs::File;
use std::io::{self, Read};

use crate::netif::HostRoot;

/// Biggest file we read: /proc/cpuinfo of a 1024-thread host is about 1.5 MiB.
const MAX_FILE_BYTES: u64 = 8 << 20;

#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error("{} ({path})", short_io_error(.source))]
    Io { path: String, source: io::Error },
    #[error("larger than {MAX_FILE_BYTES} bytes ({path})")]
    TooLarge { path: String },
    #[error("not UTF-8 text ({path})")]
    NotText { path: String },
}

impl ReadError {
    /// A missing file is normal for optional attributes and for fallbacks that are not needed.
    pub(super) fn is_not_found(&self) -> bool {
        matches!(self, ReadError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

/// "Permission denied (os error 13)" -> "permission denied".
fn short_io_error(err: &io::Error) -> String {
    if err.kind() == io::ErrorKind::NotFound {
        return "not found".into();
    }
    let full = err.to_string();
    let text = match full.find(" (os error ") {
        Some(at) => &full[..at],
        None => full.as_str(),
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Reads under one root and keeps the list of what could not be read.
pub(super) struct Reader<'a> {
    root: &'a HostRoot,
    unreadable: Vec<String>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(root: &'a HostRoot) -> Self {
        Reader { root, unreadable: Vec::new() }
    }

    pub(super) fn root(&self) -> &HostRoot {
        self.root
    }

    pub(super) fn into_unreadable(self) -> Vec<String> {
        self.unreadable
    }

    /// Records that `what` could not be read, and why.
    pub(super) fn note(&mut self, what: &str, why: impl Display) {
        self.unreadable.push(format!("{what}: {why}"));
    }

    /// The whole file `rel` (a path under the root) as text; nothing is recorded.
    pub(super) fn try_text(&self, rel: &str) -> Result<String, ReadError> {
        let path = rel.to_string();
        let io = |source| ReadError::Io { path: path.clone(), source };
        let file = File::open(self.root.join(rel)).map_err(io)?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes).map_err(io)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(ReadError::TooLarge { path });
        }
        String::from_utf8(bytes).map_err(|_| ReadError::NotText { path })
    }

    /// Reads `rel` and parses it; any failure is recorded under `what`.
    pub(super) fn parsed<T>(
        &mut self,
        what: &str,
        rel: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        self.parse_read(what, rel, self.try_text(rel), parse)
    }

    /// Like `parsed`, but a missing file is normal (optional attribute) and not recorded.
    pub(super) fn parsed_if_present<T>(
        &mut self,
        what: &str,
        rel: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match self.try_text(rel) {
            Err(err) if err.is_not_found() => None,
            read => self.parse_read(what, rel, read, parse),
        }
    }

    fn parse_read<T>(
        &mut self,
        what: &str,
        rel: &str,
        read: Result<String, ReadError>,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match read.map(|text| parse(&text)) {
            Ok(Ok(value)) => Some(value),
            Ok(Err(why)) => {
                self.note(what, format_args!("{why} ({rel})"));
                None
            }
            Err(err) => {
                self.note(what, err);
                None
            }
        }
    }

    /// Whether `rel` exists under the root (a directory or a file).
    pub(super) fn exists(&self, rel: &str) -> bool {
        self.root.join(rel).exists()
    }

    /// Last path component of the symlink `rel` points to (sysfs `device/driver`).
    pub(super) fn link_basename(&self, rel: &str) -> Result<String, ReadError> {
        let target = std::fs::read_link(self.root.join(rel))
            .map_err(|source| ReadError::Io { path: rel.to_string(), source })?;
        target
            .file_name()
            .and_then(|name| name.to_str())
            .map(str::to_string)
            .ok_or_else(|| ReadError::NotText { path: rel.to_string() })
    }

    /// Names of the entries of directory `rel`, sorted; non-UTF-8 names are skipped.
    pub(super) fn dir_names(&self, rel: &str) -> Result<Vec<String>, ReadError> {
        let io = |source| ReadError::Io { path: rel.to_string(), source };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(self.root.join(rel)).map_err(io)? {
            if let Some(name) = entry.map_err(io)?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        names.sort();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_as_short_lower_case_reasons() {
        let denied = io::Error::from_raw_os_error(13);
        assert_eq!(short_io_error(&denied), "permission denied");
        let einval = io::Error::from_raw_os_error(22);
        assert_eq!(short_io_error(&einval), "invalid argument");
    }

    #[test]
    fn a_failed_read_is_recorded_with_what_why_and_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("etc")).expect("mkdir");
        std::fs::write(dir.path().join("etc/junk"), [0xff_u8, 0xfe, 0x00]).expect("write");
        let root = HostRoot::new(dir.path());
        let mut reader = Reader::new(&root);
        assert_eq!(reader.parsed("junk", "etc/junk", |t| Ok(t.to_string())), None);
        assert_eq!(reader.parsed("gone", "etc/gone", |t| Ok(t.to_string())), None);
        assert_eq!(reader.parsed_if_present("optional", "etc/gone", |t| Ok(t.len())), None);
        assert_eq!(
            reader.into_unreadable(),
            vec!["junk: not UTF-8 text (etc/junk)", "gone: not found (etc/gone)"]
        );
    }
}

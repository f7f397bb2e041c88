//! Sources: folders and URL lists a knowledge base keeps in sync, run on a schedule or on
//! demand. One module per step of a run:
//!
//! 1. [`schedule`]: when a source is due (cron in a time zone, missed fires run once);
//! 2. [`scan`]: list the folder (globs, no symlinks) and plan the run against what the
//!    source saw last: unchanged by size and mtime, otherwise decided by content hash;
//! 3. [`fetch`]: read a file or fetch a URL (SSRF guard, size, time and type limits);
//! 4. [`sync`]: apply the plan: new files queued, changed ones re-ingested in place, renames
//!    relinked without re-embedding, deleted ones removed; the run's record and progress.
//!
//! [`manage`] holds the operations the interfaces call (create, list, change, remove, run,
//! cancel). Cron schedules are [`crate::schedule`]; the SQL is in [`crate::store`]; the
//! scheduler loop is in `jobs/scheduler.rs`, above this layer.

pub mod fetch;
pub mod manage;
pub mod scan;
pub mod sync;

use std::path::PathBuf;

use crate::config::SourcesConfig;
use crate::error::Error;
pub use crate::store::{Run, RunError, SourceKind as Kind, SourceRow, Spec};

/// Why a source definition is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum Invalid {
    #[error("{0}")]
    Bad(String),
    #[error("{0}")]
    Forbidden(String),
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        match e {
            Invalid::Bad(m) => Error::BadRequest(m),
            Invalid::Forbidden(m) => Error::Forbidden(m),
        }
    }
}

/// Most URLs in one list, and most globs per side.
pub const MAX_URLS: usize = 10_000;
const MAX_GLOBS: usize = 100;

impl Spec {
    /// Checks everything a client sent: the folder exists and lies under an allowed root,
    /// URLs are http(s) and (unless allowed) not literal private addresses, the globs
    /// compile and the schedule parses in its time zone.
    pub fn validate(mut self, config: &SourcesConfig) -> Result<Self, Invalid> {
        match self.kind {
            Kind::Folder => {
                let path = self
                    .path
                    .take()
                    .ok_or_else(|| Invalid::Bad("a folder source needs a path".into()))?;
                if !self.urls.is_empty() {
                    return Err(Invalid::Bad("a folder source takes no urls".into()));
                }
                self.path = Some(allowed_folder(&path, &config.folder_roots)?);
            }
            Kind::Urls => {
                if self.path.is_some() {
                    return Err(Invalid::Bad("a url source takes no path".into()));
                }
                if self.urls.is_empty() {
                    return Err(Invalid::Bad("a url source needs at least one url".into()));
                }
                if self.urls.len() > MAX_URLS {
                    return Err(Invalid::Bad(format!("at most {MAX_URLS} urls per source")));
                }
                let mut seen = std::collections::HashSet::new();
                for url in &mut self.urls {
                    *url = fetch::check_url(url.trim(), config.allow_private_urls)?.to_string();
                }
                self.urls.retain(|u| seen.insert(u.clone()));
            }
        }
        for globs in [&self.include, &self.exclude] {
            if globs.len() > MAX_GLOBS {
                return Err(Invalid::Bad(format!("at most {MAX_GLOBS} globs per list")));
            }
        }
        scan::Filters::new(&self.include, &self.exclude).map_err(Invalid::Bad)?;
        self.schedule = self
            .schedule
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        if let Some(expr) = &self.schedule {
            crate::schedule::Schedule::parse(expr, &self.timezone).map_err(Invalid::Bad)?;
        } else {
            jiff::tz::TimeZone::get(&self.timezone)
                .map_err(|_| Invalid::Bad(format!("unknown time zone {:?}", self.timezone)))?;
        }
        Ok(self)
    }
}

/// A folder source's path checked again at the start of each run, against the roots
/// configured now: it must still be a folder under one of them, reached without a symbolic
/// link (it was stored canonical, so a path that now resolves elsewhere went through one).
pub fn confine(stored: &std::path::Path, roots: &[PathBuf]) -> Result<PathBuf, String> {
    let canonical = allowed_folder(stored, roots).map_err(|e| e.to_string())?;
    if canonical != stored {
        return Err(format!(
            "refused: the folder {} now resolves to {} (through a symbolic link)",
            stored.display(),
            canonical.display()
        ));
    }
    Ok(canonical)
}

/// The canonical form of `path` when it is an existing folder under one of `roots`.
fn allowed_folder(path: &std::path::Path, roots: &[PathBuf]) -> Result<PathBuf, Invalid> {
    if !path.is_absolute() {
        return Err(Invalid::Bad(format!(
            "folder path must be absolute: {}",
            path.display()
        )));
    }
    if roots.is_empty() {
        return Err(Invalid::Forbidden(
            "folder sources are off: list the folders they may read in sources.folder_roots (RAGD_SOURCE_ROOTS)".into(),
        ));
    }
    let canonical = path
        .canonicalize()
        .map_err(|_| Invalid::Bad(format!("no such folder: {}", path.display())))?;
    if !canonical.is_dir() {
        return Err(Invalid::Bad(format!("not a folder: {}", path.display())));
    }
    let allowed = roots.iter().any(|root| {
        root.canonicalize()
            .is_ok_and(|root| canonical.starts_with(root))
    });
    if !allowed {
        return Err(Invalid::Forbidden(format!(
            "folder {} is outside sources.folder_roots",
            path.display()
        )));
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(path: &std::path::Path) -> Spec {
        Spec {
            kind: Kind::Folder,
            path: Some(path.to_path_buf()),
            urls: vec![],
            include: vec![],
            exclude: vec![],
            schedule: None,
            timezone: "UTC".into(),
            enabled: true,
        }
    }

    #[test]
    fn folders_must_be_under_a_root() {
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("docs");
        std::fs::create_dir(&inside).unwrap();
        let other = tempfile::tempdir().unwrap();
        let config = SourcesConfig {
            folder_roots: vec![root.path().to_path_buf()],
            ..Default::default()
        };
        assert!(folder(&inside).validate(&config).is_ok());
        assert!(matches!(
            folder(other.path()).validate(&config),
            Err(Invalid::Forbidden(_))
        ));
        // `..` cannot climb out.
        let sneaky = inside.join("..").join("..");
        assert!(matches!(
            folder(&sneaky).validate(&config),
            Err(Invalid::Forbidden(_))
        ));
        assert!(matches!(
            folder(std::path::Path::new("relative")).validate(&config),
            Err(Invalid::Bad(_))
        ));
        assert!(matches!(
            folder(&inside).validate(&SourcesConfig::default()),
            Err(Invalid::Forbidden(_))
        ));
    }

    #[test]
    fn schedules_and_globs_are_checked() {
        let root = tempfile::tempdir().unwrap();
        let config = SourcesConfig {
            folder_roots: vec![root.path().to_path_buf()],
            ..Default::default()
        };
        let mut s = folder(root.path());
        s.schedule = Some("every day".into());
        assert!(matches!(s.validate(&config), Err(Invalid::Bad(m)) if m.contains("cron")));
        let mut s = folder(root.path());
        s.timezone = "Nowhere/City".into();
        assert!(s.validate(&config).is_err());
        let mut s = folder(root.path());
        s.include = vec!["a/[".into()];
        assert!(s.validate(&config).is_err());
        let mut s = folder(root.path());
        s.schedule = Some("  ".into());
        assert_eq!(s.validate(&config).unwrap().schedule, None);
    }

    #[test]
    fn url_lists_are_checked_and_deduplicated() {
        let config = SourcesConfig::default();
        let spec = |urls: &[&str]| Spec {
            kind: Kind::Urls,
            path: None,
            urls: urls.iter().map(|s| s.to_string()).collect(),
            include: vec![],
            exclude: vec![],
            schedule: None,
            timezone: "UTC".into(),
            enabled: true,
        };
        let ok = spec(&["https://example.com/a", "https://example.com/a"])
            .validate(&config)
            .unwrap();
        assert_eq!(ok.urls, vec!["https://example.com/a"]);
        assert!(spec(&["ftp://example.com/a"]).validate(&config).is_err());
        assert!(matches!(
            spec(&["http://169.254.169.254/latest/meta-data"]).validate(&config),
            Err(Invalid::Forbidden(_))
        ));
        assert!(spec(&[]).validate(&config).is_err());
    }
}

//! `[backup]`: where backups go, their schedule and how many are kept.

use std::path::PathBuf;

use serde::Serialize;

use crate::schedule::Schedule;

/// `[backup]`.
#[derive(Debug, Clone, serde::Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Where backups go (default `<data_dir>/backups`; another disk is better).
    pub dir: Option<PathBuf>,
    /// Cron expression (5 fields, or 6 with seconds) for scheduled backups; empty: none.
    pub schedule: String,
    pub timezone: String,
    /// Backups kept after each new one, newest first; 0: all.
    pub keep: usize,
}

impl Default for BackupConfig {
    fn default() -> Self {
        Self {
            dir: None,
            schedule: String::new(),
            timezone: "UTC".into(),
            keep: 7,
        }
    }
}

impl BackupConfig {
    pub fn validate(&self) -> Result<(), String> {
        self.parsed_schedule().map(|_| ())
    }

    /// The schedule, when one is set.
    pub fn parsed_schedule(&self) -> Result<Option<Schedule>, String> {
        if self.schedule.trim().is_empty() {
            return Ok(None);
        }
        Schedule::parse(&self.schedule, &self.timezone).map(Some)
    }
}

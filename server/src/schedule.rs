//! When a source runs: a cron expression (5 fields, or 6 with seconds; `croner`) read in an
//! IANA time zone (`jiff`, the system tz database).
//!
//! A fire time is handled once: the scheduler remembers the latest fire it ran (`last`).
//! A source is due when a fire time lies in `(last, now]`; several fires missed while the
//! server was down collapse into one run, which is what [`Schedule::due`] returns.

use std::str::FromStr;

use croner::Cron;
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    tz: TimeZone,
}

impl Schedule {
    /// Parses `expr` in time zone `tz` (an IANA name such as `Asia/Shanghai`, or `UTC`).
    pub fn parse(expr: &str, tz: &str) -> Result<Self, String> {
        let cron = Cron::from_str(expr.trim())
            .map_err(|e| format!("invalid cron expression {expr:?}: {e}"))?;
        let tz = TimeZone::get(tz).map_err(|_| format!("unknown time zone {tz:?}"))?;
        Ok(Self { cron, tz })
    }

    /// The first fire time strictly after `after`, in the schedule's zone.
    pub fn next_after(&self, after: Timestamp) -> Option<Zoned> {
        self.cron
            .find_next_occurrence(&after.to_zoned(self.tz.clone()), false)
            .ok()
    }

    /// The latest fire time in `(last, now]`, if any: the source is due and that fire is
    /// the one to record as handled.
    pub fn due(&self, last: Timestamp, now: Timestamp) -> Option<Timestamp> {
        let prev = self
            .cron
            .find_previous_occurrence(&now.to_zoned(self.tz.clone()), true)
            .ok()?
            .timestamp();
        (prev > last).then_some(prev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn bad_expressions_and_zones_are_errors() {
        assert!(Schedule::parse("not cron", "UTC").is_err());
        assert!(Schedule::parse("61 * * * *", "UTC").is_err());
        assert!(Schedule::parse("0 * * * *", "Mars/Olympus").is_err());
        assert!(Schedule::parse("0 */6 * * *", "Asia/Shanghai").is_ok());
        assert!(
            Schedule::parse("*/5 * * * * *", "UTC").is_ok(),
            "6 fields: seconds"
        );
    }

    #[test]
    fn next_fire_respects_the_time_zone() {
        // 02:00 every day in Shanghai is 18:00 UTC the day before.
        let s = Schedule::parse("0 2 * * *", "Asia/Shanghai").unwrap();
        let next = s.next_after(ts("2026-11-28T12:00:00Z")).unwrap();
        assert_eq!(next.timestamp(), ts("2026-11-28T18:00:00Z"));
        let utc = Schedule::parse("0 2 * * *", "UTC").unwrap();
        assert_eq!(
            utc.next_after(ts("2026-11-28T12:00:00Z"))
                .unwrap()
                .timestamp(),
            ts("2026-11-29T02:00:00Z")
        );
    }

    #[test]
    fn due_once_for_many_missed_fires() {
        let hourly = Schedule::parse("0 * * * *", "UTC").unwrap();
        // Down from 03:30 to 09:10: fires at 04..09 were missed; one run, recorded as 09:00.
        let last = ts("2026-11-28T03:00:00Z");
        let now = ts("2026-11-28T09:10:00Z");
        assert_eq!(hourly.due(last, now), Some(ts("2026-11-28T09:00:00Z")));
        // Once recorded, nothing is due until the next fire.
        assert_eq!(hourly.due(ts("2026-11-28T09:00:00Z"), now), None);
        assert_eq!(
            hourly.due(ts("2026-11-28T09:00:00Z"), ts("2026-11-28T10:00:00Z")),
            Some(ts("2026-11-28T10:00:00Z")),
            "a fire exactly at now is due"
        );
    }

    #[test]
    fn a_new_source_waits_for_its_first_fire() {
        let daily = Schedule::parse("30 6 * * *", "UTC").unwrap();
        let created = ts("2026-11-28T07:00:00Z");
        assert_eq!(daily.due(created, ts("2026-11-28T23:59:00Z")), None);
        assert_eq!(
            daily.due(created, ts("2026-11-29T06:30:01Z")),
            Some(ts("2026-11-29T06:30:00Z"))
        );
    }
}

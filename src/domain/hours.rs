//! Business hours: when a person is there to read a handoff, so the
//! assistant and the widget can say so honestly ("We're closed now; we'll
//! reply from 9:00 on Monday").
//!
//! Written as `--business-hours`: one or more `DAYS HH:MM-HH:MM` ranges
//! separated by commas, then the IANA time zone, then optionally `; closed`
//! and a comma-separated list of dates:
//!
//! ```text
//! Mon-Fri 09:00-17:30 Europe/London; closed 2026-12-25,2026-12-26
//! Mon-Thu 09:00-17:30, Fri 09:00-16:00, Sat 10:00-13:00 Europe/London
//! ```

use std::fmt;
use std::str::FromStr;

use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan, Zoned};

/// When someone is there.
#[derive(Clone, Debug)]
pub struct BusinessHours {
    /// Opening and closing time of each weekday (Monday first), if open.
    days: [Option<(Time, Time)>; 7],
    zone: TimeZone,
    zone_name: String,
    closed: Vec<Date>,
    /// As written, for `Display`.
    text: String,
}

/// Whether someone is there now, and if not, when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    Open,
    /// Closed until this local date and time.
    ClosedUntil(Zoned),
}

const WEEKDAYS: [(&str, Weekday); 7] = [
    ("mon", Weekday::Monday),
    ("tue", Weekday::Tuesday),
    ("wed", Weekday::Wednesday),
    ("thu", Weekday::Thursday),
    ("fri", Weekday::Friday),
    ("sat", Weekday::Saturday),
    ("sun", Weekday::Sunday),
];

fn weekday(name: &str) -> Option<usize> {
    let name = name.to_ascii_lowercase();
    WEEKDAYS
        .iter()
        .position(|(short, _)| name.starts_with(short) && short.len() >= 3 && name.len() >= 3)
}

fn index(day: Weekday) -> usize {
    day.to_monday_zero_offset() as usize
}

impl FromStr for BusinessHours {
    type Err = String;

    fn from_str(input: &str) -> Result<Self, String> {
        let error = |why: &str| {
            format!(
                "invalid business hours {input:?}: {why} (expected e.g. \"Mon-Fri 09:00-17:30 Europe/London; closed 2026-12-25\")"
            )
        };
        let mut parts = input.split(';');
        let schedule = parts.next().unwrap_or_default().trim();
        let (ranges, zone_name) = schedule
            .rsplit_once(char::is_whitespace)
            .ok_or_else(|| error("no time zone"))?;
        let zone = TimeZone::get(zone_name).map_err(|_| error("unknown time zone"))?;
        let mut days = [None; 7];
        for range in ranges.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            let (which, times) = range
                .split_once(char::is_whitespace)
                .ok_or_else(|| error("a range is `DAYS HH:MM-HH:MM`"))?;
            let (open, close) = times
                .trim()
                .split_once('-')
                .ok_or_else(|| error("times are `HH:MM-HH:MM`"))?;
            let time =
                |t: &str| Time::strptime("%H:%M", t.trim()).map_err(|_| error("a time is HH:MM"));
            let (open, close) = (time(open)?, time(close)?);
            if open >= close {
                return Err(error("a range must close after it opens"));
            }
            let (first, last) = match which.split_once('-') {
                Some((a, b)) => (weekday(a), weekday(b)),
                None => (weekday(which), weekday(which)),
            };
            let (Some(first), Some(last)) = (first, last) else {
                return Err(error(
                    "days are Mon, Tue, Wed, Thu, Fri, Sat, Sun or a range of them",
                ));
            };
            let mut day = first;
            loop {
                days[day] = Some((open, close));
                if day == last {
                    break;
                }
                day = (day + 1) % 7;
            }
        }
        if days.iter().all(Option::is_none) {
            return Err(error("no opening hours"));
        }
        let mut closed = Vec::new();
        for part in parts {
            let dates = part
                .trim()
                .strip_prefix("closed")
                .ok_or_else(|| error("after `;` comes `closed` and dates"))?;
            for date in dates.split(',').map(str::trim).filter(|d| !d.is_empty()) {
                closed.push(
                    date.parse::<Date>()
                        .map_err(|_| error("a date is YYYY-MM-DD"))?,
                );
            }
        }
        Ok(Self {
            days,
            zone,
            zone_name: zone_name.to_owned(),
            closed,
            text: input.trim().to_owned(),
        })
    }
}

impl fmt::Display for BusinessHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The longest a search for the next opening goes (a year and a week).
const HORIZON_DAYS: i64 = 372;

impl BusinessHours {
    /// Whether someone is there at `now`, and if not, when they will be.
    pub fn at(&self, now: Timestamp) -> Availability {
        let local = now.to_zoned(self.zone.clone());
        let mut date = local.date();
        for day in 0..HORIZON_DAYS {
            if let Some((open, close)) = self.hours_on(date) {
                let (open_at, close_at) = (self.moment(date, open), self.moment(date, close));
                if day == 0 && open_at.timestamp() <= now && now < close_at.timestamp() {
                    return Availability::Open;
                }
                if now < open_at.timestamp() {
                    return Availability::ClosedUntil(open_at);
                }
            }
            date = date.tomorrow().expect("a date this year is not the last");
        }
        // Open on no day for a year: say nothing about when.
        Availability::ClosedUntil(local.checked_add(HORIZON_DAYS.days()).unwrap_or(local))
    }

    fn hours_on(&self, date: Date) -> Option<(Time, Time)> {
        if self.closed.contains(&date) {
            return None;
        }
        self.days[index(date.weekday())]
    }

    fn moment(&self, date: Date, time: Time) -> Zoned {
        date.to_datetime(time)
            .to_zoned(self.zone.clone())
            .expect("a local time resolves in its zone")
    }

    pub fn zone_name(&self) -> &str {
        &self.zone_name
    }

    /// The time zone the hours are in.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// What to tell a visitor at `now`: whether someone is there, or when
    /// they will reply.
    pub fn sentence(&self, now: Timestamp) -> String {
        match self.at(now) {
            Availability::Open => {
                "Our team is in now and will reply by email as soon as they can.".to_owned()
            }
            Availability::ClosedUntil(open) => {
                let today = now.to_zoned(self.zone.clone()).date();
                format!(
                    "We're closed now; we'll reply from {} {}.",
                    open.strftime("%-H:%M"),
                    when(today, open.date())
                )
            }
        }
    }
}

/// "today", "tomorrow", "on Monday" (within the week) or "on Monday 28 December".
fn when(today: Date, day: Date) -> String {
    let name = day.strftime("%A").to_string();
    match (day - today).get_days() {
        0 => "today".to_owned(),
        1 => "tomorrow".to_owned(),
        2..=6 => format!("on {name}"),
        _ => format!("on {name} {}", day.strftime("%-d %B")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hours(text: &str) -> BusinessHours {
        text.parse().unwrap()
    }

    /// `local` (`YYYY-MM-DDTHH:MM`) in London as a timestamp.
    fn london(local: &str) -> Timestamp {
        local
            .parse::<jiff::civil::DateTime>()
            .unwrap()
            .to_zoned(TimeZone::get("Europe/London").unwrap())
            .unwrap()
            .timestamp()
    }

    #[test]
    fn open_inside_the_hours_and_closed_outside_them() {
        let h = hours("Mon-Fri 09:00-17:30 Europe/London");
        // Wednesday 2 December 2026.
        assert_eq!(h.at(london("2026-12-02T10:00")), Availability::Open);
        assert_eq!(h.at(london("2026-12-02T09:00")), Availability::Open);
        assert_ne!(h.at(london("2026-12-02T17:30")), Availability::Open);
        assert_ne!(h.at(london("2026-12-02T08:59")), Availability::Open);
    }

    #[test]
    fn at_8_pm_on_a_friday_it_says_monday_at_nine() {
        let h = hours("Mon-Fri 09:00-17:30 Europe/London");
        assert_eq!(
            h.sentence(london("2026-12-04T20:00")),
            "We're closed now; we'll reply from 9:00 on Monday."
        );
        assert_eq!(
            h.sentence(london("2026-12-02T20:00")),
            "We're closed now; we'll reply from 9:00 tomorrow."
        );
        assert_eq!(
            h.sentence(london("2026-12-02T07:00")),
            "We're closed now; we'll reply from 9:00 today."
        );
        assert!(
            h.sentence(london("2026-12-02T12:00"))
                .starts_with("Our team is in now")
        );
    }

    #[test]
    fn holidays_are_skipped_and_a_far_opening_names_its_date() {
        let h =
            hours("Mon-Fri 09:00-17:30 Europe/London; closed 2026-12-24,2026-12-25, 2026-12-28");
        // Wednesday 23 December, evening: Thursday and Friday are closed, and Monday.
        assert_eq!(
            h.sentence(london("2026-12-23T19:00")),
            "We're closed now; we'll reply from 9:00 on Tuesday."
        );
        let h = hours("Mon 09:00-10:00 Europe/London; closed 2026-12-07,2026-12-14");
        assert_eq!(
            h.sentence(london("2026-12-02T12:00")),
            "We're closed now; we'll reply from 9:00 on Monday 21 December."
        );
    }

    #[test]
    fn several_ranges_and_daylight_saving_time() {
        let h = hours("Mon-Thu 09:00-17:30, Fri 09:00-16:00, Sat 10:00-13:00 Europe/London");
        assert_ne!(
            h.at(london("2026-12-04T16:30")),
            Availability::Open,
            "Friday closes at 4"
        );
        assert_eq!(
            h.at(london("2026-12-05T11:00")),
            Availability::Open,
            "Saturday morning"
        );
        // Summer time: 09:00 in London is 08:00 UTC.
        let summer: Timestamp = "2026-07-01T08:30:00Z".parse().unwrap();
        assert_eq!(h.at(summer), Availability::Open);
    }

    #[test]
    fn bad_hours_are_refused_with_the_reason() {
        for (bad, says) in [
            ("Mon-Fri 09:00-17:30", "unknown time zone"),
            ("Mon-Fri 09:00-17:30 Mars/Olympus", "unknown time zone"),
            ("Mon-Fri 17:30-09:00 Europe/London", "close after it opens"),
            ("Funday 09:00-17:30 Europe/London", "days are"),
            ("Mon-Fri 9-5 Europe/London", "HH:MM"),
            (
                "Mon-Fri 09:00-17:30 Europe/London; open 2026-12-25",
                "closed",
            ),
            (
                "Mon-Fri 09:00-17:30 Europe/London; closed Christmas",
                "YYYY-MM-DD",
            ),
        ] {
            let err = bad.parse::<BusinessHours>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}

//! The window an analytics route answers for: a period (`from`, `to`), a
//! bucket (hour, day, week) and a time zone in which days and weeks begin.
//! Hours are the rollups' grain, so a period starts and ends on whole hours.

use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, ApiResult};

/// The longest period a route answers for: a longer one keeps its last days.
pub const MAX_DAYS: i64 = 400;
/// The most points a series holds: past it, the next larger bucket is used
/// (an hourly series covers at most 33 days).
pub const MAX_POINTS: i64 = 800;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    #[default]
    Day,
    Week,
}

impl Bucket {
    /// The `date_trunc` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Bucket::Hour => "hour",
            Bucket::Day => "day",
            Bucket::Week => "week",
        }
    }

    fn hours(self) -> i64 {
        match self {
            Bucket::Hour => 1,
            Bucket::Day => 24,
            Bucket::Week => 168,
        }
    }
}

/// What the analytics routes take.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct PeriodParams {
    /// Start (RFC 3339, inclusive; rounded down to the hour). Default: 30
    /// days before `to`; at most 400 days before it (an earlier one is moved up).
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive; rounded up to the hour). Default: now. Not
    /// after `from`: an empty period.
    pub to: Option<DateTime<Utc>>,
    /// The series' bucket: `hour`, `day` (the default) or `week` (from
    /// Monday); past 800 points, the next larger one.
    #[param(value_type = Option<Bucket>)]
    pub bucket: Option<String>,
    /// IANA time zone in which days and weeks begin (default `UTC`).
    #[param(schema_with = zone_schema, example = "Europe/Paris")]
    pub tz: Option<String>,
    /// `json` (the default), or `csv`: the series as `text/csv`, a row per
    /// bucket under a header row.
    #[param(value_type = Option<Format>, inline)]
    pub format: Option<String>,
}

/// What an analytics route answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Json,
    Csv,
}

impl PeriodParams {
    /// The format asked for.
    pub fn format(&self) -> ApiResult<Format> {
        match self.format.as_deref() {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some(_) => Err(ApiError::field("format", "must be json or csv")),
        }
    }
}

/// IANA zones Postgres reads as fixed-offset abbreviations (so every summer
/// day would start an hour off): not taken; `Europe/Paris` and the like are.
const AMBIGUOUS: [&str; 4] = ["CET", "EET", "MET", "WET"];

/// The IANA zones `tz` takes.
fn zone_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(
            chrono_tz::TZ_VARIANTS
                .iter()
                .map(|z| z.name())
                .filter(|n| !AMBIGUOUS.contains(n)),
        ))
        .build()
}

/// A checked window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Period {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub bucket: Bucket,
    pub timezone: String,
}

impl Period {
    pub fn parse(p: &PeriodParams, now: DateTime<Utc>) -> ApiResult<Self> {
        let hour = Duration::hours(1);
        // Postgres keeps timestamps from 4713 BC to 294276 AD: dates are
        // kept within years 1–9999, where nothing below overflows.
        let (min, max) = (
            "0001-01-01T00:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap_or(now),
            "9999-12-01T00:00:00Z"
                .parse::<DateTime<Utc>>()
                .unwrap_or(now),
        );
        let floor = |t: DateTime<Utc>| t.duration_trunc(hour).unwrap_or(t);
        let to = p.to.unwrap_or(now).clamp(min, max);
        let to = if floor(to) == to {
            to
        } else {
            floor(to) + hour
        };
        let from = p
            .from
            .map_or(to - Duration::days(30), |f| floor(f.clamp(min, max)));
        // A period ending before it starts is empty; a longer one than
        // MAX_DAYS keeps its last MAX_DAYS (the answer's `period` says so).
        let from = from.min(to).max(to - Duration::days(MAX_DAYS));
        let bucket = match p.bucket.as_deref() {
            None => Bucket::Day,
            Some("hour") => Bucket::Hour,
            Some("day") => Bucket::Day,
            Some("week") => Bucket::Week,
            Some(_) => return Err(ApiError::field("bucket", "must be hour, day or week")),
        };
        // Too many points for the bucket: the next larger one.
        let hours = (to - from).num_hours();
        let bucket = [bucket, Bucket::Day, Bucket::Week]
            .into_iter()
            .find(|b| *b >= bucket && hours / b.hours() <= MAX_POINTS)
            .unwrap_or(Bucket::Week);
        let timezone = p.tz.clone().unwrap_or_else(|| "UTC".into());
        if timezone.parse::<Tz>().is_err() || AMBIGUOUS.contains(&timezone.as_str()) {
            return Err(ApiError::field(
                "tz",
                "must be an IANA time zone, e.g. Europe/Paris",
            ));
        }
        Ok(Self {
            from,
            to,
            bucket,
            timezone,
        })
    }
}

impl Period {
    /// The UTC days whose daily rows a ranking reads: the whole days, and
    /// also today when the period reaches past `now` (today's row then holds
    /// only runs inside the period: none has ended after now). The hours
    /// between `from` and the first, and between the last and `to`, come
    /// from the hourly rows.
    pub fn ranking_days(&self, now: DateTime<Utc>) -> std::ops::Range<DateTime<Utc>> {
        let days = self.whole_utc_days();
        let day = Duration::days(1);
        let today = now.duration_trunc(day).unwrap_or(now);
        if days.start < days.end && self.to > now && days.end == today {
            days.start..today + day
        } else {
            days
        }
    }

    /// The whole UTC days inside the period, as `start..end` midnights
    /// (`start == end`: none; then every hour of the period is an edge hour).
    pub fn whole_utc_days(&self) -> std::ops::Range<DateTime<Utc>> {
        let day = Duration::days(1);
        let floor = |t: DateTime<Utc>| t.duration_trunc(day).unwrap_or(t);
        let start = if floor(self.from) == self.from {
            self.from
        } else {
            floor(self.from) + day
        };
        let end = floor(self.to);
        if start < end {
            start..end
        } else {
            self.to..self.to
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn periods_are_whole_hours_and_kept_in_bounds() {
        let now = at("2026-11-30T18:20:00Z");
        let p = Period::parse(&PeriodParams::default(), now).expect("default");
        assert_eq!(p.to, at("2026-11-30T19:00:00Z"));
        assert_eq!(p.from, at("2026-10-31T19:00:00Z"));
        assert_eq!((p.bucket, p.timezone.as_str()), (Bucket::Day, "UTC"));
        let parse = |q: PeriodParams| Period::parse(&q, now);
        assert!(parse(PeriodParams {
            bucket: Some("month".into()),
            ..Default::default()
        })
        .is_err());
        assert!(parse(PeriodParams {
            tz: Some("Mars/Olympus".into()),
            ..Default::default()
        })
        .is_err());
        assert!(
            parse(PeriodParams {
                tz: Some("CET".into()),
                ..Default::default()
            })
            .is_err(),
            "Postgres reads CET as a fixed offset"
        );
        // Backwards: empty. Too long: its last 400 days. Too many points: a larger bucket.
        let back = parse(PeriodParams {
            from: Some(now),
            to: Some(now - Duration::hours(2)),
            ..Default::default()
        })
        .expect("empty");
        assert_eq!(back.from, back.to);
        let long = parse(PeriodParams {
            from: Some(now - Duration::days(500)),
            ..Default::default()
        })
        .expect("long");
        assert_eq!(long.to - long.from, Duration::days(MAX_DAYS));
        let hourly = parse(PeriodParams {
            from: Some(now - Duration::days(60)),
            bucket: Some("hour".into()),
            ..Default::default()
        })
        .expect("hourly");
        assert_eq!(hourly.bucket, Bucket::Day);
        let week = parse(PeriodParams {
            from: Some(now - Duration::days(399)),
            bucket: Some("week".into()),
            ..Default::default()
        })
        .expect("weekly");
        assert_eq!(
            week.bucket,
            Bucket::Week,
            "a larger bucket than needed stays"
        );
        for extreme in [DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC] {
            parse(PeriodParams {
                from: Some(extreme),
                to: Some(extreme),
                ..Default::default()
            })
            .expect("kept in range");
            parse(PeriodParams {
                to: Some(extreme),
                ..Default::default()
            })
            .expect("kept in range");
        }
        let days = p.whole_utc_days();
        assert_eq!(days, at("2026-11-01T00:00:00Z")..at("2026-11-30T00:00:00Z"));
        // Reaching past now, today's daily row serves; not otherwise.
        assert_eq!(
            p.ranking_days(p.to - Duration::minutes(30)),
            at("2026-11-01T00:00:00Z")..at("2026-12-01T00:00:00Z")
        );
        assert_eq!(p.ranking_days(p.to + Duration::minutes(30)), days);
        let short = parse(PeriodParams {
            from: Some(now - Duration::hours(3)),
            ..Default::default()
        })
        .expect("short");
        assert_eq!(
            short.whole_utc_days(),
            short.to..short.to,
            "no whole day: hours only"
        );
        assert!(parse(PeriodParams {
            from: Some(now - Duration::days(20)),
            bucket: Some("hour".into()),
            tz: Some("Asia/Kolkata".into()),
            ..Default::default()
        })
        .is_ok());
    }
}

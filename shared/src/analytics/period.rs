//! The window an analytics route answers for: a period (`from`, `to`), a
//! bucket (hour, day, week) and a time zone in which days and weeks begin.
//! Hours are the rollups' grain, so a period starts and ends on whole hours.

use chrono::{DateTime, Duration, DurationRound, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{ApiError, ApiResult};

/// The longest period a route answers for.
pub const MAX_DAYS: i64 = 400;
/// The most points a series holds (an hourly series is at most 31 days).
pub const MAX_POINTS: i64 = 800;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
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
    /// Start (RFC 3339, inclusive; rounded down to the hour). Default: 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// End (RFC 3339, exclusive; rounded up to the hour). Default: now.
    pub to: Option<DateTime<Utc>>,
    /// The series' bucket: `hour`, `day` (the default) or `week` (from Monday).
    #[param(value_type = Option<Bucket>)]
    pub bucket: Option<String>,
    /// IANA time zone in which days and weeks begin (default `UTC`).
    #[param(example = "Europe/Paris")]
    pub tz: Option<String>,
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
        let out_of_range =
            |field| ApiError::field(field, "is out of the range of dates this takes");
        // Postgres keeps timestamps from 4713 BC to 294276 AD; a period is at
        // most 400 days, so these years are plenty and nothing overflows.
        for (field, t) in [("from", p.from), ("to", p.to)] {
            if t.is_some_and(|t| !(1..=9999).contains(&chrono::Datelike::year(&t))) {
                return Err(out_of_range(field));
            }
        }
        let floor = |t: DateTime<Utc>| t.duration_trunc(hour).unwrap_or(t);
        let to = p.to.unwrap_or(now);
        let to = if floor(to) == to {
            to
        } else {
            floor(to)
                .checked_add_signed(hour)
                .ok_or_else(|| out_of_range("to"))?
        };
        let from = match p.from {
            Some(from) => floor(from),
            None => to
                .checked_sub_signed(Duration::days(30))
                .ok_or_else(|| out_of_range("to"))?,
        };
        if from >= to {
            return Err(ApiError::field("from", "must be before `to`"));
        }
        if to - from > Duration::days(MAX_DAYS) {
            return Err(ApiError::field(
                "from",
                format!("the period is at most {MAX_DAYS} days"),
            ));
        }
        let bucket = match p.bucket.as_deref() {
            None => Bucket::Day,
            Some("hour") => Bucket::Hour,
            Some("day") => Bucket::Day,
            Some("week") => Bucket::Week,
            Some(_) => return Err(ApiError::field("bucket", "must be hour, day or week")),
        };
        if (to - from).num_hours() / bucket.hours() > MAX_POINTS {
            return Err(ApiError::field(
                "bucket",
                format!("at most {MAX_POINTS} points: choose a larger bucket or a shorter period"),
            ));
        }
        let timezone = p.tz.clone().unwrap_or_else(|| "UTC".into());
        if timezone.parse::<Tz>().is_err() {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn periods_are_whole_hours_and_checked() {
        let now = at("2026-11-30T18:20:00Z");
        let p = Period::parse(&PeriodParams::default(), now).expect("default");
        assert_eq!(p.to, at("2026-11-30T19:00:00Z"));
        assert_eq!(p.from, at("2026-10-31T19:00:00Z"));
        assert_eq!((p.bucket, p.timezone.as_str()), (Bucket::Day, "UTC"));
        let bad = |q: PeriodParams| Period::parse(&q, now).is_err();
        assert!(bad(PeriodParams {
            bucket: Some("month".into()),
            ..Default::default()
        }));
        assert!(bad(PeriodParams {
            tz: Some("Mars/Olympus".into()),
            ..Default::default()
        }));
        assert!(bad(PeriodParams {
            from: Some(now),
            to: Some(now - Duration::hours(2)),
            ..Default::default()
        }));
        assert!(bad(PeriodParams {
            from: Some(now - Duration::days(500)),
            ..Default::default()
        }));
        assert!(bad(PeriodParams {
            from: Some(now - Duration::days(60)),
            bucket: Some("hour".into()),
            ..Default::default()
        }));
        assert!(!bad(PeriodParams {
            from: Some(now - Duration::days(20)),
            bucket: Some("hour".into()),
            tz: Some("Asia/Kolkata".into()),
            ..Default::default()
        }));
    }
}

//! Schedules' times: the next fire times of a five-field cron expression in
//! an IANA time zone (croner, chrono-tz), and the same schedule as an
//! EventBridge Scheduler expression (`cron(min hour dom month dow year)`,
//! days of the week 1–7 from Sunday, one of the two day fields `?`).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// A schedule's cron expression and time zone, checked.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: croner::Cron,
    expression: String,
    pub tz: Tz,
}

impl Schedule {
    /// `timezone` `None` is UTC. The error names what is wrong.
    pub fn parse(expression: &str, timezone: Option<&str>) -> Result<Self, String> {
        let cron = croner::Cron::new(expression)
            .parse()
            .map_err(|e| format!("invalid cron expression: {e}"))?;
        let tz: Tz = timezone
            .unwrap_or("UTC")
            .parse()
            .map_err(|_| format!("unknown time zone {:?}", timezone.unwrap_or_default()))?;
        Ok(Self {
            cron,
            expression: expression.trim().to_owned(),
            tz,
        })
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .find_next_occurrence(&after.with_timezone(&self.tz), false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// The next `n` fire times after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }

    /// The EventBridge Scheduler expression, or why it has none.
    pub fn eventbridge(&self) -> Result<String, String> {
        let fields: Vec<&str> = self.expression.split_whitespace().collect();
        let [min, hour, dom, month, dow] = fields.as_slice() else {
            return Err(
                "AWS schedules take five-field cron expressions (minute hour day month weekday)"
                    .into(),
            );
        };
        let (dom, dow) =
            match (*dom, *dow) {
                (d, "*") => (d.to_owned(), "?".to_owned()),
                ("*", w) => ("?".to_owned(), aws_weekdays(w)?),
                _ => return Err(
                    "a schedule cannot name both a day of the month and a day of the week on AWS \
                     (cron runs on either; EventBridge needs one of them to be *)"
                        .into(),
                ),
            };
        Ok(format!("cron({min} {hour} {dom} {month} {dow} *)"))
    }
}

/// Cron's weekdays (0–7, 0 and 7 Sunday) as EventBridge's (1–7, 1 Sunday).
/// Numeric items (`1-5`, `0,6`, `*/2`, `1-7/2`) are expanded to the days
/// they name and written as a list, so a range ending in 7 stays a range of
/// days; names (`MON-FRI`) are the same in both and pass through.
fn aws_weekdays(field: &str) -> Result<String, String> {
    if field.contains('#') || field.contains('L') {
        return Err("weekday # and L are not converted for AWS schedules".into());
    }
    if field.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Ok(field.to_owned());
    }
    let bad = || format!("cannot read the weekday field {field:?}");
    let mut days = [false; 7];
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().map_err(|_| bad())?.max(1)),
            None => (item, 1),
        };
        let (from, to) = match range {
            // As croner reads it: 0–7.
            "*" => (0, 7),
            r => match r.split_once('-') {
                Some((a, b)) => (
                    a.parse::<u32>().map_err(|_| bad())?,
                    b.parse::<u32>().map_err(|_| bad())?,
                ),
                None => {
                    let a = r.parse::<u32>().map_err(|_| bad())?;
                    (a, if step > 1 { 7 } else { a })
                }
            },
        };
        if from > 7 || to > 7 || from > to {
            return Err(bad());
        }
        let mut d = from;
        while d <= to {
            days[(d % 7) as usize] = true;
            d += step;
        }
    }
    if days.iter().all(|d| *d) {
        return Ok("*".into());
    }
    Ok(days
        .iter()
        .enumerate()
        .filter(|(_, on)| **on)
        .map(|(d, _)| (d + 1).to_string())
        .collect::<Vec<_>>()
        .join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn next_fire_times_follow_the_time_zone() {
        let every_minute = Schedule::parse("* * * * *", None).expect("valid");
        assert_eq!(
            every_minute.next_after(at("2026-11-30T10:00:30Z")),
            Some(at("2026-11-30T10:01:00Z"))
        );
        assert_eq!(
            every_minute.next_after(at("2026-11-30T10:01:00Z")),
            Some(at("2026-11-30T10:02:00Z")),
            "strictly after"
        );
        // 09:00 in Paris is 08:00 UTC in winter, 07:00 in summer.
        let paris = Schedule::parse("0 9 * * 1-5", Some("Europe/Paris")).expect("valid");
        assert_eq!(
            paris.next_after(at("2026-11-27T12:00:00Z")),
            Some(at("2026-11-30T08:00:00Z")),
            "Friday noon: Monday"
        );
        assert_eq!(
            paris.next_after(at("2026-07-01T00:00:00Z")),
            Some(at("2026-07-01T07:00:00Z"))
        );
        assert_eq!(paris.upcoming(at("2026-11-27T12:00:00Z"), 3).len(), 3);
        assert!(Schedule::parse("0 9 * * *", Some("Mars/Olympus"))
            .expect_err("refused")
            .contains("time zone"));
        assert!(Schedule::parse("61 * * * *", None)
            .expect_err("refused")
            .contains("cron"));
    }

    /// The weekdays EventBridge would run on are the ones croner runs on.
    #[test]
    fn converted_weekdays_are_the_days_cron_fires() {
        use chrono::Datelike;
        for field in [
            "1-5", "0,6", "7", "1-7", "0-7", "5-7", "*/2", "1/2", "2-6/2", "*/3", "0", "3",
        ] {
            let s = Schedule::parse(&format!("0 12 * * {field}"), None).expect("valid");
            let mut fired: Vec<u32> = s
                .upcoming(at("2026-11-29T00:00:00Z"), 30)
                .into_iter()
                .take_while(|t| *t < at("2026-12-06T00:00:00Z"))
                .map(|t| t.weekday().num_days_from_sunday() + 1)
                .collect();
            fired.sort_unstable();
            let expr = s.eventbridge().expect("expressible");
            let dow = expr.split_whitespace().nth(4).expect("dow");
            let aws: Vec<u32> = if dow == "*" {
                (1..=7).collect()
            } else {
                dow.split(',').map(|d| d.parse().expect("day")).collect()
            };
            assert_eq!(fired, aws, "{field}: {expr}");
        }
    }

    #[test]
    fn eventbridge_expressions() {
        let e = |c: &str| Schedule::parse(c, None).expect("valid").eventbridge();
        assert_eq!(e("* * * * *").as_deref(), Ok("cron(* * * * ? *)"));
        assert_eq!(
            e("*/5 9-17 * * 1-5").as_deref(),
            Ok("cron(*/5 9-17 ? * 2,3,4,5,6 *)")
        );
        assert_eq!(e("0 0 * * 0,6").as_deref(), Ok("cron(0 0 ? * 1,7 *)"));
        assert_eq!(e("0 0 * * 7").as_deref(), Ok("cron(0 0 ? * 1 *)"));
        assert_eq!(
            e("0 0 * * MON-FRI").as_deref(),
            Ok("cron(0 0 ? * MON-FRI *)")
        );
        // 1/2 is 1,3,5,7: Monday, Wednesday, Friday and Sunday.
        assert_eq!(e("0 0 * * 1/2").as_deref(), Ok("cron(0 0 ? * 1,2,4,6 *)"));
        // Ranges that end on 7 (Sunday) stay ranges of days.
        assert_eq!(e("0 0 * * 1-7").as_deref(), Ok("cron(0 0 ? * * *)"));
        assert_eq!(e("0 0 * * 0-7").as_deref(), Ok("cron(0 0 ? * * *)"));
        assert_eq!(e("0 0 * * 5-7").as_deref(), Ok("cron(0 0 ? * 1,6,7 *)"));
        assert_eq!(e("0 0 * * */2").as_deref(), Ok("cron(0 0 ? * 1,3,5,7 *)"));
        assert_eq!(e("30 6 1 * *").as_deref(), Ok("cron(30 6 1 * ? *)"));
        assert!(e("0 0 1 * 1").is_err());
    }
}

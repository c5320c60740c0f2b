//! What `ctr images` prints, as docker prints it: sizes in decimal units with
//! three significant digits, ages in words. Pure, so that it is tested here.

use crate::image::ImageRecord;
use crate::reference::Reference;

// ANCHOR: images
/// The `ctr images` table: one line per reference (`<none>` for an image
/// that has none), newest first.
pub fn images(images: &[(ImageRecord, Vec<Reference>)], now: u64) -> String {
    let mut rows: Vec<(u64, [String; 4])> = Vec::new();
    for (record, refs) in images {
        let created = record
            .created
            .as_deref()
            .and_then(parse_rfc3339)
            .unwrap_or(record.stored);
        let names: Vec<String> = if refs.is_empty() {
            vec!["<none>".to_string()]
        } else {
            refs.iter().map(Reference::familiar).collect()
        };
        for name in names {
            rows.push((
                created,
                [
                    name,
                    record.id.short().to_string(),
                    age(now.saturating_sub(created)),
                    size(record.size()),
                ],
            ));
        }
    }
    rows.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1[0].cmp(&b.1[0])));
    let header = ["REFERENCE", "IMAGE ID", "CREATED", "SIZE"].map(String::from);
    let table_rows: Vec<[String; 4]> = std::iter::once(header)
        .chain(rows.into_iter().map(|r| r.1))
        .collect();
    table(&table_rows)
}
// ANCHOR_END: images

/// docker's `units.HumanSize`: decimal units, three significant digits.
pub fn size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = format!(
        "{value:.*}",
        if value >= 100.0 {
            0
        } else if value >= 10.0 {
            1
        } else {
            2
        }
    );
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", units[unit])
}

/// "About a minute ago", "3 hours ago": docker's `units.HumanDuration` + " ago".
pub fn age(seconds: u64) -> String {
    let (minutes, hours, days) = (seconds / 60, seconds / 3600, seconds / 86400);
    let text = match seconds {
        0 => "Less than a second".to_string(),
        1 => "1 second".to_string(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".to_string(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_string(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if days < 14 => format!("{days} days"),
        _ if days < 60 => format!("{} weeks", days / 7),
        _ if days < 365 * 2 => format!("{} months", days / 30),
        _ => format!("{} years", days / 365),
    };
    format!("{text} ago")
}

/// Seconds since the epoch of an RFC 3339 time (`2024-05-01T12:00:00Z`, with
/// fractions or an offset); None if it is not one.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let num = |from: usize, len: usize| -> Option<i64> {
        let s = text.get(from..from + len)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (h, mi, s) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            sign * (rest[1..3].parse::<i64>().ok()? * 3600 + rest[4..6].parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146097 + doe - 719468;
    u64::try_from(days * 86400 + h * 3600 + mi * 60 + s - offset).ok()
}

/// Rows as docker prints a table, the header first: through Go's
/// tabwriter as docker's formatter sets it (minwidth 10, padding 3), each
/// column as wide as its widest cell and three spaces, and at least ten.
pub fn table<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            let widest = rows
                .iter()
                .filter_map(|r| r.as_ref().get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0);
            (widest + 3).max(10)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let line: String = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A size in binary units with four significant digits, as `docker stats`
/// prints memory: `1.234MiB`, `15.55GiB`, `32MiB`.
pub fn binary_size(bytes: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let digits = if value >= 1000.0 {
        0
    } else if value >= 100.0 {
        1
    } else if value >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.digits$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{}", units[unit])
}

/// An RFC 3339 time in UTC with nanoseconds, as runc writes them
/// (`2024-05-01T12:30:15.123456789Z`), from a time since the epoch.
pub fn format_rfc3339(since_epoch: std::time::Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let (days, rest) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // The civil date from days (Howard Hinnant's algorithm, the inverse of
    // the one above).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since_epoch.subsec_nanos()
    )
}

/// Now, as [`format_rfc3339`] writes it.
pub fn now_rfc3339() -> String {
    format_rfc3339(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::image::store::LayerRecord;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(size(0), "0B");
        assert_eq!(size(999), "999B");
        assert_eq!(size(1000), "1kB");
        assert_eq!(size(1_234_567), "1.23MB");
        assert_eq!(size(12_345_678), "12.3MB");
        assert_eq!(size(123_456_789), "123MB");
        assert_eq!(size(4_261_000), "4.26MB");
    }

    #[test]
    fn ages_in_words() {
        assert_eq!(age(0), "Less than a second ago");
        assert_eq!(age(30), "30 seconds ago");
        assert_eq!(age(90), "About a minute ago");
        assert_eq!(age(600), "10 minutes ago");
        assert_eq!(age(3600), "About an hour ago");
        assert_eq!(age(5 * 3600), "5 hours ago");
        assert_eq!(age(3 * 86400), "3 days ago");
        assert_eq!(age(21 * 86400), "3 weeks ago");
        assert_eq!(age(90 * 86400), "3 months ago");
        assert_eq!(age(3 * 365 * 86400), "3 years ago");
    }

    #[test]
    fn binary_sizes_as_docker_stats_prints_them() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(32 << 20), "32MiB");
        assert_eq!(binary_size(1_294_336), "1.234MiB");
        assert_eq!(binary_size(16_694_000_000), "15.55GiB");
        assert_eq!(binary_size(1023), "1023B");
    }

    #[test]
    fn tables_line_up() {
        // What `docker volume ls` and `docker ps` print: a narrow column
        // is ten wide, a wider one its widest cell and three spaces.
        let rows = vec![
            vec![
                "DRIVER".to_string(),
                "VOLUME NAME".to_string(),
                "C".to_string(),
            ],
            vec!["local".to_string(), "x".to_string(), "".to_string()],
            vec![
                "a-rather-long-driver".to_string(),
                "y".to_string(),
                "z".to_string(),
            ],
        ];
        assert_eq!(
            table(&rows),
            "DRIVER                 VOLUME NAME   C\n\
             local                  x\n\
             a-rather-long-driver   y             z\n"
        );
        let header = [["CONTAINER ID", "IMAGE", "COMMAND", "NAMES"].map(String::from)];
        assert_eq!(table(&header), "CONTAINER ID   IMAGE     COMMAND   NAMES\n");
    }

    #[test]
    fn rfc3339_times_are_written_as_read() {
        use std::time::Duration;
        assert_eq!(
            format_rfc3339(Duration::ZERO),
            "1970-01-01T00:00:00.000000000Z"
        );
        let t = Duration::new(1714566615, 123456789);
        assert_eq!(format_rfc3339(t), "2024-05-01T12:30:15.123456789Z");
        for secs in [951868800, 951782400, 4102444800, 1709164800] {
            let text = format_rfc3339(Duration::from_secs(secs));
            assert_eq!(parse_rfc3339(&text), Some(secs), "{text}");
        }
    }

    #[test]
    fn rfc3339_times() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2000-03-01T00:00:00Z"), Some(951868800));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:30:15.123456789Z"),
            Some(1714566615)
        );
        assert_eq!(parse_rfc3339("2024-05-01T14:30:15+02:00"), Some(1714566615));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("2024-05-01"), None);
    }

    #[test]
    fn the_images_table() {
        let record = |config: &[u8], size, created: &str| ImageRecord {
            id: Digest::of(config),
            manifest: None,
            layers: vec![LayerRecord {
                diff_id: Digest::of(b"l"),
                size,
            }],
            created: Some(created.into()),
            stored: 0,
        };
        let now = parse_rfc3339("2024-01-10T00:00:00Z").unwrap();
        let stored = vec![
            (
                record(b"a", 2_100_000, "2024-01-01T00:00:00Z"),
                vec![Reference::parse("busybox").unwrap()],
            ),
            (
                record(b"b", 50, "2024-01-09T22:00:00Z"),
                vec![
                    Reference::parse("localhost:5000/app:1").unwrap(),
                    Reference::parse("app:1").unwrap(),
                ],
            ),
            (record(b"c", 0, "not a time"), vec![]),
        ];
        insta::assert_snapshot!(images(&stored, now));
    }
}

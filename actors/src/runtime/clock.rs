//! Timestamps: RFC 3339 in UTC with milliseconds and a fixed width, so that
//! they also sort correctly as strings (view indexes rely on that).

/// Now, e.g. `2026-11-25T21:27:08.123Z`.
pub fn now() -> String {
    format_utc(time::OffsetDateTime::now_utc())
}

/// Formats a UTC time the way [`now`] does.
pub fn format_utc(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_fixed_width_and_sort_as_strings() {
        let a = super::format_utc(time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(a, "1970-01-01T00:00:00.000Z");
        let b = super::now();
        assert_eq!(a.len(), b.len());
        assert!(a < b);
    }
}

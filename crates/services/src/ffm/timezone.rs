//! Time zones memqosd understands without a tz database: `UTC` and the
//! fixed-offset `Etc/GMT±N` zones. Others are refused naming the field
//! rather than guessed.

/// UTC offset in minutes of `zone`, or `None` if it is not one of the
/// zones known here.
pub(super) fn utc_offset(zone: &str) -> Option<i16> {
    match zone {
        "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT" => Some(0),
        _ => {
            // POSIX sign convention: Etc/GMT+5 is five hours *behind* UTC.
            let rest = zone.strip_prefix("Etc/GMT")?;
            let hours: i16 = rest.parse().ok()?;
            (-14..=12).contains(&hours).then_some(-hours * 60)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::utc_offset;

    #[test]
    fn fixed_offsets_follow_posix_signs() {
        assert_eq!(utc_offset("UTC"), Some(0));
        assert_eq!(utc_offset("Etc/GMT"), Some(0));
        assert_eq!(utc_offset("Etc/GMT+5"), Some(-300));
        assert_eq!(utc_offset("Etc/GMT-1"), Some(60));
        assert_eq!(utc_offset("Etc/GMT-14"), Some(14 * 60));
        assert_eq!(utc_offset("Etc/GMT-15"), None);
        assert_eq!(utc_offset("Etc/GMT+13"), None);
        assert_eq!(utc_offset("Europe/Paris"), None);
        assert_eq!(utc_offset("Etc/GMTx"), None);
    }
}

//! The pages' words: one catalogue per language (`locales/<lang>.toml`, flat `key = "text"`),
//! chosen by `?locale=`, a remembered choice, or `Accept-Language`. English is complete and the
//! fallback; a test keeps every other catalogue's keys equal to it.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A language's strings.
#[derive(Debug)]
pub struct Catalog {
    /// BCP 47 tag, for `<html lang>`.
    pub lang: &'static str,
    /// The language's own name, for the switcher.
    pub name: String,
    strings: HashMap<String, String>,
}

/// Every shipped catalogue: `(tag, TOML text)`. Adding a language is adding a file here.
const SOURCES: [(&str, &str); 2] = [
    ("en", include_str!("locales/en.toml")),
    ("nl", include_str!("locales/nl.toml")),
];

fn parse(lang: &'static str, text: &str) -> Catalog {
    // The catalogues are compiled in and checked by the tests below: a parse error is a bug
    // caught before release, never a runtime condition.
    let strings: HashMap<String, String> =
        toml::from_str(text).unwrap_or_else(|e| panic!("locales/{lang}.toml: {e}"));
    let name = strings.get("language.name").cloned().unwrap_or_default();
    Catalog {
        lang,
        name,
        strings,
    }
}

/// All catalogues, English first.
pub fn catalogs() -> &'static [Catalog] {
    static ALL: OnceLock<Vec<Catalog>> = OnceLock::new();
    ALL.get_or_init(|| SOURCES.iter().map(|(l, t)| parse(l, t)).collect())
}

/// The catalogue for `tag` (`nl`, `nl-BE`, `NL`), if shipped.
pub fn find(tag: &str) -> Option<&'static Catalog> {
    let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
    catalogs().iter().find(|c| c.lang == primary)
}

/// The best catalogue for an `Accept-Language` header, by quality; English when none fits.
pub fn negotiate(accept_language: Option<&str>) -> &'static Catalog {
    let mut best: Option<(f32, &'static Catalog)> = None;
    for item in accept_language.unwrap_or("").split(',') {
        let mut parts = item.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if let Some(catalog) = find(tag) {
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, catalog));
            }
        }
    }
    best.map_or(&catalogs()[0], |(_, c)| c)
}

impl Catalog {
    /// The text for `key`; English when this catalogue lacks it, the key itself when both do
    /// (visible in review, never a crash).
    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        self.strings
            .get(key)
            .or_else(|| catalogs()[0].strings.get(key))
            .map_or(key, String::as_str)
    }

    /// The text for `key` with `{0}` replaced by `value`.
    pub fn fill(&self, key: &str, value: &str) -> String {
        self.get(key).replace("{0}", value)
    }

    /// A duration in words, to the largest unit and the next one, rounded to the nearest of
    /// the smaller: "7 days" for a 7-day lifetime read a few seconds in, "6 days 23 hours".
    pub fn duration(&self, seconds: u64) -> String {
        const UNITS: [(u64, &str); 4] = [
            (86_400, "unit.day"),
            (3_600, "unit.hour"),
            (60, "unit.minute"),
            (1, "unit.second"),
        ];
        let largest = UNITS
            .iter()
            .position(|(size, _)| seconds >= *size)
            .unwrap_or(UNITS.len() - 1);
        let precision = UNITS.get(largest + 1).map_or(1, |(size, _)| *size);
        let mut rest = (seconds + precision / 2) / precision * precision;
        let mut words = Vec::new();
        for (size, key) in UNITS {
            let n = rest / size;
            if n > 0 || (words.is_empty() && size == 1) {
                let form = if n == 1 { "one" } else { "other" };
                words.push(self.fill(&format!("{key}.{form}"), &n.to_string()));
                rest -= n * size;
            }
            if words.len() == 2 || (!words.is_empty() && n == 0) {
                break;
            }
        }
        words.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_has_exactly_the_english_keys() {
        let english: std::collections::BTreeSet<_> = catalogs()[0].strings.keys().collect();
        for c in catalogs() {
            let keys: std::collections::BTreeSet<_> = c.strings.keys().collect();
            let missing: Vec<_> = english.difference(&keys).collect();
            let extra: Vec<_> = keys.difference(&english).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", c.lang);
            assert!(extra.is_empty(), "{} has unknown keys {extra:?}", c.lang);
            assert!(!c.name.is_empty(), "{} has no language.name", c.lang);
        }
    }

    #[test]
    fn accept_language_picks_by_quality_and_falls_back_to_english() {
        assert_eq!(negotiate(Some("nl-NL,nl;q=0.9,en;q=0.8")).lang, "nl");
        assert_eq!(negotiate(Some("en;q=0.5, nl;q=0.8")).lang, "nl");
        assert_eq!(negotiate(Some("de-DE,fr;q=0.8")).lang, "en");
        assert_eq!(negotiate(Some("nl;q=0")).lang, "en");
        assert_eq!(negotiate(None).lang, "en");
        assert_eq!(find("NL-be").map(|c| c.lang), Some("nl"));
    }

    #[test]
    fn durations_read_as_words() {
        let en = find("en").expect("en");
        assert_eq!(en.duration(604_800), "7 days");
        assert_eq!(en.duration(604_799), "7 days", "rounded, not cut");
        assert_eq!(en.duration(601_200), "6 days 23 hours");
        assert_eq!(en.duration(86_399), "1 day");
        assert_eq!(en.duration(90), "1 minute 30 seconds");
        assert_eq!(en.duration(3_660), "1 hour 1 minute");
        assert_eq!(en.duration(59), "59 seconds");
        assert_eq!(en.duration(0), "0 seconds");
        let nl = find("nl").expect("nl");
        assert_eq!(nl.duration(86_400 + 7_200), "1 dag 2 uur");
    }
}

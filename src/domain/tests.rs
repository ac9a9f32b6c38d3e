//! Tests of the domain rules: lifetimes, key formats, emails, generated lengths, redaction.

use super::*;

#[test]
fn ttl_defaults_clamps_and_zeroes_garbage() {
    assert_eq!(resolve_ttl(None, 604_800, 60, 604_800), 604_800);
    assert_eq!(resolve_ttl(Some(""), 604_800, 60, 604_800), 604_800);
    assert_eq!(resolve_ttl(Some("3600"), 604_800, 60, 604_800), 3600);
    assert_eq!(resolve_ttl(Some("3600.9"), 604_800, 60, 604_800), 3600);
    assert_eq!(resolve_ttl(Some("soon"), 604_800, 60, 604_800), 60);
    assert_eq!(resolve_ttl(Some("-5"), 604_800, 60, 604_800), 60);
    assert_eq!(
        resolve_ttl(Some("99999999999"), 604_800, 60, 604_800),
        604_800
    );
}

#[test]
fn keys_from_paths_must_look_like_ours() {
    assert!(is_plausible_key(&"a1".repeat(31)));
    assert!(!is_plausible_key("short"));
    assert!(!is_plausible_key(&"A".repeat(30)));
    assert!(!is_plausible_key(&format!("{}/..", "a".repeat(30))));
    assert!(!is_plausible_key(&"a".repeat(129)));
}

#[test]
fn emails_are_obscured() {
    assert_eq!(obscure_email("alice@example.com"), "a***@e***.com");
    assert_eq!(obscure_email("bob@mail.example.org"), "b***@m***.org");
    assert_eq!(obscure_email("nobody"), "***");
}

#[test]
fn emails_are_normalised_or_refused() {
    assert_eq!(
        normalize_email(" Alice@Example.COM "),
        Some("alice@example.com".into())
    );
    for bad in [
        "",
        "alice",
        "@example.com",
        "a@b",
        "a@@b.c",
        "a b@c.d",
        "a@b..c",
        "a@.b.c",
        "<a@b.c>",
    ] {
        assert_eq!(normalize_email(bad), None, "{bad}");
    }
}

#[test]
fn generate_length_is_bounded() {
    assert_eq!(resolve_length(None, 12), 12);
    assert_eq!(resolve_length(Some("x"), 12), 12);
    assert_eq!(resolve_length(Some("2"), 12), 4);
    assert_eq!(resolve_length(Some("1000"), 12), 128);
    assert_eq!(resolve_length(Some("40"), 12), 40);
}

#[test]
fn sensitive_values_never_debug_print() {
    let s = Sensitive::new("hunter2".into());
    assert_eq!(format!("{s:?}"), "[redacted]");
}

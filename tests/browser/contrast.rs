//! Focus rings, field and menu edges and placeholders, read from the pages as the browser
//! computes them, against the card and the page they sit on: 3:1 (WCAG 1.4.11), text 4.5:1.

use serde_json::{json, Value};

use crate::harness::{Look, Rig};

/// `rgb(r, g, b)` as read from `getComputedStyle`; opaque colours only.
fn rgb(css: &Value) -> [f64; 3] {
    let text = css.as_str().unwrap_or_default();
    let inner = text
        .strip_prefix("rgb(")
        .and_then(|t| t.strip_suffix(')'))
        .unwrap_or_else(|| panic!("an opaque rgb() colour, not {text:?}"));
    let parts: Vec<f64> = inner
        .split(',')
        .map(|p| p.trim().parse().expect("a colour channel"))
        .collect();
    [parts[0], parts[1], parts[2]]
}

/// WCAG 2.x contrast ratio of two colours (relative luminance, sRGB).
fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let luminance = |c: [f64; 3]| {
        let linear = |v: f64| {
            let v = v / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * linear(c[0]) + 0.7152 * linear(c[1]) + 0.0722 * linear(c[2])
    };
    let (la, lb) = (luminance(a), luminance(b));
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

#[test]
fn the_contrast_formula_matches_known_pairs() {
    assert!((contrast([0.0; 3], [255.0; 3]) - 21.0).abs() < 0.01);
    // The faint focus ring of issue 19: #f0a400 on white, 2.10:1.
    assert!((contrast([240.0, 164.0, 0.0], [255.0; 3]) - 2.10).abs() < 0.01);
}

#[tokio::test]
async fn focus_rings_field_edges_and_placeholders_stand_out_light_and_dark() {
    let rig = Rig::start();
    let mut weak = Vec::new();

    for look in [Look::Light, Look::Dark] {
        let browser = rig.browser_in(look).await;
        browser.goto(&rig.server.url("/")).await;
        let seen = browser
            .client
            .execute(
                "const bg = e => getComputedStyle(e).backgroundColor;
                 const out = { card: bg(document.querySelector('.card')), page: bg(document.body),
                               controls: {} };
                 for (const css of arguments[0]) {
                   const e = document.querySelector(css);
                   const edge = getComputedStyle(e).borderTopColor;
                   e.focus();
                   const s = getComputedStyle(e);
                   out.controls[css] = { edge, focusVisible: e.matches(':focus-visible'),
                     ring: s.outlineColor, ringStyle: s.outlineStyle, fill: bg(e),
                     placeholder: getComputedStyle(e, '::placeholder').color };
                 }
                 return out;",
                vec![json!([
                    "textarea#secret",
                    "input#passphrase",
                    "select#ttl",
                    "button#create-link",
                    "button#generate",
                    "a.brand",
                    "a#signin-link"
                ])],
            )
            .await
            .expect("read the colours");
        let backgrounds = [("card", rgb(&seen["card"])), ("page", rgb(&seen["page"]))];
        let controls = seen["controls"].as_object().expect("controls");
        for (css, c) in controls {
            let name = format!("{}: {css}", look.name());
            assert_eq!(c["focusVisible"], json!(true), "{name} shows its focus");
            assert_ne!(c["ringStyle"], json!("none"), "{name} has a focus outline");
            let field = !css.starts_with("button") && !css.starts_with('a');
            for (bg_name, bg) in backgrounds {
                let ring = contrast(rgb(&c["ring"]), bg);
                if ring < 3.0 {
                    weak.push(format!("{name}: focus ring {ring:.2}:1 on the {bg_name}"));
                }
                if field {
                    let edge = contrast(rgb(&c["edge"]), bg);
                    if edge < 3.0 {
                        weak.push(format!("{name}: edge {edge:.2}:1 on the {bg_name}"));
                    }
                }
            }
            if css.starts_with("textarea") {
                let text = contrast(rgb(&c["placeholder"]), rgb(&c["fill"]));
                if text < 4.5 {
                    weak.push(format!("{name}: placeholder {text:.2}:1 on its field"));
                }
            }
        }
    }

    assert!(
        weak.is_empty(),
        "too faint (3:1, text 4.5:1):\n{}",
        weak.join("\n")
    );
}

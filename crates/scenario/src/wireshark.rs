//! The `wireshark:` section of a lab file: what `lab explain` tells a student to filter and
//! expand in Wireshark. Its shape (for the schema and the lint) and its validation.

use serde_saphyr::Spanned;

use crate::context::{Ctx, one_line_text};
use crate::model::{DisplayFilter, Wireshark};
use crate::raw::RawWireshark;
use crate::schema::{Shape, p, req, s};

/// A `wireshark:` filter's `preference`: `protocol.name:value`.
pub const PREFERENCE: &str = "^[a-z0-9_]+(\\.[a-z0-9_]+)+:[A-Za-z0-9_]{1,32}$";

pub(crate) fn shape() -> Shape {
    Shape::Object(vec![
        req(
            "filters",
            Shape::List(Box::new(Shape::Object(vec![
                req(
                    "filter",
                    s(),
                    "A display filter valid in Wireshark 4.0, e.g. `dicom.pdu.type == 4`.",
                ),
                req("shows", s(), "What the packets it keeps show, in one line."),
                p(
                    "preference",
                    Shape::Str {
                        pattern: Some(PREFERENCE),
                    },
                    "A Wireshark preference the filter needs, as tshark's `-o` takes it, e.g. `dicom.tag_tree:TRUE` (fields per DICOM tag).",
                ),
            ]))),
            "Display filters, most useful first.",
        ),
        p(
            "expand",
            Shape::List(Box::new(s())),
            "Which packets to open and which tree items to expand, one line each.",
        ),
    ])
}

/// The most display filters a lab lists, and the longest one: a student reads a handful,
/// and Wireshark's own filter bar holds one line.
const MAX_FILTERS: usize = 16;
const MAX_FILTER_CHARS: usize = 200;

pub(crate) fn validate(cx: &mut Ctx, w: &Spanned<RawWireshark>) -> Wireshark {
    if w.value.filters.is_empty() || w.value.filters.len() > MAX_FILTERS {
        cx.at(
            w.referenced,
            format!(
                "wireshark lists {} filters; between 1 and {MAX_FILTERS} are allowed",
                w.value.filters.len()
            ),
        )
        .hint = Some("keep the few filters a student needs, most useful first".into());
    }
    let mut filters = Vec::new();
    for f in &w.value.filters {
        let filter = one_line_text(cx, "wireshark filter", Some(&f.filter)).unwrap_or_default();
        if filter.trim().is_empty() || filter.chars().count() > MAX_FILTER_CHARS {
            cx.at(
                f.filter.referenced,
                format!("a wireshark filter has 1 to {MAX_FILTER_CHARS} characters"),
            );
        }
        let shows = one_line_text(cx, "wireshark shows", Some(&f.shows)).unwrap_or_default();
        let preference = f.preference.as_ref().map(|p| {
            if !valid_preference(&p.value) {
                cx.at(
                    p.referenced,
                    format!("wireshark preference `{}` is not `name:value`", p.value),
                )
                .hint = Some("write it as tshark's -o takes it, e.g. dicom.tag_tree:TRUE".into());
            }
            p.value.clone()
        });
        filters.push(DisplayFilter {
            filter,
            shows,
            preference,
        });
    }
    let expand = w
        .value
        .expand
        .iter()
        .filter_map(|e| one_line_text(cx, "wireshark expand", Some(e)))
        .collect();
    Wireshark { filters, expand }
}

/// What `PREFERENCE` says: dotted lowercase words, `:`, a short value.
fn valid_preference(p: &str) -> bool {
    let Some((name, value)) = p.split_once(':') else {
        return false;
    };
    let word = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 2
        && parts.iter().all(|w| word(w))
        && (1..=32).contains(&value.len())
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::valid_preference;

    #[test]
    fn a_preference_is_one_tshark_o_argument_and_nothing_more() {
        assert!(valid_preference("dicom.tag_tree:TRUE"));
        assert!(valid_preference("tcp.desegment_tcp_streams:FALSE"));
        for bad in [
            "dicom.tag_tree",
            "tag_tree:TRUE",
            "Dicom.tag_tree:TRUE",
            "dicom.tag_tree:TRUE -X lua_script:x.lua",
            "dicom..tag:TRUE",
            "dicom.tag_tree:",
        ] {
            assert!(!valid_preference(bad), "{bad}");
        }
    }
}

//! Escaping of untrusted text (a capture is hostile input) for XML, HTML and URLs.
//! JUnit XML is written by hand with [`xml`]: quick-junit drops control characters
//! silently, writes line breaks in attributes raw (a parser reads them back as spaces)
//! and puts `skipped` on `<testsuites>`, which junit-10.xsd rejects.

use std::fmt::Write as _;

/// Characters XML 1.0 does not allow at all, even as references.
fn xml_forbidden(c: char) -> bool {
    // (a `char` is never a surrogate)
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

/// Text for an XML or HTML element or a quoted attribute: `& < > " '` become references,
/// and characters XML cannot carry (NUL, other C0 controls, U+FFFE/FFFF) are shown as
/// `\u{..}` so that the document stays well-formed and the oddity stays visible. Line
/// breaks and tabs are kept as references in attributes (`attr = true`), where a parser
/// would otherwise normalise them to spaces.
pub(crate) fn xml(s: &str, attr: bool) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' if attr => out.push_str("&#10;"),
            '\r' if attr => out.push_str("&#13;"),
            '\t' if attr => out.push_str("&#9;"),
            '\r' => out.push_str("&#13;"),
            c if xml_forbidden(c) || ('\u{7f}'..='\u{9f}').contains(&c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text with the characters XML cannot carry (and C1 controls) shown as `\u{..}`, markup
/// left alone: for the HTML page, whose templates (maud) escape markup themselves.
pub(crate) fn visible(s: &str) -> std::borrow::Cow<'_, str> {
    let hidden = |c: char| xml_forbidden(c) || ('\u{7f}'..='\u{9f}').contains(&c);
    if !s.contains(hidden) {
        return s.into();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hidden(c) {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out.into()
}

/// A relative path as a URL path: every byte other than unreserved characters and `/`
/// percent-encoded, so that `#`, `?`, `:` or spaces in a file name stay part of it.
pub(crate) fn url_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    // A leading segment with a colon could read as a scheme; never emitted since `:` is
    // encoded, but a path may not start with `//` (authority) either.
    if out.starts_with("//") {
        out.insert_str(0, "./");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            xml("<a href=\"x\">&'</a>", false),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(xml("a\u{0}b\u{1b}c", false), "a\\u{0}b\\u{1b}c");
        assert_eq!(xml("l1\nl2", true), "l1&#10;l2");
        assert_eq!(xml("l1\nl2", false), "l1\nl2");
        assert_eq!(visible("<a>\u{0}\u{9b}\n"), "<a>\\u{0}\\u{9b}\n");
    }

    #[test]
    fn url_paths_are_relative_and_encoded() {
        assert_eq!(url_path("logs/pacs.log"), "logs/pacs.log");
        assert_eq!(url_path("a b#c?.txt"), "a%20b%23c%3F.txt");
        assert_eq!(url_path("javascript:alert(1)"), "javascript%3Aalert%281%29");
        assert_eq!(url_path("//evil"), ".///evil");
    }
}

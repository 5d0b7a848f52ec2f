//! Untrusted text made safe for a terminal: the one escaping every terminal writer of
//! the project uses (the timeline table here, the report's summary, the engine's progress
//! lines, the `lab` commands' own output).
//!
//! An AE title, a patient name, an Info text, a submission's file name or an error
//! quoting any of them is whatever the sender put there. Printed raw, `ESC [ 2 J` clears
//! the instructor's screen, a carriage return or backspaces overwrite what came before
//! (a "FAIL" turned into "PASS"), an OSC sequence retitles the window or, in some
//! terminals, writes the clipboard; a bidirectional override makes text read in another
//! order than it is stored. Every C0 control character, DEL, every C1 control character
//! (U+0080-U+009F, where U+009B is a CSI of its own) and the bidirectional controls are
//! therefore shown as escapes: `\x1b`, `\r`, `\u{9b}`, `\u{202e}`. The bytes stay
//! visible, which is what a security lab wants; the terminal never acts on them.
//!
//! It lives in `wire`, the lowest crate that writes to a terminal, so that `report`,
//! `engine` and `lab` share it without a new dependency between them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// One line of untrusted text (an AE title, a PHI value, an Info text): every control
/// character escaped, line breaks and tabs included, so it cannot start a line of its own.
pub fn terminal_safe(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Untrusted text that may span lines (an error message with its `fix:` hint): as
/// [`terminal_safe`], but `\n` (only) is kept as a line break.
pub fn terminal_text(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

fn needs_escape(c: char, keep_newlines: bool) -> bool {
    match c {
        '\n' => !keep_newlines,
        // C0, DEL, C1.
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidirectional embeddings, overrides and isolates; the marks that reorder text.
        '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

fn escape(s: &str, keep_newlines: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| needs_escape(c, keep_newlines)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if !needs_escape(c, keep_newlines) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_never_sent() {
        assert_eq!(terminal_safe("EVIL\x1b[2J"), "EVIL\\x1b[2J");
        assert_eq!(terminal_safe("DOE^JOHN\rSMITH^ANN"), "DOE^JOHN\\rSMITH^ANN");
        assert_eq!(terminal_safe("a\x08\x08b\x7f"), "a\\x08\\x08b\\x7f");
        assert_eq!(terminal_safe("x\u{9b}31m"), "x\\u{9b}31m");
        assert_eq!(terminal_safe("\x1b]52;c;aGk=\x07"), "\\x1b]52;c;aGk=\\x07");
        assert_eq!(terminal_safe("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(terminal_safe("one\ntwo\tthree"), "one\\ntwo\\tthree");
        assert_eq!(
            terminal_text("error: x\x1b[2J\n  fix: y\r"),
            "error: x\\x1b[2J\n  fix: y\\r"
        );
        // Plain text, DICOM's `\` and `^`, and other scripts pass through untouched.
        for plain in ["ORTHANC", "DOE^JANE\\ROE", "Müller^Zoë", "患者"] {
            assert!(matches!(terminal_safe(plain), Cow::Borrowed(_)), "{plain}");
        }
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = terminal_safe(&all);
        assert!(!out.chars().any(|c| needs_escape(c, false)), "{out:?}");
    }
}

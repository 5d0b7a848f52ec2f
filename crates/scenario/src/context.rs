//! What every validation rule shares: the problems being collected (`Ctx`), node
//! references, and the rules for names and free text. Its own module so that `validate`
//! and the rule files (`step_rules`, `check_rules`, `limit_rules`, `exercise`) all depend
//! on it and not on one another.

use serde_saphyr::{Location, Spanned};

use crate::error::{Problem, did_you_mean};

pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a str,
    pub(crate) problems: Vec<Problem>,
}

impl Ctx<'_> {
    pub(crate) fn at(&mut self, loc: Location, message: impl Into<String>) -> &mut Problem {
        self.problems.push(Problem::at(self.file, loc, message));
        self.problems.last_mut().expect("just pushed")
    }

    pub(crate) fn one_of<'a>(
        &mut self,
        what: &str,
        got: &Spanned<String>,
        allowed: impl IntoIterator<Item = &'a str> + Clone,
    ) -> bool {
        if allowed.clone().into_iter().any(|a| a == got.value) {
            return true;
        }
        let all: Vec<&str> = allowed.clone().into_iter().collect();
        let hint = match did_you_mean(&got.value, allowed) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!("{what}s are: {}", all.join(", ")),
        };
        self.at(got.referenced, format!("unknown {what} `{}`", got.value))
            .hint = Some(hint);
        false
    }
}

pub(crate) fn reference(
    cx: &mut Ctx,
    r: &Spanned<String>,
    node_names: &[&str],
    context: &str,
) -> bool {
    if node_names.contains(&r.value.as_str()) {
        return true;
    }
    let hint = match did_you_mean(&r.value, node_names.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("nodes are: {}", or_none(node_names)),
    };
    cx.at(
        r.referenced,
        format!("{context}: node `{}` is not defined", r.value),
    )
    .hint = Some(hint);
    false
}

pub(crate) fn or_none(v: &[&str]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A character free text may not hold: C0 controls (but line breaks and tabs where
/// `lines` allows them), DEL, C1 controls and the bidirectional controls. Free text ends
/// up in terminals, in the comment heading a generated compose file and in a README: a
/// line break there starts a key of its own, an escape sequence drives the terminal.
fn refused_in_text(c: char, lines: bool) -> bool {
    match c {
        '\n' | '\t' => !lines,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        '\u{061c}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{202a}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

fn check_text(cx: &mut Ctx, field: &str, v: &Spanned<String>, lines: bool) {
    if let Some(c) = v.value.chars().find(|&c| refused_in_text(c, lines)) {
        let what = match c {
            '\n' => "a line break".to_string(),
            '\t' => "a tab".to_string(),
            '\r' => "a carriage return".to_string(),
            '\u{1b}' => "an escape character (a terminal control sequence)".to_string(),
            c => format!("the control character U+{:04X}", c as u32),
        };
        cx.at(v.referenced, format!("{field} contains {what}")).hint = Some(if lines {
            "free text may hold line breaks and tabs, no other control characters; remove it".into()
        } else {
            "write it on one line of plain text, without control characters".into()
        });
    }
}

/// One line of free text (a title, a patient name), refused (with the problem noted)
/// when it holds a control character or a line break.
pub(crate) fn one_line_text(
    cx: &mut Ctx,
    field: &str,
    v: Option<&Spanned<String>>,
) -> Option<String> {
    let v = v?;
    check_text(cx, field, v, false);
    Some(v.value.clone())
}

/// Free text that may span lines (a description).
pub(crate) fn text(cx: &mut Ctx, field: &str, v: Option<&Spanned<String>>) -> Option<String> {
    let v = v?;
    check_text(cx, field, v, true);
    Some(v.value.clone())
}

pub(crate) fn valid_name(s: &str) -> bool {
    (1..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) fn valid_aet(s: &str) -> bool {
    (1..=16).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii() && !c.is_ascii_control() && c != '\\')
        && !s.trim().is_empty()
}

pub(crate) fn valid_mitre(s: &str) -> bool {
    s.len() == 5 && s.starts_with('M') && s[1..].chars().all(|c| c.is_ascii_digit())
}

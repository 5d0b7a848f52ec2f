//! A located YAML tree, read from the parser's events, for the structural lint: unlike the
//! typed parse, which stops at its first error, a walk over this tree can report every
//! unknown key and misplaced value of a file at once.

use serde_saphyr::granit_parser::{Event, Parser, Span};

/// Deeper than any lab file needs; past it the tree is cut and the typed parse reports.
const MAX_DEPTH: usize = 32;
/// Bounds the events read, whatever the input.
const MAX_EVENTS: usize = 200_000;

#[derive(Debug)]
pub(crate) struct YNode {
    pub line: u64,
    pub column: u64,
    /// Byte offsets of the node's first event in the text (for a scalar: the scalar,
    /// quotes included), so that `exercise::pack` can edit the text in place.
    pub start: usize,
    pub end: usize,
    pub kind: YKind,
}

#[derive(Debug)]
pub(crate) enum YKind {
    Scalar(String),
    Seq(Vec<YNode>),
    Map(Vec<(YNode, YNode)>),
    /// An alias or anything the lint does not look into.
    Opaque,
}

impl YNode {
    pub fn describe(&self) -> &'static str {
        match self.kind {
            YKind::Scalar(_) => "a single value",
            YKind::Seq(_) => "a list",
            YKind::Map(_) => "a mapping",
            YKind::Opaque => "an alias",
        }
    }
}

/// The first document's root node, or None on a syntax error (the typed parse reports it,
/// with its location).
pub(crate) fn parse(text: &str) -> Option<YNode> {
    let mut events = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(next) = parser.next_event() {
        let (event, span) = next.ok()?;
        if matches!(event, Event::DocumentEnd | Event::StreamEnd) {
            break;
        }
        if matches!(event, Event::Comment(..)) {
            continue;
        }
        events.push((event, span));
        if events.len() > MAX_EVENTS {
            return None;
        }
    }
    let mut it = events.into_iter().peekable();
    // Skip StreamStart / DocumentStart.
    while matches!(
        it.peek(),
        Some((Event::StreamStart | Event::DocumentStart(..), _))
    ) {
        it.next();
    }
    node(&mut it, 0)
}

fn at(span: &Span, kind: YKind) -> YNode {
    // The parser counts lines from 1 and columns from 0; messages count both from 1.
    YNode {
        line: span.start.line() as u64,
        column: span.start.col() as u64 + 1,
        start: span.start.byte_offset().unwrap_or(span.start.index()),
        end: span.end.byte_offset().unwrap_or(span.end.index()),
        kind,
    }
}

fn node<'a>(
    it: &mut std::iter::Peekable<impl Iterator<Item = (Event<'a>, Span)>>,
    depth: usize,
) -> Option<YNode> {
    let (event, span) = it.next()?;
    if depth > MAX_DEPTH {
        return None;
    }
    Some(match event {
        Event::Scalar(value, ..) => at(&span, YKind::Scalar(value.into_owned())),
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                if matches!(it.peek(), Some((Event::SequenceEnd, _))) {
                    it.next();
                    break;
                }
                items.push(node(it, depth + 1)?);
            }
            at(&span, YKind::Seq(items))
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                if matches!(it.peek(), Some((Event::MappingEnd, _))) {
                    it.next();
                    break;
                }
                let key = node(it, depth + 1)?;
                let value = node(it, depth + 1)?;
                entries.push((key, value));
            }
            at(&span, YKind::Map(entries))
        }
        _ => at(&span, YKind::Opaque),
    })
}

//! The element-header walker, for code that edits an encoded data set in place (the
//! agent's on-path proxy rewrites a PatientName) instead of parsing it: one header read at
//! a time, and the top-level elements in order with nested values skipped.
//!
//! It reads headers only and trusts no length: every value it skips must fit in the
//! buffer and nesting is bounded by [`crate::MAX_NESTING`]. It does not check what
//! `dicom-parser` would need (VRs, value sizes, where items may be): run
//! [`crate::check_dataset`] or [`crate::check_whole_dataset`] first on bytes from outside.

use dicom_core::Tag;

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// One element header as it is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElementHeader {
    pub tag: Tag,
    /// The VR bytes, in Explicit VR (items and delimiters have none in either encoding).
    pub vr: Option<[u8; 2]>,
    /// Bytes of the header: 8, or 12 for Explicit VR's long-length VRs.
    pub header_len: usize,
    /// The value length; `None` when undefined (0xFFFFFFFF).
    pub length: Option<u32>,
    /// Offset of the length field in the buffer (to rewrite it).
    pub length_at: usize,
    /// Size of the length field: 2 or 4 bytes.
    pub length_size: usize,
}

impl ElementHeader {
    /// Offset just past the header: where the value starts.
    pub fn value_at(&self, header_at: usize) -> usize {
        header_at + self.header_len
    }
}

/// VRs with a 2-byte reserved field and a 4-byte length in Explicit VR.
pub(crate) fn long_length(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// The element header at `at`, or `None` when the buffer ends inside it.
pub fn read_header(
    buf: &[u8],
    at: usize,
    explicit: bool,
    big_endian: bool,
) -> Option<ElementHeader> {
    let u16_at = |p: usize| -> Option<u16> {
        let b: [u8; 2] = buf.get(p..p.checked_add(2)?)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    };
    let u32_at = |p: usize| -> Option<u32> {
        let b: [u8; 4] = buf.get(p..p.checked_add(4)?)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    };
    let tag = Tag(u16_at(at)?, u16_at(at + 2)?);
    let defined = |l: u32| (l != UNDEFINED).then_some(l);
    if tag.group() == 0xFFFE || !explicit {
        return Some(ElementHeader {
            tag,
            vr: None,
            header_len: 8,
            length: defined(u32_at(at + 4)?),
            length_at: at + 4,
            length_size: 4,
        });
    }
    let vr: [u8; 2] = buf.get(at + 4..at + 6)?.try_into().ok()?;
    if long_length(vr) {
        Some(ElementHeader {
            tag,
            vr: Some(vr),
            header_len: 12,
            length: defined(u32_at(at + 8)?),
            length_at: at + 8,
            length_size: 4,
        })
    } else {
        Some(ElementHeader {
            tag,
            vr: Some(vr),
            header_len: 8,
            length: Some(u32::from(u16_at(at + 6)?)),
            length_at: at + 6,
            length_size: 2,
        })
    }
}

/// The top-level elements of an encoded data set, in order, each with the offset of its
/// header; the content of sequences and of encapsulated pixel data is skipped. Ends at
/// the end of the buffer, or with one error (a truncated header, a length beyond the
/// buffer, nesting deeper than [`crate::MAX_NESTING`]).
pub fn top_level_elements(buf: &[u8], explicit: bool, big_endian: bool) -> TopLevelElements<'_> {
    TopLevelElements {
        buf,
        explicit,
        big_endian,
        at: 0,
        done: false,
    }
}

/// Iterator of [`top_level_elements`].
#[derive(Debug, Clone)]
pub struct TopLevelElements<'a> {
    buf: &'a [u8],
    explicit: bool,
    big_endian: bool,
    at: usize,
    done: bool,
}

impl TopLevelElements<'_> {
    fn header(&self, at: usize) -> Result<ElementHeader, String> {
        read_header(self.buf, at, self.explicit, self.big_endian)
            .ok_or_else(|| format!("truncated element header at offset {at}"))
    }

    /// Offset `at + length`, when it is still inside the buffer.
    fn past_value(&self, at: usize, length: u32, tag: Tag) -> Result<usize, String> {
        at.checked_add(length as usize)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "length {length} of {tag} at offset {at} goes beyond the {} bytes of the data set",
                    self.buf.len()
                )
            })
    }

    /// Past an undefined-length value whose content starts at `at`: past the delimiter
    /// that closes it, nested undefined lengths included.
    fn past_undefined(&self, mut at: usize) -> Result<usize, String> {
        let mut depth = 1usize;
        loop {
            let h = self.header(at)?;
            at += h.header_len;
            match (h.tag.group(), h.tag.element(), h.length) {
                (0xFFFE, 0xE00D | 0xE0DD, _) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(at);
                    }
                }
                (_, _, None) => {
                    depth += 1;
                    if depth > crate::MAX_NESTING {
                        return Err(format!(
                            "sequences and items nest deeper than {} levels at offset {at}",
                            crate::MAX_NESTING
                        ));
                    }
                }
                (_, _, Some(l)) => at = self.past_value(at, l, h.tag)?,
            }
        }
    }
}

impl Iterator for TopLevelElements<'_> {
    type Item = Result<(usize, ElementHeader), String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.at >= self.buf.len() {
            return None;
        }
        let at = self.at;
        let step = self.header(at).and_then(|h| {
            let value_at = h.value_at(at);
            let next = match h.length {
                Some(l) => self.past_value(value_at, l, h.tag)?,
                None => self.past_undefined(value_at)?,
            };
            Ok((h, next))
        });
        match step {
            Ok((h, next)) => {
                self.at = next;
                Some(Ok((at, h)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&tag.0.to_le_bytes());
        b.extend_from_slice(&tag.1.to_le_bytes());
        b.extend_from_slice(vr);
        if long_length(*vr) {
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&(value.len() as u32).to_le_bytes());
        } else {
            b.extend_from_slice(&(value.len() as u16).to_le_bytes());
        }
        b.extend_from_slice(value);
        b
    }

    fn undefined(tag: (u16, u16), vr: &[u8; 2]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&tag.0.to_le_bytes());
        b.extend_from_slice(&tag.1.to_le_bytes());
        b.extend_from_slice(vr);
        b.extend_from_slice(&[0, 0, 0xFF, 0xFF, 0xFF, 0xFF]);
        b
    }

    fn delimiter(element: u16, length: u32) -> Vec<u8> {
        let mut b = vec![0xFE, 0xFF];
        b.extend_from_slice(&element.to_le_bytes());
        b.extend_from_slice(&length.to_le_bytes());
        b
    }

    /// Modality, PatientName, a sequence of undefined length holding an undefined-length
    /// item (itself holding an undefined-length sequence), a StudyInstanceUID.
    fn nested() -> Vec<u8> {
        let mut d = el((0x0008, 0x0060), b"CS", b"XA");
        d.extend(el((0x0010, 0x0010), b"PN", b"DOE^JANE"));
        d.extend(undefined((0x0040, 0x0275), b"SQ"));
        d.extend(delimiter(0xE000, UNDEFINED));
        d.extend(el((0x0040, 0x0007), b"LO", b"angio "));
        d.extend(undefined((0x0040, 0x0008), b"SQ"));
        d.extend(delimiter(0xE0DD, 0));
        d.extend(delimiter(0xE00D, 0));
        d.extend(delimiter(0xE0DD, 0));
        d.extend(el((0x0020, 0x000D), b"UI", b"2.25.1\0"));
        d
    }

    #[test]
    fn top_level_elements_skip_nested_values() {
        let d = nested();
        let seen: Vec<(usize, Tag)> = top_level_elements(&d, true, false)
            .map(|r| r.map(|(at, h)| (at, h.tag)).unwrap())
            .collect();
        let tags: Vec<Tag> = seen.iter().map(|(_, t)| *t).collect();
        assert_eq!(
            tags,
            [
                Tag(0x0008, 0x0060),
                Tag(0x0010, 0x0010),
                Tag(0x0040, 0x0275),
                Tag(0x0020, 0x000D)
            ]
        );
        let (at, name) = top_level_elements(&d, true, false).nth(1).unwrap().unwrap();
        assert_eq!(at, seen[1].0);
        assert_eq!(
            (name.header_len, name.length, name.length_size),
            (8, Some(8), 2)
        );
        let value = &d[name.value_at(at)..name.value_at(at) + 8];
        assert_eq!(value, b"DOE^JANE");
        assert_eq!(name.length_at, at + 6);
    }

    #[test]
    fn lengths_beyond_the_buffer_and_truncation_are_errors() {
        let mut d = el((0x0010, 0x0010), b"PN", b"DOE^JANE");
        d[6] = 0xF0; // claims 240 bytes
        let all: Vec<_> = top_level_elements(&d, true, false).collect();
        assert_eq!(all.len(), 1);
        assert!(
            all[0].as_ref().unwrap_err().contains("goes beyond"),
            "{all:?}"
        );
        let d = nested();
        let cut = &d[..d.len() - 12];
        let last = top_level_elements(cut, true, false).last().unwrap();
        assert!(last.unwrap_err().contains("truncated"));
    }

    #[test]
    fn nesting_is_bounded() {
        let mut d = Vec::new();
        for _ in 0..=crate::MAX_NESTING {
            d.extend(undefined((0x0040, 0x0275), b"SQ"));
            d.extend(delimiter(0xE000, UNDEFINED));
        }
        let first = top_level_elements(&d, true, false).next().unwrap();
        assert!(first.unwrap_err().contains("nest deeper"));
    }

    #[test]
    fn implicit_vr_headers_have_four_byte_lengths() {
        let mut d = Vec::new();
        d.extend_from_slice(&[0x10, 0x00, 0x10, 0x00]);
        d.extend_from_slice(&8u32.to_le_bytes());
        d.extend_from_slice(b"DOE^JANE");
        let h = read_header(&d, 0, false, false).unwrap();
        assert_eq!(
            (h.vr, h.header_len, h.length, h.length_size),
            (None, 8, Some(8), 4)
        );
        assert_eq!(top_level_elements(&d, false, false).count(), 1);
        assert_eq!(read_header(&d[..6], 0, false, false), None);
    }
}

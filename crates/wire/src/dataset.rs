//! Command sets and data sets: a bounded pre-scan, then `dicom-object`.
//!
//! `dicom-parser` allocates each value from the length written in its header before it
//! reads it, so a forged length could make it allocate gigabytes. The pre-scan walks the
//! element headers first and rejects any length that does not fit in the bytes at hand;
//! it also finds where the top-level Pixel Data starts so that bulk pixel data is never
//! parsed.

use crate::capture::guard;
use dicom_core::Tag;
use dicom_core::VR;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_dictionary_std::{StandardDataDictionary, tags};
use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::transfer_syntax::{Endianness, TransferSyntax};
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;

pub(crate) const IMPLICIT_VR_LE_UID: &str = "1.2.840.10008.1.2";
const DEFLATED_UIDS: [&str; 3] = [
    "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.95",
    "1.2.840.10008.1.2.4.205",
];
const UNDEFINED: u32 = 0xFFFF_FFFF;

/// PHI attributes reported when readable in clear.
pub(crate) const PHI_TAGS: [(&str, Tag); 8] = [
    ("PatientName", tags::PATIENT_NAME),
    ("PatientID", tags::PATIENT_ID),
    ("PatientBirthDate", tags::PATIENT_BIRTH_DATE),
    ("PatientSex", tags::PATIENT_SEX),
    ("AccessionNumber", tags::ACCESSION_NUMBER),
    ("InstitutionName", tags::INSTITUTION_NAME),
    ("ReferringPhysicianName", tags::REFERRING_PHYSICIAN_NAME),
    ("StudyDescription", tags::STUDY_DESCRIPTION),
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Container {
    /// Defined-length sequence (holding items) or item (holding elements), ending at this
    /// offset.
    Until(u64, Holds),
    /// Undefined-length sequence (ended by a sequence delimiter).
    Seq,
    /// Undefined-length item (ended by an item delimiter).
    Item,
    /// Encapsulated (fragment) value: items in it are skipped, not walked.
    Frags,
}

/// What a defined-length container holds.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Holds {
    Items,
    Elements,
}

impl Container {
    /// Whether items, and nothing else, may come next inside it (a sequence).
    fn holds_items(self) -> bool {
        matches!(self, Container::Seq | Container::Until(_, Holds::Items))
    }
}

/// The value representations of PS3.5 (2024), as dicom-parser reads them.
const KNOWN_VRS: [[u8; 2]; 34] = [
    *b"AE", *b"AS", *b"AT", *b"CS", *b"DA", *b"DS", *b"DT", *b"FD", *b"FL", *b"IS", *b"LO", *b"LT",
    *b"OB", *b"OD", *b"OF", *b"OL", *b"OV", *b"OW", *b"PN", *b"SH", *b"SL", *b"SQ", *b"SS", *b"ST",
    *b"SV", *b"TM", *b"UC", *b"UI", *b"UL", *b"UN", *b"UR", *b"US", *b"UT", *b"UV",
];

/// Size of one value of a binary VR (1 for the others).
fn value_size(vr: [u8; 2]) -> u32 {
    match &vr {
        b"SS" | b"US" | b"OW" => 2,
        b"SL" | b"UL" | b"FL" | b"AT" | b"OF" | b"OL" => 4,
        b"FD" | b"OD" | b"SV" | b"UV" | b"OV" => 8,
        _ => 1,
    }
}

/// Walk the element headers of an encoded data set. Returns how many leading bytes hold
/// the data set without the top-level Pixel Data (and anything after it). Errors when a
/// header is malformed or a length does not fit in the buffer.
pub(crate) fn prescan(buf: &[u8], explicit: bool, big_endian: bool) -> Result<usize, String> {
    walk(buf, explicit, big_endian, false)
}

/// [`prescan`], or with `whole` the Pixel Data too (its length, or its fragments) and the
/// top-level elements after it, which may not nest (a parser reading a whole data set
/// recurses into them as into any other sequence).
fn walk(buf: &[u8], explicit: bool, big_endian: bool, whole: bool) -> Result<usize, String> {
    let len = buf.len() as u64;
    let u16_at = |p: usize| {
        let b = [buf[p], buf[p + 1]];
        if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_at = |p: usize| {
        let b = [buf[p], buf[p + 1], buf[p + 2], buf[p + 3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut stack: Vec<Container> = Vec::new();
    let mut pos: u64 = 0;
    loop {
        // dicom-object parses sequences by recursion: deep nesting would overflow the
        // stack (an abort no catch_unwind catches), so it is refused here, first
        if stack.len() > crate::MAX_NESTING {
            return Err(format!(
                "sequences and items nest deeper than {} levels at offset {pos}",
                crate::MAX_NESTING
            ));
        }
        // close defined-length containers that end here
        while let Some(Container::Until(end, _)) = stack.last() {
            if pos >= *end {
                if pos > *end {
                    return Err(format!("element overruns its container at offset {pos}"));
                }
                stack.pop();
            } else {
                break;
            }
        }
        if pos == len {
            return if stack.iter().all(|c| matches!(c, Container::Until(..))) {
                Ok(buf.len())
            } else {
                // undefined-length sequence not closed: dicom-parser reports that itself
                Ok(buf.len())
            };
        }
        if len - pos < 8 {
            return Err(format!("truncated element header at offset {pos}"));
        }
        let p = pos as usize;
        let tag = Tag(u16_at(p), u16_at(p + 2));
        if stack.is_empty() && tag >= tags::PIXEL_DATA && !whole {
            return Ok(p);
        }
        if tag.group() == 0xFFFE {
            // item / delimiters: always implicit, 4-byte length
            let l = u32_at(p + 4);
            pos += 8;
            match (tag.element(), stack.last().copied()) {
                (0xE000, Some(Container::Frags)) => {
                    if l == UNDEFINED || u64::from(l) > len - pos {
                        return Err(format!("fragment length {l} beyond the data at offset {p}"));
                    }
                    pos += u64::from(l);
                }
                // an item belongs in a sequence: dicom-parser reads one anywhere else
                // its own way (found by the agent's `dimse` fuzz target: an item at the
                // top of a command set took seconds and gigabytes to parse)
                (0xE000, Some(c)) if c.holds_items() => {
                    if l == UNDEFINED {
                        stack.push(Container::Item);
                    } else if u64::from(l) > len - pos {
                        return Err(format!("item length {l} beyond the data at offset {p}"));
                    } else {
                        stack.push(Container::Until(pos + u64::from(l), Holds::Elements));
                    }
                }
                (0xE000, _) => return Err(format!("an item outside a sequence at offset {p}")),
                (0xE00D, Some(Container::Item)) => {
                    stack.pop();
                }
                (0xE0DD, Some(Container::Seq | Container::Frags)) => {
                    stack.pop();
                }
                _ => return Err(format!("unexpected delimiter {tag} at offset {p}")),
            }
            continue;
        }
        if let Some(c) = stack.last()
            && (c.holds_items() || *c == Container::Frags)
        {
            return Err(format!(
                "element {tag} where only items may be, at offset {p}"
            ));
        }
        // only the VRs dicom-parser knows: for any other it reads another header layout,
        // and the lengths checked here would not be the ones it allocates
        if explicit {
            let vr = [buf[p + 4], buf[p + 5]];
            if !KNOWN_VRS.contains(&vr) {
                return Err(format!(
                    "invalid VR bytes {vr:02x?} for {tag} at offset {p}"
                ));
            }
        }
        // the header as the exported walker reads it (what the proxy edits in place)
        let Some(h) = crate::elements::read_header(buf, p, explicit, big_endian) else {
            return Err(format!("truncated element header at offset {pos}"));
        };
        let (vr, l, header) = (h.vr, h.length.unwrap_or(UNDEFINED), h.header_len as u64);
        pos += header;
        // binary VRs whose length is not a multiple of their value size: dicom-parser
        // reads whole values only and would lose its place in the stream
        let vr_for_size = vr.or_else(|| match StandardDataDictionary.by_tag(tag)?.vr() {
            VirtualVr::Exact(v) => v.to_string().as_bytes().try_into().ok(),
            _ => None,
        });
        if let Some(vr) = vr_for_size
            && l != UNDEFINED
            && l % value_size(vr) != 0
        {
            return Err(format!(
                "length {l} of {tag} ({}) is not a multiple of its value size at offset {p}",
                String::from_utf8_lossy(&vr)
            ));
        }
        let is_seq = match vr {
            Some(vr) => &vr == b"SQ",
            None => StandardDataDictionary
                .by_tag(tag)
                .map(|e| e.vr() == VirtualVr::Exact(VR::SQ))
                .unwrap_or(false),
        };
        // The Digital Signatures Sequence (PS3.15 Annex C) comes last by its tag; its
        // items are walked and their nesting bounded like any sequence before the pixels.
        if whole
            && stack.is_empty()
            && tag > tags::PIXEL_DATA
            && tag != tags::DIGITAL_SIGNATURES_SEQUENCE
            && (l == UNDEFINED || is_seq)
        {
            return Err(format!(
                "a sequence or undefined-length value ({tag}) after the Pixel Data, at offset \
                 {p}: not accepted"
            ));
        }
        if l == UNDEFINED {
            // as dicom-parser reads it: encapsulated fragments only under the Pixel Data
            // tag (at any depth), and any other undefined length, whatever its VR, as a
            // sequence of items (found by the agent's `dimse` fuzz target: an OB of
            // undefined length walked as fragments here was parsed as a sequence there)
            if tag == tags::PIXEL_DATA {
                stack.push(Container::Frags);
            } else {
                stack.push(Container::Seq);
            }
        } else if u64::from(l) > len - pos {
            return Err(format!(
                "length {l} of {tag} at offset {p} goes beyond the {} bytes of the data set",
                buf.len()
            ));
        } else if is_seq {
            stack.push(Container::Until(pos + u64::from(l), Holds::Items));
        } else {
            pos += u64::from(l);
        }
    }
}

/// Checks an encoded data set before anything parses it: every length fits in `buf`,
/// headers are well formed and sequences and items nest at most [`crate::MAX_NESTING`]
/// levels. Returns how many leading bytes precede the top-level Pixel Data. `ts_uid` is
/// the transfer syntax it is encoded in; deflated syntaxes cannot be checked and are
/// refused, as are syntaxes this crate does not know.
pub fn check_dataset(buf: &[u8], ts_uid: &str) -> Result<usize, String> {
    let Some((explicit, big)) = encoding(ts_uid) else {
        return Err(format!(
            "transfer syntax {ts_uid} cannot be checked before parsing"
        ));
    };
    prescan(buf, explicit, big)
}

/// [`check_dataset`] over the whole data set, Pixel Data and what follows it included: for
/// a reader that parses all of it (the agent), not only the attributes before the pixels.
pub fn check_whole_dataset(buf: &[u8], ts_uid: &str) -> Result<(), String> {
    let Some((explicit, big)) = encoding(ts_uid) else {
        return Err(format!(
            "transfer syntax {ts_uid} cannot be checked before parsing"
        ));
    };
    walk(buf, explicit, big, true).map(drop)
}

/// [`check_whole_dataset`] for a DIMSE command set (always implicit VR little endian):
/// every element, also one whose tag sorts after Pixel Data (a command set has none, so a
/// parser reading all of it would meet that element's length unchecked).
pub fn check_command(buf: &[u8]) -> Result<(), String> {
    walk(buf, false, false, true).map(drop)
}

/// Values of a decoded DIMSE command set.
#[derive(Debug, Default)]
pub(crate) struct Command {
    pub field: Option<u16>,
    pub message_id: Option<u16>,
    pub responded_id: Option<u16>,
    pub status: Option<u16>,
    pub sop_class_uid: Option<String>,
    pub sop_instance_uid: Option<String>,
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = obj.get(tag)?.to_str().ok()?;
    let s = s.trim_end_matches(['\0', ' ']).trim_start();
    (!s.is_empty()).then(|| s.to_string())
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag)?.to_int::<u16>().ok()
}

/// Parse a command set (always Implicit VR Little Endian).
pub(crate) fn parse_command(buf: &[u8]) -> Result<Command, String> {
    let end = prescan(buf, false, false)?;
    let ts = IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let obj = guard("dicom-object", || {
        InMemDicomObject::read_dataset_with_ts(&buf[..end], &ts)
    })?
    .map_err(|e| e.to_string())?;
    let cmd = Command {
        field: int(&obj, tags::COMMAND_FIELD),
        message_id: int(&obj, tags::MESSAGE_ID),
        responded_id: int(&obj, tags::MESSAGE_ID_BEING_RESPONDED_TO),
        status: int(&obj, tags::STATUS),
        sop_class_uid: text(&obj, tags::AFFECTED_SOP_CLASS_UID)
            .or_else(|| text(&obj, tags::REQUESTED_SOP_CLASS_UID)),
        sop_instance_uid: text(&obj, tags::AFFECTED_SOP_INSTANCE_UID)
            .or_else(|| text(&obj, tags::REQUESTED_SOP_INSTANCE_UID)),
    };
    if cmd.field.is_none() {
        return Err("command set without CommandField (0000,0100)".into());
    }
    Ok(cmd)
}

/// Guess the encoding of a data set whose transfer syntax is unknown (association not in
/// the capture): explicit VR LE when bytes 4..6 look like a VR.
pub(crate) fn guess_ts(buf: &[u8]) -> &'static str {
    match buf.get(4..6) {
        Some(vr) if vr.iter().all(u8::is_ascii_uppercase) => "1.2.840.10008.1.2.1",
        _ => IMPLICIT_VR_LE_UID,
    }
}

/// (explicit VR, big endian) of a transfer syntax whose data sets can be read here.
pub(crate) fn encoding(ts_uid: &str) -> Option<(bool, bool)> {
    let uid = ts_uid.trim_end_matches(['\0', ' ']);
    if DEFLATED_UIDS.contains(&uid) {
        return None;
    }
    let ts = TransferSyntaxRegistry.get(uid)?;
    ts.can_decode_dataset().then(|| {
        (
            uid != IMPLICIT_VR_LE_UID,
            ts.endianness() == Endianness::Big,
        )
    })
}

/// Parse a data set with the given transfer syntax and return the PHI found in clear as
/// (keyword, value).
pub(crate) fn parse_phi(buf: &[u8], ts_uid: &str) -> Result<Vec<(&'static str, String)>, String> {
    let uid = ts_uid.trim_end_matches(['\0', ' ']);
    if DEFLATED_UIDS.contains(&uid) {
        return Err(format!(
            "deflated transfer syntax {uid} not inflated; data set skipped"
        ));
    }
    let ts: &TransferSyntax = TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| format!("unknown transfer syntax {uid}; data set skipped"))?;
    if !ts.can_decode_dataset() {
        return Err(format!(
            "transfer syntax {uid} cannot be decoded; data set skipped"
        ));
    }
    let explicit = uid != IMPLICIT_VR_LE_UID;
    let big = ts.endianness() == Endianness::Big;
    let end = prescan(buf, explicit, big)?;
    let obj = guard("dicom-object", || {
        InMemDicomObject::read_dataset_with_ts(&buf[..end], ts)
    })?
    .map_err(|e| e.to_string())?;
    Ok(PHI_TAGS
        .iter()
        .filter_map(|(kw, tag)| text(&obj, *tag).map(|v| (*kw, v)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elem_ele(group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = vec![];
        v.extend(group.to_le_bytes());
        v.extend(elem.to_le_bytes());
        v.extend(vr);
        if crate::elements::long_length(*vr) {
            v.extend([0, 0]);
            v.extend((value.len() as u32).to_le_bytes());
        } else {
            v.extend((value.len() as u16).to_le_bytes());
        }
        v.extend(value);
        v
    }

    #[test]
    fn prescan_stops_at_pixel_data_and_rejects_forged_lengths() {
        let mut ds = elem_ele(0x0010, 0x0010, b"PN", b"Doe^John");
        let upto = ds.len();
        ds.extend(elem_ele(0x7FE0, 0x0010, b"OB", &[1, 2, 3, 4]));
        assert_eq!(prescan(&ds, true, false), Ok(upto));
        let phi = parse_phi(&ds, "1.2.840.10008.1.2.1").unwrap();
        assert_eq!(phi, vec![("PatientName", "Doe^John".to_string())]);

        // an OB claiming 4 GiB - 2 in a 20-byte buffer
        let mut forged = elem_ele(0x0009, 0x0010, b"OB", &[]);
        forged[8..12].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        forged.extend([0u8; 8]);
        assert!(prescan(&forged, true, false).is_err());
        assert!(parse_phi(&forged, "1.2.840.10008.1.2.1").is_err());
    }

    /// Found by the agent's `dimse` fuzz target: dicom-parser reads an undefined length
    /// under any tag but Pixel Data as a sequence of items, so the walk must too, or the
    /// elements in such an "item" go unchecked (this one claims 4 GB).
    #[test]
    fn undefined_length_outside_pixel_data_is_walked_as_a_sequence() {
        let mut ds = vec![
            0x38, 0x20, 0x5F, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        ds.extend([0xFE, 0xFF, 0x00, 0xE0, 12, 0, 0, 0]);
        ds.extend([0x10, 0x00, 0x10, 0x00, b'U', b'T', 0, 0, 0, 0, 0, 0xF0]);
        ds.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        let e = check_whole_dataset(&ds, "1.2.840.10008.1.2.1").unwrap_err();
        assert!(e.contains("beyond"), "{e}");
        assert!(prescan(&ds, true, false).is_err());
    }

    /// Found by the agent's `dimse` fuzz target: items outside a sequence, and elements
    /// directly in one, are refused rather than left to dicom-parser's own reading.
    #[test]
    fn items_belong_in_sequences_and_elements_in_items() {
        let top_item = [0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0, 0, 0, 0, 0];
        let e = check_command(&top_item).unwrap_err();
        assert!(e.contains("an item outside a sequence"), "{e}");
        // (0008,1140) SQ of undefined length holding an element, not an item
        let mut ds = vec![
            0x08, 0x00, 0x40, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        ds.extend(elem_ele(0x0010, 0x0010, b"PN", b"Doe^John"));
        let e = prescan(&ds, true, false).unwrap_err();
        assert!(e.contains("where only items may be"), "{e}");
    }

    #[test]
    fn prescan_walks_sequences() {
        // implicit VR: ReferencedStudySequence (SQ per dictionary) with one defined item
        let mut inner = vec![];
        inner.extend(0x0008u16.to_le_bytes());
        inner.extend(0x1150u16.to_le_bytes());
        inner.extend(4u32.to_le_bytes());
        inner.extend(b"1.2\0");
        let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
        item.extend((inner.len() as u32).to_le_bytes());
        item.extend(&inner);
        let mut ds = vec![];
        ds.extend(0x0008u16.to_le_bytes());
        ds.extend(0x1110u16.to_le_bytes());
        ds.extend((item.len() as u32).to_le_bytes());
        ds.extend(&item);
        assert_eq!(prescan(&ds, false, false), Ok(ds.len()));
        // inner element lying about its length is caught even inside the item
        let mut bad = ds.clone();
        let at = 8 + 8 + 4;
        bad[at..at + 4].copy_from_slice(&1000u32.to_le_bytes());
        assert!(prescan(&bad, false, false).is_err());
    }

    /// Found by fuzzing: dicom-parser reads these headers differently from their written
    /// lengths, loses its place and allocated gigabytes from garbage lengths.
    #[test]
    fn prescan_rejects_what_dicom_parser_would_misread() {
        let name = elem_ele(0x0010, 0x0010, b"PN", b"Doe^John");
        // a VR that does not exist
        let mut ds = elem_ele(0x0008, 0x1030, b"LO", b"Angio test");
        ds[4..6].copy_from_slice(b"ZZ");
        ds.extend(&name);
        let err = prescan(&ds, true, false).unwrap_err();
        assert!(err.contains("invalid VR"), "{err}");
        // FL with 10 bytes: not a whole number of 4-byte floats
        let mut ds = elem_ele(0x0008, 0x1030, b"FL", b"Angio test");
        ds.extend(&name);
        let err = prescan(&ds, true, false).unwrap_err();
        assert!(err.contains("not a multiple"), "{err}");
        assert!(parse_phi(&ds, "1.2.840.10008.1.2.1").is_err());
        // implicit VR: Rows (US per the dictionary) with 3 bytes
        let mut ds = vec![0x28, 0x00, 0x10, 0x00, 3, 0, 0, 0, 1, 2, 3];
        assert!(prescan(&ds, false, false).is_err());
        ds[4] = 2;
        ds.pop();
        assert_eq!(prescan(&ds, false, false), Ok(ds.len()));
    }

    #[test]
    fn deflate_is_skipped() {
        let err = parse_phi(&[], "1.2.840.10008.1.2.1.99").unwrap_err();
        assert!(err.contains("deflated"));
    }
}

//! The checks in front of every `dicom-object` parse of bytes a peer sent.
//!
//! `dicom-parser` sizes each value from the length in its header and fills it before it
//! reads (a 20-byte command set claiming 4 GiB makes it write 4 GiB of zeros), and
//! `dicom-object` parses nested sequences by recursion (10,000 levels overflow the stack,
//! an abort that no `catch_unwind` catches). So the element headers are walked first by
//! [`wire::check_command`] / [`wire::check_dataset`]: every length must fit in the bytes
//! received and nesting stays within [`wire::MAX_NESTING`] levels.
//!
//! `wire::check_dataset` stops at the top-level Pixel Data; [`check_dataset`] goes on over
//! the Pixel Data element itself (its length, or its fragments) and the top-level elements
//! after it (Data Set Trailing Padding and the like), which may not nest at all here.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry, VirtualVr};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::transfer_syntax::Endianness;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

/// The largest command set accepted (bytes). A command set is a few hundred bytes; this
/// leaves room for long error comments and attribute lists.
pub const MAX_COMMAND: usize = 64 << 10;
/// The largest data set accepted in one message unless configured otherwise (bytes): what
/// `lab-agent serve --max-dataset-mb` defaults to and what the client accepts.
pub const DEFAULT_MAX_DATASET: usize = 512 << 20;

const PIXEL_DATA: Tag = Tag(0x7FE0, 0x0010);
const UNDEFINED: u32 = 0xFFFF_FFFF;
const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";

/// Checks a command set (Implicit VR Little Endian) before it is parsed.
pub fn check_command(buf: &[u8]) -> Result<(), String> {
    if buf.len() > MAX_COMMAND {
        return Err(format!(
            "{} bytes, more than the {MAX_COMMAND} a command set may hold",
            buf.len()
        ));
    }
    wire::check_command(buf).map(|_| ())
}

/// Checks a data set encoded in `ts_uid` before it is parsed: lengths within `buf`,
/// headers well formed, nesting bounded, everywhere including past the Pixel Data.
/// Deflated and unknown transfer syntaxes cannot be checked and are refused.
pub fn check_dataset(buf: &[u8], ts_uid: &str) -> Result<(), String> {
    let ts_uid = ts_uid.trim_end_matches('\0');
    let pixel_at = wire::check_dataset(buf, ts_uid)?;
    if pixel_at == buf.len() {
        return Ok(());
    }
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| format!("transfer syntax {ts_uid} is unknown"))?;
    let r = Reader {
        buf,
        // Implicit VR Little Endian is the one implicit syntax (wire knew this one)
        explicit: ts_uid != IMPLICIT_VR_LE,
        big: ts.endianness() == Endianness::Big,
    };
    r.check_tail(pixel_at)
}

/// Size of one value of a binary VR (1 for the others).
fn value_size(vr: [u8; 2]) -> u32 {
    match &vr {
        b"SS" | b"US" | b"OW" => 2,
        b"SL" | b"UL" | b"FL" | b"AT" | b"OF" | b"OL" => 4,
        b"FD" | b"OD" | b"SV" | b"UV" | b"OV" => 8,
        _ => 1,
    }
}

/// (tag, VR if explicit, value length, offset of the value).
type Header = (Tag, Option<[u8; 2]>, u32, usize);

struct Reader<'a> {
    buf: &'a [u8],
    explicit: bool,
    big: bool,
}

impl Reader<'_> {
    fn u16_at(&self, p: usize) -> Option<u16> {
        let b: [u8; 2] = self.buf.get(p..p.checked_add(2)?)?.try_into().ok()?;
        Some(if self.big {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        })
    }

    fn u32_at(&self, p: usize) -> Option<u32> {
        let b: [u8; 4] = self.buf.get(p..p.checked_add(4)?)?.try_into().ok()?;
        Some(if self.big {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        })
    }

    /// The element header at `p`.
    fn header(&self, p: usize) -> Result<Header, String> {
        let truncated = || format!("truncated element header at offset {p}");
        let tag = Tag(
            self.u16_at(p).ok_or_else(truncated)?,
            self.u16_at(p + 2).ok_or_else(truncated)?,
        );
        if tag.group() == 0xFFFE || !self.explicit {
            return Ok((tag, None, self.u32_at(p + 4).ok_or_else(truncated)?, p + 8));
        }
        let vr: [u8; 2] = self
            .buf
            .get(p + 4..p + 6)
            .ok_or_else(truncated)?
            .try_into()
            .map_err(|_| truncated())?;
        // only the VRs dicom-parser knows: for others it reads another header layout
        if VR::from_binary(vr).is_none() {
            return Err(format!(
                "invalid VR bytes {vr:02x?} for {tag} at offset {p}"
            ));
        }
        let long = matches!(
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
        );
        if long {
            Ok((
                tag,
                Some(vr),
                self.u32_at(p + 8).ok_or_else(truncated)?,
                p + 12,
            ))
        } else {
            let l = self.u16_at(p + 6).ok_or_else(truncated)?;
            Ok((tag, Some(vr), u32::from(l), p + 8))
        }
    }

    /// The end of a defined-length value starting at `at`, if it fits.
    fn skip(&self, tag: Tag, at: usize, len: u32) -> Result<usize, String> {
        at.checked_add(len as usize)
            .filter(|&end| end <= self.buf.len())
            .ok_or_else(|| {
                format!(
                    "length {len} of {tag} at offset {at} goes beyond the {} bytes of the data set",
                    self.buf.len()
                )
            })
    }

    /// Walk from the top-level Pixel Data (or the first element at or after it) to the end.
    fn check_tail(&self, mut p: usize) -> Result<(), String> {
        while p < self.buf.len() {
            let (tag, vr, len, value_at) = self.header(p)?;
            if tag.group() == 0xFFFE {
                return Err(format!("unexpected {tag} at the top level, offset {p}"));
            }
            if tag == PIXEL_DATA && len == UNDEFINED {
                p = self.skip_fragments(value_at)?;
                continue;
            }
            let is_seq = match vr {
                Some(vr) => &vr == b"SQ",
                None => StandardDataDictionary
                    .by_tag(tag)
                    .is_some_and(|e| e.vr() == VirtualVr::Exact(VR::SQ)),
            };
            if len == UNDEFINED || is_seq {
                return Err(format!(
                    "a sequence or undefined-length value ({tag}) after the Pixel Data, at \
                     offset {p}: not accepted"
                ));
            }
            // binary values whose length is not a multiple of their size: dicom-parser
            // reads whole values only and would lose its place (then read unchecked
            // headers)
            let vr = vr.or_else(|| match StandardDataDictionary.by_tag(tag)?.vr() {
                VirtualVr::Exact(v) => v.to_string().as_bytes().try_into().ok(),
                _ => None,
            });
            if let Some(vr) = vr
                && len % value_size(vr) != 0
            {
                return Err(format!(
                    "length {len} of {tag} ({}) is not a multiple of its value size at offset {p}",
                    String::from_utf8_lossy(&vr)
                ));
            }
            p = self.skip(tag, value_at, len)?;
        }
        Ok(())
    }

    /// Skip the items of encapsulated Pixel Data up to its sequence delimiter.
    fn skip_fragments(&self, mut p: usize) -> Result<usize, String> {
        loop {
            let (tag, _, len, value_at) = self.header(p)?;
            match (tag.group(), tag.element()) {
                (0xFFFE, 0xE0DD) => return Ok(value_at),
                (0xFFFE, 0xE000) if len != UNDEFINED => p = self.skip(tag, value_at, len)?,
                _ => {
                    return Err(format!(
                        "{tag} (length {len}) in encapsulated Pixel Data at offset {p}"
                    ));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Explicit VR LE element with a short length.
    fn short(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&tag.0.to_le_bytes());
        b.extend_from_slice(&tag.1.to_le_bytes());
        b.extend_from_slice(vr);
        b.extend_from_slice(&(value.len() as u16).to_le_bytes());
        b.extend_from_slice(value);
        b
    }

    fn long(tag: (u16, u16), vr: &[u8; 2], len: u32, value: &[u8]) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&tag.0.to_le_bytes());
        b.extend_from_slice(&tag.1.to_le_bytes());
        b.extend_from_slice(vr);
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(value);
        b
    }

    fn item(tag: u16, len: u32, value: &[u8]) -> Vec<u8> {
        let mut b = vec![0xFE, 0xFF];
        b.extend_from_slice(&tag.to_le_bytes());
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(value);
        b
    }

    const EXPLICIT: &str = "1.2.840.10008.1.2.1";
    const JPEG: &str = "1.2.840.10008.1.2.4.50";

    #[test]
    fn pixel_data_and_padding_after_it_are_walked() {
        let mut ds = short((0x0010, 0x0010), b"PN", b"DOE^JANE");
        ds.extend(long((0x7FE0, 0x0010), b"OW", 4, &[1, 2, 3, 4]));
        ds.extend(long((0xFFFC, 0xFFFC), b"OB", 2, &[0, 0]));
        assert_eq!(check_dataset(&ds, EXPLICIT), Ok(()));
        // a padding claiming more than is there
        let mut lying = ds.clone();
        let n = lying.len();
        lying[n - 6..n - 2].copy_from_slice(&1000u32.to_le_bytes());
        let e = check_dataset(&lying, EXPLICIT).unwrap_err();
        assert!(e.contains("beyond"), "{e}");
    }

    #[test]
    fn nesting_after_pixel_data_is_refused() {
        let mut ds = long((0x7FE0, 0x0010), b"OB", 2, &[0, 0]);
        // a private sequence after the Pixel Data, dicom-object would recurse into it
        ds.extend(long((0x7FE1, 0x0010), b"SQ", UNDEFINED, &[]));
        for _ in 0..1000 {
            ds.extend(item(0xE000, UNDEFINED, &[]));
            ds.extend(long((0x7FE1, 0x0010), b"SQ", UNDEFINED, &[]));
        }
        let e = check_dataset(&ds, EXPLICIT).unwrap_err();
        assert!(e.contains("after the Pixel Data"), "{e}");
    }

    #[test]
    fn encapsulated_fragments_are_bounded() {
        let mut ds = long((0x7FE0, 0x0010), b"OB", UNDEFINED, &[]);
        ds.extend(item(0xE000, 0, &[]));
        ds.extend(item(0xE000, 4, &[0xFF, 0xD8, 0xFF, 0xD9]));
        ds.extend(item(0xE0DD, 0, &[]));
        assert_eq!(check_dataset(&ds, JPEG), Ok(()));
        let mut lying = long((0x7FE0, 0x0010), b"OB", UNDEFINED, &[]);
        lying.extend(item(0xE000, 0xFFFF_FFF0, &[1, 2]));
        let e = check_dataset(&lying, JPEG).unwrap_err();
        assert!(e.contains("beyond"), "{e}");
    }

    #[test]
    fn command_sets_are_bounded() {
        let mut lying = vec![0x00, 0x00, 0x02, 0x00];
        lying.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
        lying.extend_from_slice(b"1.2.840.1000");
        let e = check_command(&lying).unwrap_err();
        assert!(e.contains("beyond"), "{e}");
        assert!(check_command(&vec![0; MAX_COMMAND + 2]).is_err());
    }

    #[test]
    fn deflated_data_sets_cannot_be_checked() {
        assert!(check_dataset(&[], "1.2.840.10008.1.2.1.99").is_err());
    }
}

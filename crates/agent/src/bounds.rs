//! The checks in front of every `dicom-object` parse of bytes a peer sent.
//!
//! `dicom-parser` sizes each value from the length in its header and fills it before it
//! reads (a 20-byte command set claiming 4 GiB makes it write 4 GiB of zeros), and
//! `dicom-object` parses nested sequences by recursion (10,000 levels overflow the stack,
//! an abort that no `catch_unwind` catches). So the element headers are walked first by
//! [`wire::check_command`] / [`wire::check_whole_dataset`]: every length must fit in the bytes
//! received and nesting stays within [`wire::MAX_NESTING`] levels.
//!
//! The agent parses whole data sets, so [`check_dataset`] is `wire`'s walk over the Pixel
//! Data too (its length, or its fragments) and the top-level elements after it (Data Set
//! Trailing Padding and the like), which may not nest at all.

/// The largest command set accepted (bytes). A command set is a few hundred bytes; this
/// leaves room for long error comments and attribute lists.
pub const MAX_COMMAND: usize = 64 << 10;
/// The largest data set accepted in one message unless configured otherwise (bytes): what
/// `lab-agent serve --max-dataset-mb` defaults to and what the client accepts.
pub const DEFAULT_MAX_DATASET: usize = 512 << 20;

/// Checks a command set (Implicit VR Little Endian) before it is parsed.
pub fn check_command(buf: &[u8]) -> Result<(), String> {
    if buf.len() > MAX_COMMAND {
        return Err(format!(
            "{} bytes, more than the {MAX_COMMAND} a command set may hold",
            buf.len()
        ));
    }
    wire::check_command(buf)
}

/// Checks a data set encoded in `ts_uid` before it is parsed: lengths within `buf`,
/// headers well formed, nesting bounded, everywhere including past the Pixel Data.
/// Deflated and unknown transfer syntaxes cannot be checked and are refused.
pub fn check_dataset(buf: &[u8], ts_uid: &str) -> Result<(), String> {
    wire::check_whole_dataset(buf, ts_uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNDEFINED: u32 = 0xFFFF_FFFF;

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
    fn a_signature_sequence_after_pixel_data_is_walked_and_bounded() {
        // dcmsign's Digital Signatures Sequence, last in the data set by its tag
        let mut ds = long((0x7FE0, 0x0010), b"OB", 2, &[0, 0]);
        let mut signed = ds.clone();
        let mac_id = short((0x0400, 0x0005), b"US", &[0, 0]);
        let body = item(0xE000, mac_id.len() as u32, &mac_id);
        signed.extend(long((0xFFFA, 0xFFFA), b"SQ", body.len() as u32, &body));
        assert_eq!(check_dataset(&signed, EXPLICIT), Ok(()));
        // but it nests no deeper than any other sequence
        ds.extend(long((0xFFFA, 0xFFFA), b"SQ", UNDEFINED, &[]));
        for _ in 0..1000 {
            ds.extend(item(0xE000, UNDEFINED, &[]));
            ds.extend(long((0x0400, 0x0561), b"SQ", UNDEFINED, &[]));
        }
        let e = check_dataset(&ds, EXPLICIT).unwrap_err();
        assert!(e.contains("nest"), "{e}");
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
        // found by the `dimse` fuzz target: an element whose tag sorts after Pixel Data
        // ended wire's prefix walk, and dicom-object then sized a 3.7 GB value from it
        let mut tail = vec![0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, 0x00, 0x01, 0x00];
        tail.extend_from_slice(&[0xDF; 8]);
        let e = check_command(&tail).unwrap_err();
        assert!(e.contains("beyond"), "{e}");
    }

    #[test]
    fn deflated_data_sets_cannot_be_checked() {
        assert!(check_dataset(&[], "1.2.840.10008.1.2.1.99").is_err());
    }
}

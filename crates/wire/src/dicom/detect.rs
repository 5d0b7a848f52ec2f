//! Whether a TCP direction carries DICOM or TLS: heuristics on the first bytes, any port.

use crate::MAX_PDU_LENGTH;

/// Largest A-ASSOCIATE PDU length considered plausible by the detection heuristic.
const MAX_ASSOCIATE_LENGTH: u32 = 1024 * 1024;

pub(super) enum Detect {
    NeedMore,
    No,
    Dicom,
    Tls,
}

/// Does this buffer start with a DICOM PDU (or a TLS record)?
pub(super) fn detect(b: &[u8]) -> Detect {
    if b.len() >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 {
        return Detect::Tls;
    }
    if b.len() < 6 {
        return if b.is_empty() || (1..=7).contains(&b[0]) || b[0] == 0x16 {
            Detect::NeedMore
        } else {
            Detect::No
        };
    }
    let ty = b[0];
    let len = u32::from_be_bytes([b[2], b[3], b[4], b[5]]);
    if !(1..=7).contains(&ty) || b[1] != 0 {
        return Detect::No;
    }
    match ty {
        1 | 2 => {
            if !(68..=MAX_ASSOCIATE_LENGTH).contains(&len) {
                return Detect::No;
            }
            if b.len() < 8 {
                return Detect::NeedMore;
            }
            if b[6] == 0 && b[7] & 1 == 1 {
                Detect::Dicom
            } else {
                Detect::No
            }
        }
        3 | 5 | 6 | 7 => {
            if len == 4 {
                Detect::Dicom
            } else {
                Detect::No
            }
        }
        _ => {
            // P-DATA-TF: the first PDV item must fit, with an odd context id and a
            // message control header using only its two low bits.
            if !(6..=MAX_PDU_LENGTH).contains(&len) {
                return Detect::No;
            }
            if b.len() < 12 {
                return Detect::NeedMore;
            }
            let item = u32::from_be_bytes([b[6], b[7], b[8], b[9]]);
            if item >= 2 && item <= len - 4 && b[10] & 1 == 1 && b[11] <= 3 {
                Detect::Dicom
            } else {
                Detect::No
            }
        }
    }
}

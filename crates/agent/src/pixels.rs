//! Pixel data as the range compares and tampers with it.
//!
//! - [`first_frame_sha256`]: the fingerprint of an image that the modality reports for what it
//!   sent and the engine reads back from the PACS (Orthanc's `/instances/{id}/frames/0/raw`
//!   is the same bytes): the first frame's bytes for native pixel data, the first fragment
//!   as stored (the JPEG stream and its pad byte, if any) for encapsulated pixel data.
//! - [`inject_lesion`]: what the on-path proxy does to an image when asked (the CT-GAN style
//!   of attack: a bright disc where there was none), for native 8/16-bit pixel data and for
//!   JPEG Baseline (decoded, altered, encoded again). The rest of the data set keeps its
//!   values; dicom-object writes it again in the same transfer syntax.

use dicom_core::value::{PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of the first frame as defined in the module docs, or `None` when the data set
/// has no pixel data or lacks what is needed to find the first frame.
pub fn first_frame_sha256(obj: &InMemDicomObject) -> Option<String> {
    let bytes = first_frame(obj)?;
    Some(hex(&Sha256::digest(&bytes)))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn u16_of(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<u16> {
    obj.element(tag).ok()?.to_int::<u16>().ok()
}

struct Geometry {
    rows: usize,
    cols: usize,
    samples: usize,
    bits_allocated: usize,
    /// The largest value a sample may hold (Bits Stored).
    max: i64,
    monochrome1: bool,
}

impl Geometry {
    fn of(obj: &InMemDicomObject) -> Option<Geometry> {
        let photometric = obj
            .element(tags::PHOTOMETRIC_INTERPRETATION)
            .ok()
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let bits_allocated = u16_of(obj, tags::BITS_ALLOCATED)?;
        let bits_stored = u16_of(obj, tags::BITS_STORED)
            .unwrap_or(bits_allocated)
            .clamp(1, bits_allocated.min(16));
        Some(Geometry {
            rows: u16_of(obj, tags::ROWS)? as usize,
            cols: u16_of(obj, tags::COLUMNS)? as usize,
            samples: u16_of(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as usize,
            bits_allocated: bits_allocated as usize,
            max: (1i64 << bits_stored) - 1,
            monochrome1: photometric == "MONOCHROME1",
        })
    }

    fn frame_len(&self) -> usize {
        self.rows * self.cols * self.samples * self.bits_allocated.div_ceil(8)
    }
}

fn first_frame(obj: &InMemDicomObject) -> Option<Vec<u8>> {
    let pixel = obj.element(tags::PIXEL_DATA).ok()?;
    match pixel.value() {
        Value::PixelSequence(seq) => Some(seq.fragments().first()?.clone()),
        Value::Primitive(p) => {
            let bytes = p.to_bytes();
            let len = Geometry::of(obj)?.frame_len();
            Some(bytes.get(..len).unwrap_or(&bytes).to_vec())
        }
        Value::Sequence(_) => None,
    }
}

/// A JPEG stream padded to even length (PS3.5 A.4) ends in 0x00 after its EOI marker.
fn strip_jpeg_pad(frag: &[u8]) -> &[u8] {
    if frag.len() >= 3 && frag.ends_with(&[0xFF, 0xD9, 0x00]) {
        &frag[..frag.len() - 1]
    } else {
        frag
    }
}

/// The most bytes a JPEG frame may decode to (a 4096x4096 RGB image).
const MAX_DECODED: usize = 4096 * 4096 * 3;

/// What [`inject_lesion`] did, for the proxy's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lesion {
    /// Centre (column, row) and radius in pixels.
    pub centre: (usize, usize),
    pub radius: usize,
    /// `native` or `jpeg-baseline`.
    pub encoding: &'static str,
}

/// Paint a bright disc into the first frame of the data set `data` (encoded in `ts_uid`) and
/// return the data set encoded again, with what was done. Errors say why the image was left
/// alone (no pixel data, an encoding the proxy does not rewrite, a decoding failure).
pub fn inject_lesion(data: &[u8], ts_uid: &str) -> Result<(Vec<u8>, Lesion), String> {
    let ts = TransferSyntaxRegistry
        .get(ts_uid.trim_end_matches('\0'))
        .ok_or_else(|| format!("unknown transfer syntax {ts_uid}"))?;
    // The bytes come from a peer: walked first (lengths, nesting), then parsed.
    crate::bounds::check_dataset(data, ts.uid())
        .map_err(|e| format!("the data set is refused: {e}"))?;
    let mut obj = InMemDicomObject::read_dataset_with_ts(data, ts)
        .map_err(|e| format!("the data set could not be read: {e}"))?;
    let g = Geometry::of(&obj).ok_or("no Rows, Columns or Bits Allocated: not an image")?;
    let radius = (g.rows.min(g.cols) / 10).max(2);
    // Off centre, where a reader would look for a finding rather than at the middle.
    let centre = (g.cols * 3 / 5, g.rows * 2 / 5);
    let in_disc = |x: usize, y: usize| {
        let (dx, dy) = (x as i64 - centre.0 as i64, y as i64 - centre.1 as i64);
        dx * dx + dy * dy <= (radius * radius) as i64
    };
    let pixel = obj
        .element(tags::PIXEL_DATA)
        .map_err(|_| "no Pixel Data in the data set".to_string())?;
    let (new_value, encoding) = match pixel.value() {
        Value::Primitive(p) => {
            let mut bytes = p.to_bytes().into_owned();
            if bytes.len() < g.frame_len() {
                return Err(format!(
                    "Pixel Data holds {} bytes, less than one {}x{} frame",
                    bytes.len(),
                    g.cols,
                    g.rows
                ));
            }
            paint_native(&mut bytes, &g, &in_disc)?;
            let value = if g.bits_allocated == 16 {
                let words: Vec<u16> = bytes
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                PrimitiveValue::U16(words.into())
            } else {
                PrimitiveValue::U8(bytes.into())
            };
            (Value::Primitive(value), "native")
        }
        Value::PixelSequence(seq) => {
            if ts.uid() != dicom_dictionary_std::uids::JPEG_BASELINE8_BIT {
                return Err(format!(
                    "encapsulated pixel data in {} is left as is: only JPEG Baseline is re-encoded",
                    ts.uid()
                ));
            }
            let frag = seq
                .fragments()
                .first()
                .ok_or("encapsulated pixel data without a fragment")?;
            let mut fragments: Vec<Vec<u8>> = seq.fragments().to_vec();
            let mut decoder = jpeg_decoder::Decoder::new(strip_jpeg_pad(frag));
            // A header may claim any size; a lab image is far below this.
            decoder.set_max_decoding_buffer_size(MAX_DECODED);
            let mut pixels = decoder
                .decode()
                .map_err(|e| format!("the JPEG frame could not be decoded: {e}"))?;
            let info = decoder.info().ok_or("the JPEG frame has no header")?;
            let samples = match info.pixel_format {
                jpeg_decoder::PixelFormat::L8 => 1,
                jpeg_decoder::PixelFormat::RGB24 => 3,
                other => return Err(format!("JPEG pixel format {other:?} is not rewritten")),
            };
            let jg = Geometry {
                rows: info.height as usize,
                cols: info.width as usize,
                samples,
                bits_allocated: 8,
                max: 255,
                monochrome1: g.monochrome1,
            };
            paint_native(&mut pixels, &jg, &in_disc)?;
            let mut jpeg =
                crate::synth::encode_jpeg_samples(&pixels, info.width, info.height, samples)
                    .map_err(|e| format!("the altered frame could not be encoded: {e}"))?;
            if jpeg.len() % 2 == 1 {
                jpeg.push(0);
            }
            // The first fragment held the whole first frame (it decoded on its own).
            fragments[0] = jpeg;
            // A one-fragment offset table is [0] and stays right; with more fragments the
            // following offsets would move, so the table is dropped (it is optional).
            let offsets = if fragments.len() == 1 {
                seq.offset_table().to_vec()
            } else {
                Vec::new()
            };
            (
                Value::PixelSequence(PixelFragmentSequence::new(offsets, fragments)),
                "jpeg-baseline",
            )
        }
        Value::Sequence(_) => return Err("Pixel Data is a sequence".into()),
    };
    let vr = pixel.vr();
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        vr_for(vr, &new_value),
        new_value,
    ));
    let mut out = Vec::with_capacity(data.len());
    obj.write_dataset_with_ts(&mut out, ts)
        .map_err(|e| format!("the altered data set could not be written: {e}"))?;
    Ok((
        out,
        Lesion {
            centre,
            radius,
            encoding,
        },
    ))
}

fn vr_for(vr: VR, value: &Value<InMemDicomObject>) -> VR {
    match value {
        Value::Primitive(PrimitiveValue::U16(_)) => VR::OW,
        Value::Primitive(PrimitiveValue::U8(_)) if vr == VR::OW => VR::OB,
        _ => vr,
    }
}

/// Brighten the disc in the first frame (lower values for MONOCHROME1, where low is bright)
/// by a quarter of the stored range, clamped, so the lesion stands out on any window.
fn paint_native(
    bytes: &mut [u8],
    g: &Geometry,
    in_disc: &dyn Fn(usize, usize) -> bool,
) -> Result<(), String> {
    let step = match g.bits_allocated {
        8 => 1usize,
        16 => 2,
        b => return Err(format!("{b}-bit pixels are not rewritten")),
    };
    let max = g.max;
    let delta = if g.monochrome1 { -max / 4 } else { max / 4 };
    for y in 0..g.rows {
        for x in 0..g.cols {
            if !in_disc(x, y) {
                continue;
            }
            for s in 0..g.samples {
                let at = ((y * g.cols + x) * g.samples + s) * step;
                if step == 1 {
                    bytes[at] = (bytes[at] as i64 + delta).clamp(0, max) as u8;
                } else {
                    let v = u16::from_le_bytes([bytes[at], bytes[at + 1]]) as i64;
                    let v = (v + delta).clamp(0, max.max(v)) as u16; // a value already out of range is not clipped
                    bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::{Modality, Study, StudySpec, Syntax};

    fn instance(modality: Modality, syntax: Syntax) -> (Vec<u8>, String, InMemDicomObject) {
        let spec = StudySpec {
            modality,
            syntax,
            instances: 1,
            rows: 64,
            cols: 48,
            ..Default::default()
        };
        let st = Study::new(&spec).unwrap();
        let inst = st.instance(0).unwrap();
        (
            inst.encode_dataset().unwrap(),
            inst.transfer_syntax_uid.to_string(),
            inst.dataset,
        )
    }

    fn read(data: &[u8], ts: &str) -> InMemDicomObject {
        let ts = TransferSyntaxRegistry.get(ts).unwrap();
        InMemDicomObject::read_dataset_with_ts(data, ts).unwrap()
    }

    #[test]
    fn a_lesion_changes_the_first_frame_and_nothing_else() {
        for (m, s) in [
            (Modality::Ct, Syntax::ExplicitLe),
            (Modality::Cr, Syntax::ExplicitLe),
            (Modality::Xa, Syntax::JpegBaseline),
            (Modality::Xa, Syntax::ExplicitLe),
            (Modality::Us, Syntax::JpegBaseline),
            (Modality::Us, Syntax::ExplicitLe),
        ] {
            let (data, ts, original) = instance(m, s);
            let before = first_frame_sha256(&original).unwrap();
            // What was sent and what is read back are fingerprinted alike.
            assert_eq!(first_frame_sha256(&read(&data, &ts)).unwrap(), before);
            let (altered, lesion) = inject_lesion(&data, &ts).unwrap();
            let after = read(&altered, &ts);
            assert_ne!(first_frame_sha256(&after).unwrap(), before, "{m:?} {s:?}");
            assert_eq!(lesion.radius, 4, "{m:?} {s:?}");
            for tag in [tags::PATIENT_NAME, tags::SOP_INSTANCE_UID, tags::ROWS] {
                assert_eq!(
                    after.element(tag).unwrap().to_str().unwrap(),
                    original.element(tag).unwrap().to_str().unwrap()
                );
            }
        }
    }

    fn changed(modality: Modality) -> (Vec<(usize, u16, u16)>, Lesion) {
        let (data, ts, original) = instance(modality, Syntax::ExplicitLe);
        let (altered, lesion) = inject_lesion(&data, &ts).unwrap();
        // As a reader gets them from the wire: bytes, Little Endian words.
        let px = |o: &InMemDicomObject| -> Vec<u16> {
            let bytes = o.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
            bytes
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect()
        };
        assert_eq!(px(&original), px(&read(&data, &ts)));
        let (a, b) = (px(&original), px(&read(&altered, &ts)));
        assert_eq!(a.len(), b.len());
        let diff = (0..a.len())
            .filter(|&i| a[i] != b[i])
            .map(|i| (i, a[i], b[i]))
            .collect();
        (diff, lesion)
    }

    fn inside(i: usize, l: &Lesion) -> bool {
        let (x, y) = ((i % 48) as i64, (i / 48) as i64);
        let (dx, dy) = (x - l.centre.0 as i64, y - l.centre.1 as i64);
        dx * dx + dy * dy <= (l.radius * l.radius) as i64
    }

    #[test]
    fn the_disc_is_brighter_where_it_was_painted_and_only_there() {
        let (diff, lesion) = changed(Modality::Ct);
        assert!(diff.len() > 20, "{diff:?}");
        for (i, before, after) in diff {
            assert!(inside(i, &lesion), "pixel {i} changed outside the disc");
            assert!(after > before, "pixel {i}: {before} -> {after}");
        }
    }

    #[test]
    fn monochrome1_lesions_are_lower_values() {
        let (diff, lesion) = changed(Modality::Cr);
        assert!(diff.len() > 20, "{diff:?}");
        for (i, before, after) in diff {
            assert!(inside(i, &lesion), "pixel {i} changed outside the disc");
            assert!(after < before, "pixel {i}: {before} -> {after}");
        }
    }

    #[test]
    fn data_sets_without_pixels_are_refused_with_a_reason() {
        let obj = InMemDicomObject::from_element_iter([DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("DOE^JANE"),
        )]);
        let mut data = Vec::new();
        let ts = TransferSyntaxRegistry.get("1.2.840.10008.1.2.1").unwrap();
        obj.write_dataset_with_ts(&mut data, ts).unwrap();
        let err = inject_lesion(&data, "1.2.840.10008.1.2.1").unwrap_err();
        assert!(err.contains("not an image"), "{err}");
        assert_eq!(first_frame_sha256(&obj), None);
    }

    #[test]
    fn deeply_nested_data_sets_are_refused_not_parsed() {
        // 10,000 undefined-length sequence+item levels before the image: dicom-object
        // alone would recurse until the stack overflows
        let (data, ts, _) = instance(Modality::Ct, Syntax::ExplicitLe);
        let mut deep = wire::fuzzing::deep_nesting_dataset(10_000);
        deep.extend_from_slice(&data);
        let err = inject_lesion(&deep, &ts).unwrap_err();
        assert!(err.contains("nest"), "{err}");
    }
}

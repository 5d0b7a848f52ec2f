//! The modality-specific parts of a synthetic data set: the Image Pixel module, each
//! modality's acquisition attributes (XA, CT, MR, CR, US), and the Pixel Data element, native
//! or encapsulated JPEG.

use super::jpeg::encode_jpeg_samples;
use super::phantoms;
use super::{Modality, StudySpec, Syntax};
use anyhow::Result;
use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

/// Put one element.
pub(super) fn put(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: impl Into<PrimitiveValue>) {
    o.put(DataElement::new(tag, vr, v.into()));
}

/// Put single-valued string elements, most of what a data set holds.
pub(super) fn put_strs(o: &mut InMemDicomObject, elements: &[(Tag, VR, &str)]) {
    for &(tag, vr, v) in elements {
        put(o, tag, vr, v);
    }
}

/// Put a 12-bit phantom value on the scale of `bits` stored bits.
fn scale12(v: u16, bits: u16) -> u16 {
    if bits >= 12 {
        v << (bits - 12)
    } else {
        v >> (12 - bits)
    }
}

/// A value of the 12-bit scale (window centre, width), as a DS string on `bits` bits.
fn ds12(v: f64, bits: u16) -> String {
    format!("{}", v * 2f64.powi(bits as i32 - 12))
}

/// Image Pixel module, but for the bit depths (see [`put_acquisition`]) and the pixels.
pub(super) fn put_image_pixel(o: &mut InMemDicomObject, spec: &StudySpec) {
    let (samples, photometric) = match (spec.modality, spec.syntax) {
        (Modality::Us, Syntax::JpegBaseline) => (3u16, "YBR_FULL_422"),
        (Modality::Us, Syntax::ExplicitLe) => (3u16, "RGB"),
        (Modality::Cr, _) => (1u16, "MONOCHROME1"),
        _ => (1u16, "MONOCHROME2"),
    };
    put(o, tags::SAMPLES_PER_PIXEL, VR::US, samples);
    put(o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric);
    if samples == 3 {
        put(o, tags::PLANAR_CONFIGURATION, VR::US, 0u16);
    }
    put(o, tags::ROWS, VR::US, spec.rows);
    put(o, tags::COLUMNS, VR::US, spec.cols);
    put(o, tags::PIXEL_REPRESENTATION, VR::US, 0u16);
}

/// Bits Allocated, Bits Stored and High Bit.
fn put_bits(o: &mut InMemDicomObject, allocated: u16, stored: u16) {
    put(o, tags::BITS_ALLOCATED, VR::US, allocated);
    put(o, tags::BITS_STORED, VR::US, stored);
    put(o, tags::HIGH_BIT, VR::US, stored - 1);
}

/// Where a cross-sectional (CT, MR) slice lies: axial, `z` mm along the stack, its top left
/// corner at (`corner`, `corner`), square pixels of `spacing` mm.
struct Slice<'a> {
    thickness: &'a str,
    spacing: &'a str,
    corner: &'a str,
    z: f64,
}

/// Frame of Reference and Image Plane modules of a cross-sectional slice.
fn put_slice(o: &mut InMemDicomObject, frame_uid: &str, slice: Slice<'_>) {
    put(o, tags::FRAME_OF_REFERENCE_UID, VR::UI, frame_uid);
    put(
        o,
        tags::POSITION_REFERENCE_INDICATOR,
        VR::LO,
        PrimitiveValue::Empty,
    );
    put(o, tags::SLICE_THICKNESS, VR::DS, slice.thickness);
    let spacing = dicom_value!(Strs, [slice.spacing, slice.spacing]);
    put(o, tags::PIXEL_SPACING, VR::DS, spacing);
    let axial = dicom_value!(Strs, ["1", "0", "0", "0", "1", "0"]);
    put(o, tags::IMAGE_ORIENTATION_PATIENT, VR::DS, axial);
    let z = format!("{}", slice.z);
    let position = dicom_value!(Strs, [slice.corner, slice.corner, z.as_str()]);
    put(o, tags::IMAGE_POSITION_PATIENT, VR::DS, position);
    put(o, tags::SLICE_LOCATION, VR::DS, z.as_str());
}

/// Window Center and Window Width.
fn put_window(o: &mut InMemDicomObject, centre: &str, width: &str) {
    put(o, tags::WINDOW_CENTER, VR::DS, centre);
    put(o, tags::WINDOW_WIDTH, VR::DS, width);
}

/// Bit depths and what the modality's IOD asks of its acquisition (beam, sequence, plane).
pub(super) fn put_acquisition(o: &mut InMemDicomObject, spec: &StudySpec, frame_uid: &str, i: u32) {
    let bits = spec.bits();
    match spec.modality {
        Modality::Xa => {
            put_bits(o, 8, 8);
            put_strs(
                o,
                &[
                    (tags::PIXEL_INTENSITY_RELATIONSHIP, VR::CS, "LIN"),
                    (tags::KVP, VR::DS, "80"),
                    (tags::POSITIONER_PRIMARY_ANGLE, VR::DS, "0"),
                    (tags::POSITIONER_SECONDARY_ANGLE, VR::DS, "0"),
                    (tags::RADIATION_SETTING, VR::CS, "GR"),
                    (tags::BODY_PART_EXAMINED, VR::CS, "HEART"),
                    (tags::X_RAY_TUBE_CURRENT, VR::IS, "400"),
                    (tags::EXPOSURE_TIME, VR::IS, "5"),
                    (tags::EXPOSURE, VR::IS, "2"),
                ],
            );
        }
        Modality::Ct => {
            put_bits(o, 16, bits);
            // Stored values are HU+1024 on 12 bits, scaled to `bits`.
            let slope = ds12(1.0, 24 - bits);
            put_strs(
                o,
                &[
                    (tags::RESCALE_INTERCEPT, VR::DS, "-1024"),
                    (tags::RESCALE_SLOPE, VR::DS, &slope),
                    (tags::RESCALE_TYPE, VR::LO, "HU"),
                    (tags::BODY_PART_EXAMINED, VR::CS, "CHEST"),
                    (tags::PATIENT_POSITION, VR::CS, "HFS"),
                    (tags::KVP, VR::DS, "120"),
                    (tags::ACQUISITION_NUMBER, VR::IS, "1"),
                ],
            );
            let slice = Slice {
                thickness: "1",
                spacing: "0.7",
                corner: "-179.2",
                z: i as f64,
            };
            put_slice(o, frame_uid, slice);
            put_window(o, "40", "400");
        }
        Modality::Mr => {
            put_bits(o, 16, bits);
            put_strs(
                o,
                &[
                    (tags::BODY_PART_EXAMINED, VR::CS, "HEAD"),
                    (tags::PATIENT_POSITION, VR::CS, "HFS"),
                    (tags::SCANNING_SEQUENCE, VR::CS, "SE"),
                    (tags::SEQUENCE_VARIANT, VR::CS, "NONE"),
                    (tags::MR_ACQUISITION_TYPE, VR::CS, "2D"),
                    (tags::REPETITION_TIME, VR::DS, "500"),
                    (tags::ECHO_TIME, VR::DS, "15"),
                    (tags::ECHO_TRAIN_LENGTH, VR::IS, "1"),
                    (tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "1.5"),
                    (tags::IMAGED_NUCLEUS, VR::SH, "1H"),
                    (tags::ACQUISITION_NUMBER, VR::IS, "1"),
                    (tags::SPACING_BETWEEN_SLICES, VR::DS, "6"),
                ],
            );
            put(o, tags::SCAN_OPTIONS, VR::CS, PrimitiveValue::Empty);
            let slice = Slice {
                thickness: "5",
                spacing: "0.9",
                corner: "-115.2",
                z: 6.0 * i as f64,
            };
            put_slice(o, frame_uid, slice);
            put_window(o, &ds12(600.0, bits), &ds12(1200.0, bits));
        }
        Modality::Cr => {
            put_bits(o, 16, bits);
            put_strs(
                o,
                &[
                    (tags::BODY_PART_EXAMINED, VR::CS, "CHEST"),
                    (tags::VIEW_POSITION, VR::CS, "PA"),
                    (tags::KVP, VR::DS, "120"),
                ],
            );
            let spacing = dicom_value!(Strs, ["0.2", "0.2"]);
            put(o, tags::IMAGER_PIXEL_SPACING, VR::DS, spacing);
            put_window(o, &ds12(2048.0, bits), &ds12(4096.0, bits));
        }
        Modality::Us => {
            put_bits(o, 8, 8);
            put(o, tags::BODY_PART_EXAMINED, VR::CS, "ABDOMEN");
            if spec.syntax == Syntax::ExplicitLe {
                put(o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
            }
        }
    }
}

/// Pixel Data of instance `i`, with the lossy compression attributes when it is JPEG.
pub(super) fn put_pixel_data(o: &mut InMemDicomObject, spec: &StudySpec, i: u32) -> Result<()> {
    match (spec.modality, spec.syntax) {
        (Modality::Xa, Syntax::JpegBaseline) => {
            put_jpeg(o, spec, &phantoms::pixels_8bit(spec, i), 1)?;
        }
        (Modality::Us, Syntax::JpegBaseline) => {
            put_jpeg(o, spec, &phantoms::pixels_us(spec, i), 3)?;
        }
        (Modality::Xa, Syntax::ExplicitLe) => put_native_8(o, phantoms::pixels_8bit(spec, i)),
        (Modality::Us, Syntax::ExplicitLe) => put_native_8(o, phantoms::pixels_us(spec, i)),
        (Modality::Ct, Syntax::ExplicitLe) => put_native_16(o, &phantoms::pixels_ct(spec, i), spec),
        (Modality::Mr, Syntax::ExplicitLe) => put_native_16(o, &phantoms::pixels_mr(spec, i), spec),
        (Modality::Cr, Syntax::ExplicitLe) => put_native_16(o, &phantoms::pixels_cr(spec, i), spec),
        (Modality::Ct | Modality::Mr | Modality::Cr, Syntax::JpegBaseline) => {
            unreachable!("rejected by Study::new")
        }
    }
    Ok(())
}

/// One JPEG Baseline fragment, with an empty basic offset table.
fn put_jpeg(
    o: &mut InMemDicomObject,
    spec: &StudySpec,
    pixels: &[u8],
    samples: usize,
) -> Result<()> {
    let mut jpeg = encode_jpeg_samples(pixels, spec.cols, spec.rows, samples)?;
    let ratio = (pixels.len() as f64) / (jpeg.len() as f64);
    if jpeg.len() % 2 == 1 {
        jpeg.push(0); // fragments have even length (PS3.5 A.4)
    }
    put(o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "01");
    put(
        o,
        tags::LOSSY_IMAGE_COMPRESSION_RATIO,
        VR::DS,
        format!("{ratio:.2}"),
    );
    put(
        o,
        tags::LOSSY_IMAGE_COMPRESSION_METHOD,
        VR::CS,
        "ISO_10918_1",
    );
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PixelFragmentSequence::new_fragments(vec![jpeg]),
    ));
    Ok(())
}

/// 8-bit native pixels, padded to an even length.
fn put_native_8(o: &mut InMemDicomObject, mut pixels: Vec<u8>) {
    if pixels.len() % 2 == 1 {
        pixels.push(0);
    }
    put(
        o,
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::U8(pixels.into()),
    );
}

/// 12-bit phantom values scaled to the spec's Bits Stored.
fn put_native_16(o: &mut InMemDicomObject, pixels: &[u16], spec: &StudySpec) {
    // Kept as little-endian bytes: encoding is then a copy, not 262144 calls.
    // Only little-endian transfer syntaxes are ever proposed for these.
    let bits = spec.bits();
    let bytes: Vec<u8> = pixels
        .iter()
        .flat_map(|v| scale12(*v, bits).to_le_bytes())
        .collect();
    put(
        o,
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::U8(bytes.into()),
    );
}

//! Unit tests of the synthetic studies: determinism, UIDs, and each modality's modules
//! read back from a Part 10 file.

use super::phantoms::pixels_cr;
use super::*;
use dicom_dictionary_std::{tags, uids};
use dicom_object::OpenFileOptions;

fn spec(modality: Modality, syntax: Syntax) -> StudySpec {
    StudySpec {
        modality,
        syntax,
        instances: 2,
        rows: 64,
        cols: 48,
        ..Default::default()
    }
}

#[test]
fn same_seed_same_uids_and_bytes() {
    let a = generate(&spec(Modality::Xa, Syntax::JpegBaseline)).unwrap();
    let b = generate(&spec(Modality::Xa, Syntax::JpegBaseline)).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.sop_instance_uid, y.sop_instance_uid);
        assert_eq!(x.encode_dataset().unwrap(), y.encode_dataset().unwrap());
    }
    assert_ne!(a[0].sop_instance_uid, a[1].sop_instance_uid);
    let mut other = spec(Modality::Xa, Syntax::JpegBaseline);
    other.seed = 43;
    let c = generate(&other).unwrap();
    assert_ne!(a[0].sop_instance_uid, c[0].sop_instance_uid);
    let d = generate(&spec(Modality::Xa, Syntax::ExplicitLe)).unwrap();
    assert_ne!(a[0].sop_instance_uid, d[0].sop_instance_uid);
}

#[test]
fn uids_are_valid() {
    let u = derive_uid(42, "XA", "study", 0);
    assert!(u.starts_with("2.25."));
    assert!(u.len() <= 64);
    assert!(u[5..].chars().all(|c| c.is_ascii_digit()));
    assert!(!u[5..].starts_with('0'));
}

fn roundtrip(inst: &Instance) -> dicom_object::DefaultDicomObject {
    let dir = std::env::temp_dir().join(format!("agent-synth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(inst.file_name());
    inst.write_part10(&path).unwrap();
    let obj = OpenFileOptions::new().open_file(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    obj
}

fn u16_of(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> u16 {
    obj.element(tag).unwrap().to_int::<u16>().unwrap()
}

#[test]
fn xa_jpeg_parses_back_with_one_jpeg_fragment() {
    let insts = generate(&spec(Modality::Xa, Syntax::JpegBaseline)).unwrap();
    let obj = roundtrip(&insts[0]);
    assert_eq!(obj.meta().transfer_syntax(), uids::JPEG_BASELINE8_BIT);
    assert_eq!(
        obj.meta().media_storage_sop_class_uid(),
        uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE
    );
    assert_eq!(
        obj.element(tags::PATIENT_NAME).unwrap().to_str().unwrap(),
        "DOE^JANE"
    );
    assert_eq!(
        obj.element(tags::SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap(),
        insts[0].sop_instance_uid
    );
    assert_eq!(u16_of(&obj, tags::ROWS), 64);
    assert_eq!(u16_of(&obj, tags::COLUMNS), 48);
    assert_eq!(u16_of(&obj, tags::BITS_ALLOCATED), 8);
    assert_eq!(u16_of(&obj, tags::BITS_STORED), 8);
    assert_eq!(u16_of(&obj, tags::HIGH_BIT), 7);
    assert_eq!(u16_of(&obj, tags::SAMPLES_PER_PIXEL), 1);
    let pd = obj.element(tags::PIXEL_DATA).unwrap();
    let offsets = pd.value().offset_table().unwrap();
    assert!(offsets.is_empty(), "basic offset table must be empty");
    let frags = pd.value().fragments().unwrap();
    assert_eq!(frags.len(), 1);
    let f = &frags[0];
    assert_eq!(f.len() % 2, 0, "fragment must have even length");
    assert_eq!(&f[..2], &[0xFF, 0xD8]);
    let end = if f[f.len() - 1] == 0 {
        &f[f.len() - 3..f.len() - 1]
    } else {
        &f[f.len() - 2..]
    };
    assert_eq!(end, &[0xFF, 0xD9]);
}

#[test]
fn ct_native_pixel_module_is_consistent() {
    let insts = generate(&spec(Modality::Ct, Syntax::ExplicitLe)).unwrap();
    let obj = roundtrip(&insts[1]);
    assert_eq!(
        obj.meta().transfer_syntax(),
        uids::EXPLICIT_VR_LITTLE_ENDIAN
    );
    assert_eq!(
        obj.element(tags::SOP_CLASS_UID).unwrap().to_str().unwrap(),
        uids::CT_IMAGE_STORAGE
    );
    assert_eq!(u16_of(&obj, tags::BITS_ALLOCATED), 16);
    assert_eq!(u16_of(&obj, tags::BITS_STORED), 12);
    assert_eq!(u16_of(&obj, tags::HIGH_BIT), 11);
    let pd = obj.element(tags::PIXEL_DATA).unwrap();
    let bytes = pd.to_bytes().unwrap();
    assert_eq!(bytes.len(), 64 * 48 * 2);
    // Corner: air, -1000 HU stored as 24 (little endian); centre: soft tissue around 40 HU.
    assert_eq!(&bytes[..2], &[24, 0]);
    let centre = (32 * 48 + 24) * 2;
    let v = u16::from_le_bytes([bytes[centre], bytes[centre + 1]]);
    assert!((1024 + 30..=1024 + 50).contains(&v), "centre {v}");
    assert_eq!(
        obj.element(tags::INSTANCE_NUMBER)
            .unwrap()
            .to_int::<i32>()
            .unwrap(),
        2
    );
}

#[test]
fn xa_native_has_even_pixel_length() {
    let mut s = spec(Modality::Xa, Syntax::ExplicitLe);
    s.rows = 9;
    s.cols = 9;
    let insts = generate(&s).unwrap();
    let obj = roundtrip(&insts[0]);
    let bytes = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
    assert_eq!(bytes.len(), 82);
}

#[test]
fn mr_cr_us_have_their_sop_class_photometric_and_pixel_length() {
    // (modality, syntax, SOP class, photometric, samples, bits allocated)
    let cases = [
        (
            Modality::Mr,
            Syntax::ExplicitLe,
            uids::MR_IMAGE_STORAGE,
            "MONOCHROME2",
            1,
            16,
        ),
        (
            Modality::Cr,
            Syntax::ExplicitLe,
            uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
            "MONOCHROME1",
            1,
            16,
        ),
        (
            Modality::Us,
            Syntax::ExplicitLe,
            uids::ULTRASOUND_IMAGE_STORAGE,
            "RGB",
            3,
            8,
        ),
        (
            Modality::Us,
            Syntax::JpegBaseline,
            uids::ULTRASOUND_IMAGE_STORAGE,
            "YBR_FULL_422",
            3,
            8,
        ),
    ];
    for (m, sx, class, photometric, samples, bits) in cases {
        let insts = generate(&spec(m, sx)).unwrap();
        assert_ne!(insts[0].sop_instance_uid, insts[1].sop_instance_uid);
        let obj = roundtrip(&insts[0]);
        let what = format!("{m} {sx}");
        assert_eq!(obj.meta().media_storage_sop_class_uid(), class, "{what}");
        assert_eq!(obj.meta().transfer_syntax(), sx.uid(), "{what}");
        let modality = obj.element(tags::MODALITY).unwrap().to_str().unwrap();
        assert_eq!(modality.trim(), m.code(), "{what}");
        let pi = obj
            .element(tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(pi.trim(), photometric, "{what}");
        assert_eq!(u16_of(&obj, tags::SAMPLES_PER_PIXEL), samples, "{what}");
        assert_eq!(u16_of(&obj, tags::BITS_ALLOCATED), bits, "{what}");
        let pixels = obj.element(tags::PIXEL_DATA).unwrap();
        match sx {
            Syntax::ExplicitLe => {
                let n = 64 * 48 * samples as usize * (bits as usize / 8);
                assert_eq!(pixels.to_bytes().unwrap().len(), n, "{what}");
            }
            Syntax::JpegBaseline => {
                let frags = pixels.fragments().expect("encapsulated pixel data");
                assert_eq!(frags.len(), 1);
                // SOI marker, and a frame header saying 3 components.
                assert_eq!(&frags[0][..2], &[0xFF, 0xD8]);
                let sof = frags[0].windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
                assert_eq!(frags[0][sof + 9], 3, "3 components in the JPEG frame");
            }
        }
        if samples == 3 {
            assert_eq!(u16_of(&obj, tags::PLANAR_CONFIGURATION), 0);
        }
    }
    // 16-bit modalities refuse JPEG Baseline in words.
    for m in [Modality::Mr, Modality::Cr] {
        let err = generate(&spec(m, Syntax::JpegBaseline)).unwrap_err();
        assert!(err.to_string().contains("--syntax explicit-le"), "{err}");
    }
}

#[test]
fn bits_stored_is_configurable_for_16_bit_modalities() {
    for bits in [8u16, 12, 16] {
        let mut sp = spec(Modality::Ct, Syntax::ExplicitLe);
        sp.bits_stored = Some(bits);
        let obj = roundtrip(&generate(&sp).unwrap()[0]);
        assert_eq!(u16_of(&obj, tags::BITS_STORED), bits);
        assert_eq!(u16_of(&obj, tags::HIGH_BIT), bits - 1);
        let px = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        let max = px
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .max()
            .unwrap();
        assert!(max < (1u32 << bits) as u16 || bits == 16, "{bits}: {max}");
        // Air (-1000 HU) still reads -1000 HU through the rescale.
        let slope: f64 = obj
            .element(tags::RESCALE_SLOPE)
            .unwrap()
            .to_str()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let air = u16::from_le_bytes([px[0], px[1]]) as f64;
        // (within one quantisation step: 16 HU at 8 bits)
        assert!(
            (air * slope - 1024.0 + 1000.0).abs() <= slope.max(1.0),
            "{bits}: {air} x {slope}"
        );
    }
    let mut sp = spec(Modality::Mr, Syntax::ExplicitLe);
    sp.bits_stored = Some(17);
    assert!(generate(&sp).unwrap_err().to_string().contains("8 to 16"));
    let mut sp = spec(Modality::Xa, Syntax::JpegBaseline);
    sp.bits_stored = Some(12);
    assert!(
        generate(&sp)
            .unwrap_err()
            .to_string()
            .contains("CT, MR and CR")
    );
}

#[test]
fn cr_is_monochrome1_with_lungs_darker_than_the_mediastinum() {
    let mut sp = spec(Modality::Cr, Syntax::ExplicitLe);
    sp.rows = 100;
    sp.cols = 100;
    let px = pixels_cr(&sp, 0);
    // MONOCHROME1: more X-rays through (lungs) = higher value = darker.
    let lung = px[48 * 100 + 32];
    let mediastinum = px[48 * 100 + 50];
    assert!(
        lung > mediastinum,
        "lung {lung} vs mediastinum {mediastinum}"
    );
}

#[test]
fn ct_with_jpeg_baseline_is_refused_in_words() {
    let err = generate(&spec(Modality::Ct, Syntax::JpegBaseline)).unwrap_err();
    assert!(err.to_string().contains("--syntax explicit-le"), "{err}");
}

#[test]
fn patient_id_and_name_are_used() {
    let mut s = spec(Modality::Xa, Syntax::ExplicitLe);
    s.patient_name = "ROE^RICHARD".into();
    s.patient_id = Some("PID-7".into());
    let i = &generate(&s).unwrap()[0];
    let get = |t| i.dataset.element(t).unwrap().to_str().unwrap().to_string();
    assert_eq!(get(tags::PATIENT_NAME), "ROE^RICHARD");
    assert_eq!(get(tags::PATIENT_ID), "PID-7");
    assert_eq!(get(tags::INSTITUTION_NAME), INSTITUTION);
}

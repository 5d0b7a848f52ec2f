//! Synthetic studies: deterministic DICOM instances generated from a seed.
//!
//! Everything here is made up. Patient data is derived from the seed (except the name, which
//! the caller gives), UIDs live under the `2.25.` root (UUID-derived UIDs, PS3.5 B.2) and are
//! the decimal value of a SHA-256 hash of the seed and a label, pixels are a disc-and-gradient
//! pattern. The same [`StudySpec`] always gives the same UIDs and the same bytes.

use anyhow::{Context, Result, bail};
use dicom_core::value::PixelFragmentSequence;
use dicom_core::{DataElement, PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use sha2::{Digest, Sha256};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// What the `--save-dir` files and the institution are labelled with.
pub const INSTITUTION: &str = "dicom-range synthetic";

/// The kind of images in the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// X-Ray Angiographic Image Storage (the paper's case), 8-bit.
    Xa,
    /// CT Image Storage, 16-bit (12 bits stored).
    Ct,
}

impl Modality {
    /// The storage SOP class UID of this modality's images.
    pub fn sop_class_uid(self) -> &'static str {
        match self {
            Modality::Xa => uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
            Modality::Ct => uids::CT_IMAGE_STORAGE,
        }
    }

    /// The DICOM Modality (0008,0060) code.
    pub fn code(self) -> &'static str {
        match self {
            Modality::Xa => "XA",
            Modality::Ct => "CT",
        }
    }
}

impl FromStr for Modality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "XA" => Ok(Modality::Xa),
            "CT" => Ok(Modality::Ct),
            other => Err(format!(
                "unknown modality '{other}': this agent can generate XA (X-ray angiography) or CT"
            )),
        }
    }
}

impl fmt::Display for Modality {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// How the data set (and its pixels) are encoded on the wire and in files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syntax {
    /// JPEG Baseline (Process 1), 1.2.840.10008.1.2.4.50: encapsulated 8-bit JPEG.
    JpegBaseline,
    /// Explicit VR Little Endian, 1.2.840.10008.1.2.1: native (uncompressed) pixels.
    ExplicitLe,
}

impl Syntax {
    /// The transfer syntax UID.
    pub fn uid(self) -> &'static str {
        match self {
            Syntax::JpegBaseline => uids::JPEG_BASELINE8_BIT,
            Syntax::ExplicitLe => uids::EXPLICIT_VR_LITTLE_ENDIAN,
        }
    }

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Syntax::JpegBaseline => "jpeg-baseline",
            Syntax::ExplicitLe => "explicit-le",
        }
    }
}

impl FromStr for Syntax {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "jpeg-baseline" => Ok(Syntax::JpegBaseline),
            "explicit-le" => Ok(Syntax::ExplicitLe),
            other => Err(format!(
                "unknown transfer syntax '{other}': use jpeg-baseline or explicit-le"
            )),
        }
    }
}

impl fmt::Display for Syntax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What study to generate.
#[derive(Debug, Clone)]
pub struct StudySpec {
    pub modality: Modality,
    pub syntax: Syntax,
    pub instances: u32,
    /// Patient's Name in DICOM PN form, e.g. `DOE^JANE`.
    pub patient_name: String,
    /// Patient ID; derived from the seed when `None`.
    pub patient_id: Option<String>,
    pub seed: u64,
    pub rows: u16,
    pub cols: u16,
}

impl Default for StudySpec {
    fn default() -> Self {
        StudySpec {
            modality: Modality::Xa,
            syntax: Syntax::JpegBaseline,
            instances: 1,
            patient_name: "DOE^JANE".into(),
            patient_id: None,
            seed: 42,
            rows: 512,
            cols: 512,
        }
    }
}

/// One generated instance, ready to be sent or saved.
#[derive(Debug, Clone)]
pub struct Instance {
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    /// The transfer syntax the data set is meant to be encoded in.
    pub transfer_syntax_uid: &'static str,
    pub dataset: InMemDicomObject,
}

impl Instance {
    /// Encode the data set (no preamble, no file meta group) in its transfer syntax:
    /// exactly the bytes a C-STORE carries.
    pub fn encode_dataset(&self) -> Result<Vec<u8>> {
        let ts = TransferSyntaxRegistry
            .get(self.transfer_syntax_uid)
            .with_context(|| {
                format!(
                    "transfer syntax {} is not known to the DICOM library",
                    self.transfer_syntax_uid
                )
            })?;
        let mut out = Vec::with_capacity(64 * 1024);
        self.dataset
            .write_dataset_with_ts(&mut out, ts)
            .with_context(|| {
                format!(
                    "could not encode instance {} in transfer syntax {}",
                    self.sop_instance_uid, self.transfer_syntax_uid
                )
            })?;
        Ok(out)
    }

    /// Write the instance as a DICOM Part 10 file (preamble, `DICM`, file meta group).
    pub fn write_part10(&self, path: &Path) -> Result<()> {
        let file = self
            .dataset
            .clone()
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(self.transfer_syntax_uid)
                    .media_storage_sop_class_uid(self.sop_class_uid.as_str())
                    .media_storage_sop_instance_uid(self.sop_instance_uid.as_str()),
            )
            .context("could not build the DICOM file meta group")?;
        file.write_to_file(path)
            .with_context(|| format!("could not write DICOM file {}", path.display()))?;
        Ok(())
    }

    /// The file name used by `--save-dir`.
    pub fn file_name(&self) -> String {
        format!("{}.dcm", self.sop_instance_uid)
    }
}

/// Write every instance into `dir` (created if missing); returns the paths.
pub fn save_all(instances: &[Instance], dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the directory {}", dir.display()))?;
    instances
        .iter()
        .map(|i| {
            let p = dir.join(i.file_name());
            i.write_part10(&p).map(|_| p)
        })
        .collect()
}

/// A UID under `2.25.`: the decimal of the first 128 bits of
/// SHA-256(seed, study key, label, index).
///
/// The study key carries what changes the content (modality, syntax, size, patient), so that
/// two different studies made from the same seed never share a SOP Instance UID.
pub fn derive_uid(seed: u64, key: &str, label: &str, index: u32) -> String {
    let mut h = Sha256::new();
    h.update(b"dicom-range/agent/uid/v1\0");
    h.update(seed.to_be_bytes());
    h.update(key.as_bytes());
    h.update([0]);
    h.update(label.as_bytes());
    h.update([0]);
    h.update(index.to_be_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    // Never zero in practice; `max(1)` keeps the UID component free of a lone leading 0 rule.
    let v = u128::from_be_bytes(b).max(1);
    format!("2.25.{v}")
}

/// SplitMix64: a tiny, stable PRNG (its output will never change with a dependency update).
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A study ready to produce its instances one at a time (what `store` streams): everything
/// shared by the instances is computed once, pixels and encoding happen per instance.
#[derive(Debug, Clone)]
pub struct Study {
    spec: StudySpec,
    patient_id: String,
    birth: String,
    sex: &'static str,
    study_date: String,
    study_time: String,
    accession: String,
    key: String,
    study_uid: String,
    series_uid: String,
    frame_uid: String,
    charset: Option<&'static str>,
}

/// Generate the whole study in memory (small studies, tests). See [`Study`] for streaming.
pub fn generate(spec: &StudySpec) -> Result<Vec<Instance>> {
    let study = Study::new(spec)?;
    (0..spec.instances).map(|i| study.instance(i)).collect()
}

impl Study {
    /// Check the spec and compute what the instances share. Errors say which option to change.
    pub fn new(spec: &StudySpec) -> Result<Study> {
        if spec.instances == 0 {
            bail!("--instances must be at least 1");
        }
        if spec.rows < 8 || spec.cols < 8 {
            bail!(
                "image size {}x{} is too small: use at least 8 rows and 8 columns",
                spec.rows,
                spec.cols
            );
        }
        if spec.modality == Modality::Ct && spec.syntax == Syntax::JpegBaseline {
            bail!(
                "CT images are 16-bit but JPEG Baseline carries only 8-bit samples: \
             use --syntax explicit-le with --modality CT"
            );
        }
        if spec.patient_name.trim().is_empty() {
            bail!("--patient must not be empty (DICOM form, e.g. DOE^JANE)");
        }

        let mut rng = spec.seed ^ 0xD1C0_4A5E;
        let r = splitmix(&mut rng);
        let patient_id = spec
            .patient_id
            .clone()
            .unwrap_or_else(|| format!("DR{:06}", r % 1_000_000));
        let birth = format!(
            "{:04}{:02}{:02}",
            1940 + (r >> 20) % 60,
            1 + (r >> 28) % 12,
            1 + (r >> 32) % 28
        );
        let sex = ["F", "M", "O"][((r >> 40) % 3) as usize];
        let r2 = splitmix(&mut rng);
        let study_date = format!("2024{:02}{:02}", 1 + r2 % 12, 1 + (r2 >> 8) % 28);
        let study_time = format!(
            "{:02}{:02}{:02}",
            7 + (r2 >> 16) % 11,
            (r2 >> 24) % 60,
            (r2 >> 32) % 60
        );
        let accession = format!("ACC{:08}", (r2 >> 40) % 100_000_000);
        let key = format!(
            "{}|{}|{}x{}|{}|{}",
            spec.modality, spec.syntax, spec.rows, spec.cols, spec.patient_name, patient_id
        );
        let study_uid = derive_uid(spec.seed, &key, "study", 0);
        let series_uid = derive_uid(spec.seed, &key, "series", 0);
        let frame_uid = derive_uid(spec.seed, &key, "frame-of-reference", 0);
        let charset = if spec.patient_name.is_ascii() && patient_id.is_ascii() {
            None
        } else {
            Some("ISO_IR 192")
        };

        Ok(Study {
            spec: spec.clone(),
            patient_id,
            birth,
            sex,
            study_date,
            study_time,
            accession,
            key,
            study_uid,
            series_uid,
            frame_uid,
            charset,
        })
    }

    /// How many instances the study has.
    pub fn len(&self) -> u32 {
        self.spec.instances
    }

    /// Whether the study has no instance (never: `new` refuses 0).
    pub fn is_empty(&self) -> bool {
        self.spec.instances == 0
    }

    /// The SOP class of every instance.
    pub fn sop_class_uid(&self) -> &'static str {
        self.spec.modality.sop_class_uid()
    }

    /// The transfer syntax every instance is generated in.
    pub fn transfer_syntax_uid(&self) -> &'static str {
        self.spec.syntax.uid()
    }

    /// Generate instance `i` (0-based): pixels, then the data set.
    pub fn instance(&self, i: u32) -> Result<Instance> {
        let spec = &self.spec;
        let (key, patient_id, birth, sex) = (&self.key, &self.patient_id, &self.birth, self.sex);
        let (study_date, study_time, accession) =
            (&self.study_date, &self.study_time, &self.accession);
        let (study_uid, series_uid, frame_uid, charset) = (
            &self.study_uid,
            &self.series_uid,
            &self.frame_uid,
            self.charset,
        );
        let sop_uid = derive_uid(spec.seed, key, "instance", i);
        let mut o = InMemDicomObject::new_empty();
        let mut put = |tag, vr, v: PrimitiveValue| o.put(DataElement::new(tag, vr, v));
        if let Some(cs) = charset {
            put(tags::SPECIFIC_CHARACTER_SET, VR::CS, cs.into());
        }
        let image_type = match spec.modality {
            Modality::Xa => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]),
            Modality::Ct => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "AXIAL"]),
        };
        put(tags::IMAGE_TYPE, VR::CS, image_type);
        put(
            tags::SOP_CLASS_UID,
            VR::UI,
            spec.modality.sop_class_uid().into(),
        );
        put(tags::SOP_INSTANCE_UID, VR::UI, sop_uid.as_str().into());
        put(tags::STUDY_DATE, VR::DA, study_date.as_str().into());
        put(tags::SERIES_DATE, VR::DA, study_date.as_str().into());
        put(tags::CONTENT_DATE, VR::DA, study_date.as_str().into());
        put(tags::STUDY_TIME, VR::TM, study_time.as_str().into());
        put(tags::SERIES_TIME, VR::TM, study_time.as_str().into());
        put(tags::CONTENT_TIME, VR::TM, study_time.as_str().into());
        put(tags::ACCESSION_NUMBER, VR::SH, accession.as_str().into());
        put(tags::MODALITY, VR::CS, spec.modality.code().into());
        put(tags::MANUFACTURER, VR::LO, "dicom-range".into());
        put(tags::INSTITUTION_NAME, VR::LO, INSTITUTION.into());
        put(
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            "SYNTHETIC^REFERRER".into(),
        );
        put(
            tags::STUDY_DESCRIPTION,
            VR::LO,
            format!("Synthetic {} study", spec.modality.code()).into(),
        );
        put(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            format!(
                "Synthetic {} series (seed {})",
                spec.modality.code(),
                spec.seed
            )
            .into(),
        );
        put(
            tags::PATIENT_NAME,
            VR::PN,
            spec.patient_name.as_str().into(),
        );
        put(tags::PATIENT_ID, VR::LO, patient_id.as_str().into());
        put(tags::PATIENT_BIRTH_DATE, VR::DA, birth.as_str().into());
        put(tags::PATIENT_SEX, VR::CS, sex.into());
        put(tags::STUDY_INSTANCE_UID, VR::UI, study_uid.as_str().into());
        put(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            series_uid.as_str().into(),
        );
        put(tags::STUDY_ID, VR::SH, "1".into());
        put(tags::SERIES_NUMBER, VR::IS, "1".into());
        put(tags::INSTANCE_NUMBER, VR::IS, (i + 1).to_string().into());
        put(tags::PATIENT_ORIENTATION, VR::CS, PrimitiveValue::Empty);

        // Image Pixel module.
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        );
        put(tags::ROWS, VR::US, PrimitiveValue::from(spec.rows));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(spec.cols));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(0u16),
        );

        match spec.modality {
            Modality::Xa => {
                put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16));
                put(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16));
                put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16));
                put(tags::PIXEL_INTENSITY_RELATIONSHIP, VR::CS, "LIN".into());
                put(tags::KVP, VR::DS, "80".into());
                put(tags::POSITIONER_PRIMARY_ANGLE, VR::DS, "0".into());
                put(tags::POSITIONER_SECONDARY_ANGLE, VR::DS, "0".into());
                put(tags::RADIATION_SETTING, VR::CS, "GR".into());
            }
            Modality::Ct => {
                put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
                put(tags::BITS_STORED, VR::US, PrimitiveValue::from(12u16));
                put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(11u16));
                put(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into());
                put(tags::RESCALE_SLOPE, VR::DS, "1".into());
                put(tags::RESCALE_TYPE, VR::LO, "HU".into());
                put(tags::KVP, VR::DS, "120".into());
                put(tags::ACQUISITION_NUMBER, VR::IS, "1".into());
                put(
                    tags::FRAME_OF_REFERENCE_UID,
                    VR::UI,
                    frame_uid.as_str().into(),
                );
                put(
                    tags::POSITION_REFERENCE_INDICATOR,
                    VR::LO,
                    PrimitiveValue::Empty,
                );
                put(tags::SLICE_THICKNESS, VR::DS, "1".into());
                put(
                    tags::PIXEL_SPACING,
                    VR::DS,
                    dicom_value!(Strs, ["0.7", "0.7"]),
                );
                put(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    dicom_value!(Strs, ["1", "0", "0", "0", "1", "0"]),
                );
                let z = format!("{}", i as f64);
                put(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    dicom_value!(Strs, ["-179.2", "-179.2", z.as_str()]),
                );
                put(tags::SLICE_LOCATION, VR::DS, z.as_str().into());
                put(tags::WINDOW_CENTER, VR::DS, "40".into());
                put(tags::WINDOW_WIDTH, VR::DS, "400".into());
            }
        }

        match (spec.modality, spec.syntax) {
            (Modality::Xa, Syntax::JpegBaseline) => {
                let pixels = pixels_8bit(spec, i);
                let mut jpeg = encode_jpeg(&pixels, spec.cols, spec.rows)?;
                let jpeg_len = jpeg.len();
                if jpeg.len() % 2 == 1 {
                    jpeg.push(0); // fragments have even length (PS3.5 A.4)
                }
                let ratio = (pixels.len() as f64) / (jpeg_len as f64);
                put(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "01".into());
                put(
                    tags::LOSSY_IMAGE_COMPRESSION_RATIO,
                    VR::DS,
                    format!("{ratio:.2}").into(),
                );
                put(
                    tags::LOSSY_IMAGE_COMPRESSION_METHOD,
                    VR::CS,
                    "ISO_10918_1".into(),
                );
                o.put(DataElement::new(
                    tags::PIXEL_DATA,
                    VR::OB,
                    PixelFragmentSequence::new_fragments(vec![jpeg]),
                ));
            }
            (Modality::Xa, Syntax::ExplicitLe) => {
                let mut pixels = pixels_8bit(spec, i);
                if pixels.len() % 2 == 1 {
                    pixels.push(0);
                }
                put(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(pixels.into()));
            }
            (Modality::Ct, Syntax::ExplicitLe) => {
                // Kept as little-endian bytes: encoding is then a copy, not 262144 calls.
                // Only little-endian transfer syntaxes are ever proposed for these.
                let pixels = pixels_ct(spec, i);
                let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
                put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(bytes.into()));
            }
            (Modality::Ct, Syntax::JpegBaseline) => unreachable!("rejected above"),
        }

        Ok(Instance {
            sop_class_uid: spec.modality.sop_class_uid().to_string(),
            sop_instance_uid: sop_uid,
            transfer_syntax_uid: spec.syntax.uid(),
            dataset: o,
        })
    }
}

/// A gradient background with a bright disc (a "contrast-filled vessel" cross-section) whose
/// position moves with the instance, plus faint deterministic noise.
fn pixels_8bit(spec: &StudySpec, index: u32) -> Vec<u8> {
    let (w, h) = (spec.cols as usize, spec.rows as usize);
    let mut rng = spec.seed.wrapping_mul(31).wrapping_add(index as u64);
    let cx = w as f64 * (0.3 + 0.4 * ((index % 8) as f64 / 8.0));
    let cy = h as f64 * 0.5;
    let radius = (w.min(h) as f64) * 0.2;
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let grad = 40.0 + 100.0 * (x + y) as f64 / (w + h) as f64;
            let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
            let disc = if d < radius {
                100.0 * (1.0 - d / radius)
            } else {
                0.0
            };
            let noise = (splitmix(&mut rng) % 8) as f64;
            px.push((grad + disc + noise).clamp(0.0, 255.0) as u8);
        }
    }
    px
}

/// A CT-like slice: air outside, a water-like body disc, a bone ring; stored = HU + 1024.
fn pixels_ct(spec: &StudySpec, index: u32) -> Vec<u16> {
    let (w, h) = (spec.cols as usize, spec.rows as usize);
    let mut rng = spec.seed.wrapping_mul(37).wrapping_add(index as u64);
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let body = (w.min(h) as f64) * (0.40 + 0.02 * ((index % 5) as f64));
    let (body2, bone2) = (body * body, (body * 0.92) * (body * 0.92));
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let d2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
            let hu: i32 = if d2 > body2 {
                -1000
            } else if d2 > bone2 {
                700
            } else {
                40 + (splitmix(&mut rng) % 20) as i32 - 10
            };
            px.push((hu + 1024).clamp(0, 4095) as u16);
        }
    }
    px
}

fn encode_jpeg(pixels: &[u8], width: u16, height: u16) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut buf, 90);
    enc.encode(pixels, width, height, jpeg_encoder::ColorType::Luma)
        .context("JPEG encoding of the synthetic image failed")?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
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
}

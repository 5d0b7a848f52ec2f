//! Synthetic studies: deterministic DICOM instances generated from a seed.
//!
//! Everything here is made up. Patient data is derived from the seed (except the name, which
//! the caller gives), UIDs live under the `2.25.` root (UUID-derived UIDs, PS3.5 B.2) and are
//! the decimal value of a SHA-256 hash of the seed and a label, pixels are simple phantoms
//! (an angiogram disc, a CT body, an MR head, a CR chest, a US sector). The same [`StudySpec`] always gives the same UIDs and the same bytes.

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

/// What the `--save-dir` files and the institution are labelled with.
pub const INSTITUTION: &str = "dicom-range synthetic";

/// The kind of images in the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// X-Ray Angiographic Image Storage (the paper's case), 8-bit.
    Xa,
    /// CT Image Storage, 16-bit (12 bits stored).
    Ct,
    /// MR Image Storage, 16-bit (12 bits stored), a spin-echo head slice.
    Mr,
    /// Computed Radiography Image Storage, 16-bit (12 bits stored), MONOCHROME1 (as CR
    /// readers write it: low values are white), a PA chest.
    Cr,
    /// Ultrasound Image Storage, 8-bit colour: RGB native, or YBR_FULL_422 in JPEG Baseline
    /// (what real scanners send: a grey B-mode sector with coloured overlay graphics).
    Us,
}

impl Modality {
    /// The storage SOP class UID of this modality's images.
    pub fn sop_class_uid(self) -> &'static str {
        match self {
            Modality::Xa => uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
            Modality::Ct => uids::CT_IMAGE_STORAGE,
            Modality::Mr => uids::MR_IMAGE_STORAGE,
            Modality::Cr => uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
            Modality::Us => uids::ULTRASOUND_IMAGE_STORAGE,
        }
    }

    /// The DICOM Modality (0008,0060) code.
    pub fn code(self) -> &'static str {
        match self {
            Modality::Xa => "XA",
            Modality::Ct => "CT",
            Modality::Mr => "MR",
            Modality::Cr => "CR",
            Modality::Us => "US",
        }
    }

    /// Whether the pixels are 16-bit (12 stored), which JPEG Baseline (8-bit) cannot carry.
    pub fn is_16_bit(self) -> bool {
        matches!(self, Modality::Ct | Modality::Mr | Modality::Cr)
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
    /// Bits Stored of the 16-bit modalities (CT, MR, CR): 8 to 16; `None` is 12. The 8-bit
    /// ones (XA, US) only take 8.
    pub bits_stored: Option<u16>,
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
            bits_stored: None,
        }
    }
}

impl StudySpec {
    /// The Bits Stored the instances get.
    pub fn bits(&self) -> u16 {
        match self.bits_stored {
            Some(b) => b,
            None if self.modality.is_16_bit() => 12,
            None => 8,
        }
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
        if spec.modality.is_16_bit() && spec.syntax == Syntax::JpegBaseline {
            bail!(
                "{} images are 16-bit but JPEG Baseline carries only 8-bit samples: \
             use --syntax explicit-le with --modality {}",
                spec.modality,
                spec.modality
            );
        }
        let bits = spec.bits();
        if spec.modality.is_16_bit() && !(8..=16).contains(&bits) {
            bail!("--bits {bits}: {} images store 8 to 16 bits", spec.modality);
        }
        if !spec.modality.is_16_bit() && bits != 8 {
            bail!(
                "--bits {bits}: {} images are 8-bit here; --bits applies to CT, MR and CR",
                spec.modality
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
        let mut key = format!(
            "{}|{}|{}x{}|{}|{}",
            spec.modality, spec.syntax, spec.rows, spec.cols, spec.patient_name, patient_id
        );
        if spec.bits_stored.is_some_and(|b| b != 12) {
            // Keeps the UIDs of the default (12 bits) as they always were.
            key.push_str(&format!("|bits{}", spec.bits()));
        }
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
            Modality::Mr => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "M"]),
            Modality::Cr => dicom_value!(Strs, ["ORIGINAL", "PRIMARY"]),
            Modality::Us => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "ABDOMINAL"]),
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
        if spec.modality == Modality::Cr {
            // A PA chest seen as if facing the patient: rows towards the patient's left,
            // columns towards the feet.
            put(
                tags::PATIENT_ORIENTATION,
                VR::CS,
                dicom_value!(Strs, ["L", "F"]),
            );
        } else {
            put(tags::PATIENT_ORIENTATION, VR::CS, PrimitiveValue::Empty);
        }

        // Image Pixel module.
        let (samples, photometric) = match (spec.modality, spec.syntax) {
            (Modality::Us, Syntax::JpegBaseline) => (3u16, "YBR_FULL_422"),
            (Modality::Us, Syntax::ExplicitLe) => (3u16, "RGB"),
            (Modality::Cr, _) => (1u16, "MONOCHROME1"),
            _ => (1u16, "MONOCHROME2"),
        };
        put(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            PrimitiveValue::from(samples),
        );
        put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, photometric.into());
        if samples == 3 {
            put(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                PrimitiveValue::from(0u16),
            );
        }
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
                put(tags::BODY_PART_EXAMINED, VR::CS, "HEART".into());
                put(tags::X_RAY_TUBE_CURRENT, VR::IS, "400".into());
                put(tags::EXPOSURE_TIME, VR::IS, "5".into());
                put(tags::EXPOSURE, VR::IS, "2".into());
            }
            Modality::Ct => {
                let bits = spec.bits();
                put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
                put(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits));
                put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits - 1));
                put(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into());
                // Stored values are HU+1024 on 12 bits, scaled to `bits`.
                put(tags::RESCALE_SLOPE, VR::DS, ds12(1.0, 24 - bits).into());
                put(tags::RESCALE_TYPE, VR::LO, "HU".into());
                put(tags::BODY_PART_EXAMINED, VR::CS, "CHEST".into());
                put(tags::PATIENT_POSITION, VR::CS, "HFS".into());
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
            Modality::Mr => {
                let bits = spec.bits();
                put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
                put(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits));
                put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits - 1));
                put(tags::BODY_PART_EXAMINED, VR::CS, "HEAD".into());
                put(tags::PATIENT_POSITION, VR::CS, "HFS".into());
                put(tags::SCANNING_SEQUENCE, VR::CS, "SE".into());
                put(tags::SEQUENCE_VARIANT, VR::CS, "NONE".into());
                put(tags::SCAN_OPTIONS, VR::CS, PrimitiveValue::Empty);
                put(tags::MR_ACQUISITION_TYPE, VR::CS, "2D".into());
                put(tags::REPETITION_TIME, VR::DS, "500".into());
                put(tags::ECHO_TIME, VR::DS, "15".into());
                put(tags::ECHO_TRAIN_LENGTH, VR::IS, "1".into());
                put(tags::MAGNETIC_FIELD_STRENGTH, VR::DS, "1.5".into());
                put(tags::IMAGED_NUCLEUS, VR::SH, "1H".into());
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
                put(tags::SLICE_THICKNESS, VR::DS, "5".into());
                put(tags::SPACING_BETWEEN_SLICES, VR::DS, "6".into());
                put(
                    tags::PIXEL_SPACING,
                    VR::DS,
                    dicom_value!(Strs, ["0.9", "0.9"]),
                );
                put(
                    tags::IMAGE_ORIENTATION_PATIENT,
                    VR::DS,
                    dicom_value!(Strs, ["1", "0", "0", "0", "1", "0"]),
                );
                let z = format!("{}", 6.0 * i as f64);
                put(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    dicom_value!(Strs, ["-115.2", "-115.2", z.as_str()]),
                );
                put(tags::SLICE_LOCATION, VR::DS, z.as_str().into());
                put(tags::WINDOW_CENTER, VR::DS, ds12(600.0, bits).into());
                put(tags::WINDOW_WIDTH, VR::DS, ds12(1200.0, bits).into());
            }
            Modality::Cr => {
                let bits = spec.bits();
                put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
                put(tags::BITS_STORED, VR::US, PrimitiveValue::from(bits));
                put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(bits - 1));
                put(tags::BODY_PART_EXAMINED, VR::CS, "CHEST".into());
                put(tags::VIEW_POSITION, VR::CS, "PA".into());
                put(tags::KVP, VR::DS, "120".into());
                put(
                    tags::IMAGER_PIXEL_SPACING,
                    VR::DS,
                    dicom_value!(Strs, ["0.2", "0.2"]),
                );
                put(tags::WINDOW_CENTER, VR::DS, ds12(2048.0, bits).into());
                put(tags::WINDOW_WIDTH, VR::DS, ds12(4096.0, bits).into());
            }
            Modality::Us => {
                put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(8u16));
                put(tags::BITS_STORED, VR::US, PrimitiveValue::from(8u16));
                put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(7u16));
                put(tags::BODY_PART_EXAMINED, VR::CS, "ABDOMEN".into());
                if spec.syntax == Syntax::ExplicitLe {
                    put(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00".into());
                }
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
                let bits = spec.bits();
                let pixels = pixels_ct(spec, i);
                let bytes: Vec<u8> = pixels
                    .iter()
                    .flat_map(|v| scale12(*v, bits).to_le_bytes())
                    .collect();
                put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(bytes.into()));
            }
            (Modality::Mr | Modality::Cr, Syntax::ExplicitLe) => {
                let bits = spec.bits();
                let pixels = if spec.modality == Modality::Mr {
                    pixels_mr(spec, i)
                } else {
                    pixels_cr(spec, i)
                };
                let bytes: Vec<u8> = pixels
                    .iter()
                    .flat_map(|v| scale12(*v, bits).to_le_bytes())
                    .collect();
                put(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U8(bytes.into()));
            }
            (Modality::Us, Syntax::ExplicitLe) => {
                let mut pixels = pixels_us(spec, i);
                if pixels.len() % 2 == 1 {
                    pixels.push(0);
                }
                put(tags::PIXEL_DATA, VR::OB, PrimitiveValue::U8(pixels.into()));
            }
            (Modality::Us, Syntax::JpegBaseline) => {
                let pixels = pixels_us(spec, i);
                let mut jpeg = encode_jpeg_rgb(&pixels, spec.cols, spec.rows)?;
                let jpeg_len = jpeg.len();
                if jpeg.len() % 2 == 1 {
                    jpeg.push(0);
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
            (Modality::Ct | Modality::Mr | Modality::Cr, Syntax::JpegBaseline) => {
                unreachable!("rejected above")
            }
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

/// An axial head-like MR slice: an elliptic skull ring, brain with grey/white contrast and
/// ventricles, Rician-like noise; values within 12 bits.
fn pixels_mr(spec: &StudySpec, index: u32) -> Vec<u16> {
    let (w, h) = (spec.cols as usize, spec.rows as usize);
    let mut rng = spec.seed.wrapping_mul(41).wrapping_add(index as u64);
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let scale = 1.0 - 0.03 * ((index % 7) as f64);
    let (ax, ay) = (w as f64 * 0.36 * scale, h as f64 * 0.44 * scale);
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = ((x as f64 - cx) / ax, (y as f64 - cy) / ay);
            let r = (dx * dx + dy * dy).sqrt();
            let base: f64 = if r > 1.0 {
                0.0
            } else if r > 0.92 {
                300.0 // skull and scalp
            } else if (dx.abs() < 0.12) && (dy.abs() < 0.3) && r < 0.4 {
                1400.0 // ventricles (bright CSF)
            } else if r > 0.75 {
                900.0 // grey matter
            } else {
                700.0 // white matter
            };
            let noise = (splitmix(&mut rng) % 40) as f64;
            px.push((base + noise).clamp(0.0, 4095.0) as u16);
        }
    }
    px
}

/// A PA chest radiograph in MONOCHROME1 (high values are dark): dark lungs, bright
/// mediastinum and ribs, a gradient across the body.
fn pixels_cr(spec: &StudySpec, index: u32) -> Vec<u16> {
    let (w, h) = (spec.cols as usize, spec.rows as usize);
    let mut rng = spec.seed.wrapping_mul(43).wrapping_add(index as u64);
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f64 / w as f64, y as f64 / h as f64);
            // Attenuation: 0 (air, dark on film = high value in MONOCHROME1) to 1 (bone).
            let lung = |cx: f64| ((u - cx) / 0.16).powi(2) + ((v - 0.48) / 0.32).powi(2) < 1.0;
            let mut att: f64 = if !(0.1..=0.9).contains(&u) {
                0.0
            } else if lung(0.32) || lung(0.68) {
                0.25
            } else {
                0.7
            };
            // Ribs: bands across the lungs.
            if att == 0.25 && ((v * 14.0).fract() < 0.18) {
                att = 0.55;
            }
            let noise = (splitmix(&mut rng) % 30) as f64;
            let value = 3800.0 - att * 3000.0 + noise;
            px.push(value.clamp(0.0, 4095.0) as u16);
        }
    }
    px
}

/// An abdominal B-mode frame: a grey speckled sector on black, with a yellow depth scale
/// and a cyan focus marker (why real US images are RGB). Interleaved RGB (planar 0).
fn pixels_us(spec: &StudySpec, index: u32) -> Vec<u8> {
    let (w, h) = (spec.cols as usize, spec.rows as usize);
    let mut rng = spec.seed.wrapping_mul(47).wrapping_add(index as u64);
    let apex = (w as f64 / 2.0, h as f64 * 0.05);
    let depth = h as f64 * 0.9;
    let half_angle = 0.6f64; // radians
    let organ = (
        w as f64 * (0.45 + 0.02 * (index % 5) as f64),
        h as f64 * 0.55,
        w.min(h) as f64 * 0.15,
    );
    let mut px = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 - apex.0, y as f64 - apex.1);
            let r = (dx * dx + dy * dy).sqrt();
            let angle = dx.atan2(dy);
            let speckle = (splitmix(&mut rng) % 90) as f64;
            let rgb = if x < 6 && y % (h / 10).max(2) == 0 {
                [230, 200, 40] // depth scale ticks
            } else if dy > 0.0 && r < depth && angle.abs() < half_angle {
                let d_org = ((x as f64 - organ.0).powi(2) + (y as f64 - organ.1).powi(2)).sqrt();
                let g = if d_org < organ.2 {
                    20.0 + speckle * 0.3 // fluid-filled: dark
                } else {
                    60.0 + speckle * (1.0 - r / depth * 0.5)
                };
                let g = g.clamp(0.0, 255.0) as u8;
                [g, g, g]
            } else if (x as f64 - w as f64 * 0.92).abs() < 3.0
                && (y as f64 - h as f64 * 0.5).abs() < 3.0
            {
                [40, 220, 230] // focus marker
            } else {
                [0, 0, 0]
            };
            px.extend_from_slice(&rgb);
        }
    }
    px
}

/// Colour JPEG Baseline with 4:2:2 chroma subsampling, which is what YBR_FULL_422 says.
fn encode_jpeg_rgb(pixels: &[u8], width: u16, height: u16) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut enc = jpeg_encoder::Encoder::new(&mut buf, 90);
    enc.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_1);
    enc.encode(pixels, width, height, jpeg_encoder::ColorType::Rgb)
        .context("JPEG encoding of the synthetic colour image failed")?;
    Ok(buf)
}

/// JPEG Baseline of 8-bit samples, 1 (grey) or 3 (RGB, stored as YCbCr 4:2:2) per pixel,
/// as the synthetic studies encode them: what the proxy uses to encode an altered frame.
pub(crate) fn encode_jpeg_samples(
    pixels: &[u8],
    width: u16,
    height: u16,
    samples: usize,
) -> Result<Vec<u8>> {
    if samples == 3 {
        encode_jpeg_rgb(pixels, width, height)
    } else {
        encode_jpeg(pixels, width, height)
    }
}

fn encode_jpeg(pixels: &[u8], width: u16, height: u16) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let enc = jpeg_encoder::Encoder::new(&mut buf, 90);
    enc.encode(pixels, width, height, jpeg_encoder::ColorType::Luma)
        .context("JPEG encoding of the synthetic image failed")?;
    Ok(buf)
}

/// The command line's modality and syntax name these.
impl From<protocol::Modality> for Modality {
    fn from(m: protocol::Modality) -> Self {
        match m {
            protocol::Modality::Xa => Modality::Xa,
            protocol::Modality::Ct => Modality::Ct,
            protocol::Modality::Mr => Modality::Mr,
            protocol::Modality::Cr => Modality::Cr,
            protocol::Modality::Us => Modality::Us,
        }
    }
}

impl From<protocol::Syntax> for Syntax {
    fn from(s: protocol::Syntax) -> Self {
        match s {
            protocol::Syntax::JpegBaseline => Syntax::JpegBaseline,
            protocol::Syntax::ExplicitLe => Syntax::ExplicitLe,
        }
    }
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
}

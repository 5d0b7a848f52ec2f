//! Synthetic studies: deterministic DICOM instances generated from a seed.
//!
//! Everything here is made up. Patient data is derived from the seed (except the name, which
//! the caller gives), UIDs live under the `2.25.` root (UUID-derived UIDs, PS3.5 B.2) and are
//! the decimal value of a SHA-256 hash of the seed and a label, pixels are simple phantoms
//! (an angiogram disc, a CT body, an MR head, a CR chest, a US sector). The same [`StudySpec`]
//! always gives the same UIDs and the same bytes.
//!
//! This module owns the public types (modality, syntax, spec, instance) and the UID and
//! random-number derivations; [`Study`] (in `study`) checks a spec and builds each data set,
//! `attributes` holds the modality-specific modules, `phantoms` draws the pixels and `jpeg`
//! encodes them.

mod attributes;
mod jpeg;
mod phantoms;
mod study;
#[cfg(test)]
mod tests;

pub(crate) use jpeg::encode_jpeg_samples;
pub use study::Study;

use anyhow::{Context, Result};
use dicom_dictionary_std::uids;
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

/// Generate the whole study in memory (small studies, tests). See [`Study`] for streaming.
pub fn generate(spec: &StudySpec) -> Result<Vec<Instance>> {
    let study = Study::new(spec)?;
    (0..spec.instances).map(|i| study.instance(i)).collect()
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

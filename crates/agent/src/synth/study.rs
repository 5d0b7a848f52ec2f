//! [`Study`]: checks a [`StudySpec`], derives what its instances share (patient, dates, UIDs)
//! once, then builds each instance's data set from the general modules here and the
//! modality-specific ones in `attributes`.

use super::attributes::{self, put, put_strs};
use super::{Instance, Modality, StudySpec, Syntax, derive_uid, splitmix};
use anyhow::{Result, bail};
use dicom_core::{PrimitiveValue, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

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

    /// Generate instance `i` (0-based): the data set, pixels included.
    pub fn instance(&self, i: u32) -> Result<Instance> {
        let spec = &self.spec;
        let sop_uid = derive_uid(spec.seed, &self.key, "instance", i);
        let mut o = InMemDicomObject::new_empty();
        self.put_general(&mut o, &sop_uid, i);
        attributes::put_image_pixel(&mut o, spec);
        attributes::put_acquisition(&mut o, spec, &self.frame_uid, i);
        attributes::put_pixel_data(&mut o, spec, i)?;
        Ok(Instance {
            sop_class_uid: spec.modality.sop_class_uid().to_string(),
            sop_instance_uid: sop_uid,
            transfer_syntax_uid: spec.syntax.uid(),
            dataset: o,
        })
    }

    /// Patient, study, series, equipment and SOP common attributes of instance `i`.
    fn put_general(&self, o: &mut InMemDicomObject, sop_uid: &str, i: u32) {
        let spec = &self.spec;
        if let Some(cs) = self.charset {
            put(o, tags::SPECIFIC_CHARACTER_SET, VR::CS, cs);
        }
        let image_type = match spec.modality {
            Modality::Xa => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "SINGLE PLANE"]),
            Modality::Ct => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "AXIAL"]),
            Modality::Mr => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "M"]),
            Modality::Cr => dicom_value!(Strs, ["ORIGINAL", "PRIMARY"]),
            Modality::Us => dicom_value!(Strs, ["ORIGINAL", "PRIMARY", "ABDOMINAL"]),
        };
        put(o, tags::IMAGE_TYPE, VR::CS, image_type);
        let code = spec.modality.code();
        let study_description = format!("Synthetic {code} study");
        let series_description = format!("Synthetic {code} series (seed {})", spec.seed);
        let number = (i + 1).to_string();
        let (date, time) = (self.study_date.as_str(), self.study_time.as_str());
        put_strs(
            o,
            &[
                (tags::SOP_CLASS_UID, VR::UI, spec.modality.sop_class_uid()),
                (tags::SOP_INSTANCE_UID, VR::UI, sop_uid),
                (tags::STUDY_DATE, VR::DA, date),
                (tags::SERIES_DATE, VR::DA, date),
                (tags::CONTENT_DATE, VR::DA, date),
                (tags::STUDY_TIME, VR::TM, time),
                (tags::SERIES_TIME, VR::TM, time),
                (tags::CONTENT_TIME, VR::TM, time),
                (tags::ACCESSION_NUMBER, VR::SH, &self.accession),
                (tags::MODALITY, VR::CS, code),
                (tags::MANUFACTURER, VR::LO, "dicom-range"),
                (tags::INSTITUTION_NAME, VR::LO, super::INSTITUTION),
                (tags::REFERRING_PHYSICIAN_NAME, VR::PN, "SYNTHETIC^REFERRER"),
                (tags::STUDY_DESCRIPTION, VR::LO, &study_description),
                (tags::SERIES_DESCRIPTION, VR::LO, &series_description),
                (tags::PATIENT_NAME, VR::PN, &spec.patient_name),
                (tags::PATIENT_ID, VR::LO, &self.patient_id),
                (tags::PATIENT_BIRTH_DATE, VR::DA, &self.birth),
                (tags::PATIENT_SEX, VR::CS, self.sex),
                (tags::STUDY_INSTANCE_UID, VR::UI, &self.study_uid),
                (tags::SERIES_INSTANCE_UID, VR::UI, &self.series_uid),
                (tags::STUDY_ID, VR::SH, "1"),
                (tags::SERIES_NUMBER, VR::IS, "1"),
                (tags::INSTANCE_NUMBER, VR::IS, &number),
            ],
        );
        if spec.modality == Modality::Cr {
            // A PA chest seen as if facing the patient: rows towards the patient's left,
            // columns towards the feet.
            put(
                o,
                tags::PATIENT_ORIENTATION,
                VR::CS,
                dicom_value!(Strs, ["L", "F"]),
            );
        } else {
            put(o, tags::PATIENT_ORIENTATION, VR::CS, PrimitiveValue::Empty);
        }
    }
}

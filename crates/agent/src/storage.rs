//! Where received instances go: the storage SOP classes accepted, UIDs safe as file
//! names, and Part 10 files written atomically. Shared by `serve` and C-GET.

use dicom_dictionary_std::uids;
use dicom_object::meta::FileMetaTableBuilder;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The storage SOP classes `serve` accepts (plus Verification).
pub const STORAGE_CLASSES: &[&str] = &[
    uids::CT_IMAGE_STORAGE,
    uids::ENHANCED_CT_IMAGE_STORAGE,
    uids::MR_IMAGE_STORAGE,
    uids::ENHANCED_MR_IMAGE_STORAGE,
    uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
    uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::DIGITAL_MAMMOGRAPHY_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
    uids::ULTRASOUND_IMAGE_STORAGE,
    uids::ULTRASOUND_MULTI_FRAME_IMAGE_STORAGE,
    uids::X_RAY_ANGIOGRAPHIC_IMAGE_STORAGE,
    uids::ENHANCED_XA_IMAGE_STORAGE,
    uids::X_RAY_RADIOFLUOROSCOPIC_IMAGE_STORAGE,
    uids::NUCLEAR_MEDICINE_IMAGE_STORAGE,
    uids::POSITRON_EMISSION_TOMOGRAPHY_IMAGE_STORAGE,
    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_GRAYSCALE_WORD_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::MULTI_FRAME_TRUE_COLOR_SECONDARY_CAPTURE_IMAGE_STORAGE,
    uids::RT_IMAGE_STORAGE,
    uids::ENCAPSULATED_PDF_STORAGE,
    uids::BASIC_TEXT_SR_STORAGE,
    uids::ENHANCED_SR_STORAGE,
    uids::COMPREHENSIVE_SR_STORAGE,
];

/// Whether a string is a valid UID to name a file with (PS3.5 9.1: digits and dots, at most
/// 64 characters, no empty component).
pub fn safe_uid(uid: &str) -> bool {
    !uid.is_empty()
        && uid.len() <= 64
        && uid.chars().all(|c| c.is_ascii_digit() || c == '.')
        && uid.split('.').all(|c| !c.is_empty())
}

/// Write a received data set as a Part 10 file: preamble, `DICM`, meta group, then the data
/// set bytes unchanged. Written to a temporary name and renamed, so readers never see half.
pub fn write_part10(
    dir: &Path,
    sop_class: &str,
    sop_instance: &str,
    ts: &str,
    data: &[u8],
) -> Result<PathBuf, String> {
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(ts)
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .build()
        .map_err(|e| format!("cannot build the file meta group: {e}"))?;
    let path = dir.join(format!("{sop_instance}.dcm"));
    let tmp = dir.join(format!(".{sop_instance}.part"));
    let mut f = std::io::BufWriter::new(
        std::fs::File::create(&tmp).map_err(|e| format!("cannot create {}: {e}", tmp.display()))?,
    );
    let io = |e: std::io::Error| format!("cannot write {}: {e}", tmp.display());
    f.write_all(&[0u8; 128]).map_err(io)?;
    f.write_all(b"DICM").map_err(io)?;
    meta.write(&mut f)
        .map_err(|e| format!("cannot write the file meta group: {e}"))?;
    f.write_all(data).map_err(io)?;
    f.into_inner()
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?
        .sync_data()
        .map_err(io)?;
    std::fs::rename(&tmp, &path)
        .map_err(|e| format!("cannot rename into {}: {e}", path.display()))?;
    Ok(path)
}

//! Previews of the images a PACS held at the end of a run (`pacs/<node>/instances/*.dcm`,
//! kept by the engine), for the HTML page: a student sees what was archived (a lesion the
//! on-path proxy painted in, say) without a DICOM viewer.
//!
//! The first frame is rendered to 8-bit grey or RGB: native 8 and 16-bit pixel data windowed
//! from its own minimum to maximum (MONOCHROME1 inverted), JPEG Baseline decoded. Other
//! encodings get a caption that says why there is no picture. Each preview is at most
//! [`MAX_SIDE`] pixels on its longer side and PNG-encoded; at most [`MAX_IMAGES`] per run.
//!
//! Decoded here with jpeg-decoder rather than dicom-pixeldata: with its default features
//! that crate adds 58 crates to the build (the `image` crate's AVIF encoder and OpenEXR
//! among them) for codecs a preview does not show, and windowing, downscaling, the size
//! bounds and the PNG would stay ours anyway.

use std::path::Path;

use dicom_core::value::Value;
use dicom_dictionary_std::{tags, uids};
use dicom_object::{DefaultDicomObject, InMemDicomObject};

/// Longest side of a preview, in pixels.
pub const MAX_SIDE: usize = 256;
/// How many stored images a page shows.
pub const MAX_IMAGES: usize = 4;

/// One stored file, and its preview when one could be made.
#[derive(Debug, Clone)]
pub struct StoredImage {
    /// Relative to the run directory, e.g. `pacs/pacs/instances/<id>.dcm`.
    pub file: String,
    pub patient_name: String,
    /// PNG bytes, or why there is none.
    pub png: Result<Vec<u8>, String>,
}

/// The previews of a run directory's kept files, PACS by PACS, file by file (sorted).
pub fn stored_images(run_dir: &Path) -> Vec<StoredImage> {
    let mut files = Vec::new();
    let pacs = run_dir.join(rundir::PACS_DIR);
    let Ok(nodes) = std::fs::read_dir(&pacs) else {
        return Vec::new();
    };
    let mut nodes: Vec<_> = nodes.flatten().map(|e| e.path()).collect();
    nodes.sort();
    for node in nodes {
        let Ok(entries) = std::fs::read_dir(node.join(rundir::PACS_INSTANCES_DIR)) else {
            continue;
        };
        let mut these: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "dcm"))
            .collect();
        these.sort();
        files.extend(these);
    }
    files
        .into_iter()
        .take(MAX_IMAGES)
        .map(|path| {
            let file = path
                .strip_prefix(run_dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            match dicom_object::open_file(&path) {
                Ok(obj) => StoredImage {
                    file,
                    patient_name: text(&obj, tags::PATIENT_NAME),
                    png: preview(&obj),
                },
                Err(e) => StoredImage {
                    file,
                    patient_name: String::new(),
                    png: Err(format!("not readable as DICOM: {e}")),
                },
            }
        })
        .collect()
}

fn text(obj: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn number(obj: &InMemDicomObject, tag: dicom_core::Tag) -> Option<usize> {
    obj.element(tag).ok()?.to_int::<u16>().ok().map(usize::from)
}

/// An 8-bit image: `samples` 1 (grey) or 3 (RGB) per pixel.
struct Raster {
    width: usize,
    height: usize,
    samples: usize,
    data: Vec<u8>,
}

fn preview(obj: &DefaultDicomObject) -> Result<Vec<u8>, String> {
    let raster = first_frame(obj)?;
    png(&shrink(raster))
}

fn first_frame(obj: &DefaultDicomObject) -> Result<Raster, String> {
    let rows = number(obj, tags::ROWS).ok_or("no Rows: not an image")?;
    let cols = number(obj, tags::COLUMNS).ok_or("no Columns: not an image")?;
    let samples = number(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1);
    let bits = number(obj, tags::BITS_ALLOCATED).unwrap_or(8);
    let monochrome1 = text(obj, tags::PHOTOMETRIC_INTERPRETATION) == "MONOCHROME1";
    let pixel = obj
        .element(tags::PIXEL_DATA)
        .map_err(|_| "no Pixel Data".to_string())?;
    match pixel.value() {
        Value::Primitive(p) => {
            let bytes = p.to_bytes();
            let n = rows * cols * samples;
            let values: Vec<u32> = match bits {
                8 => bytes.iter().take(n).map(|&b| u32::from(b)).collect(),
                16 => bytes
                    .chunks_exact(2)
                    .take(n)
                    .map(|c| u32::from(u16::from_le_bytes([c[0], c[1]])))
                    .collect(),
                b => return Err(format!("{b}-bit pixels are not previewed")),
            };
            if values.len() < n {
                return Err("Pixel Data is shorter than one frame".into());
            }
            let (lo, hi) = values
                .iter()
                .fold((u32::MAX, 0), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            let span = (hi.saturating_sub(lo)).max(1);
            let data = values
                .iter()
                .map(|&v| {
                    let g = ((v - lo) * 255 / span) as u8;
                    if monochrome1 { 255 - g } else { g }
                })
                .collect();
            Ok(Raster {
                width: cols,
                height: rows,
                samples,
                data,
            })
        }
        Value::PixelSequence(seq) => {
            let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
            if ts != uids::JPEG_BASELINE8_BIT {
                return Err(format!("encapsulated pixel data in {ts} is not previewed"));
            }
            let fragment = seq.fragments().first().ok_or("no fragment")?;
            let mut decoder = jpeg_decoder::Decoder::new(fragment.as_slice());
            // A stored file's header may claim any size; a preview needs no more than this.
            decoder.set_max_decoding_buffer_size(4096 * 4096 * 3);
            let data = decoder
                .decode()
                .map_err(|e| format!("the JPEG frame does not decode: {e}"))?;
            let info = decoder.info().ok_or("the JPEG frame has no header")?;
            let samples = match info.pixel_format {
                jpeg_decoder::PixelFormat::L8 => 1,
                jpeg_decoder::PixelFormat::RGB24 => 3,
                other => return Err(format!("JPEG pixel format {other:?} is not previewed")),
            };
            Ok(Raster {
                width: usize::from(info.width),
                height: usize::from(info.height),
                samples,
                data,
            })
        }
        Value::Sequence(_) => Err("Pixel Data is a sequence".into()),
    }
}

/// Nearest-neighbour reduction to at most MAX_SIDE on the longer side.
fn shrink(r: Raster) -> Raster {
    let step = r.width.max(r.height).div_ceil(MAX_SIDE).max(1);
    if step == 1 {
        return r;
    }
    let (width, height) = (r.width / step, r.height / step);
    let mut data = Vec::with_capacity(width * height * r.samples);
    for y in 0..height {
        for x in 0..width {
            let at = ((y * step) * r.width + x * step) * r.samples;
            data.extend_from_slice(&r.data[at..at + r.samples]);
        }
    }
    Raster {
        width,
        height,
        samples: r.samples,
        data,
    }
}

fn png(r: &Raster) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, r.width as u32, r.height as u32);
    enc.set_color(if r.samples == 3 {
        png::ColorType::Rgb
    } else {
        png::ColorType::Grayscale
    });
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header().map_err(|e| e.to_string())?;
    w.write_image_data(&r.data).map_err(|e| e.to_string())?;
    w.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::meta::FileMetaTableBuilder;

    /// A 16-bit native image, `cols` x `rows`, value = column index * 100.
    fn write_image(dir: &Path, name: &str, photometric: &str, bits: u16) {
        let (rows, cols) = (4u16, 8u16);
        let values: Vec<u16> = (0..rows).flat_map(|_| (0..cols).map(|c| c * 100)).collect();
        let obj = InMemDicomObject::from_element_iter([
            DataElement::new(
                tags::SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.2"),
            ),
            DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from("2.25.1"),
            ),
            DataElement::new(tags::PATIENT_NAME, VR::PN, PrimitiveValue::from("DOE^JANE")),
            DataElement::new(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16)),
            DataElement::new(
                tags::PHOTOMETRIC_INTERPRETATION,
                VR::CS,
                PrimitiveValue::from(photometric),
            ),
            DataElement::new(tags::ROWS, VR::US, PrimitiveValue::from(rows)),
            DataElement::new(tags::COLUMNS, VR::US, PrimitiveValue::from(cols)),
            DataElement::new(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(bits)),
            DataElement::new(tags::PIXEL_DATA, VR::OW, PrimitiveValue::U16(values.into())),
        ]);
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
                    .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.2")
                    .media_storage_sop_instance_uid("2.25.1"),
            )
            .unwrap();
        file.write_to_file(dir.join(name)).unwrap();
    }

    fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
        let decoder = png::Decoder::new(png_bytes);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    #[test]
    fn kept_files_become_windowed_previews_and_monochrome1_is_inverted() {
        let run = std::env::temp_dir().join(format!("report-images-{}", std::process::id()));
        let dir = run.join("pacs/pacs/instances");
        std::fs::create_dir_all(&dir).unwrap();
        write_image(&dir, "a.dcm", "MONOCHROME2", 16);
        write_image(&dir, "b.dcm", "MONOCHROME1", 16);
        write_image(&dir, "c.dcm", "MONOCHROME2", 32);
        std::fs::write(dir.join("d.dcm"), b"not dicom").unwrap();
        let images = stored_images(&run);
        assert_eq!(images.len(), 4);
        assert_eq!(images[0].file, "pacs/pacs/instances/a.dcm");
        assert_eq!(images[0].patient_name, "DOE^JANE");
        let (w, h, grey) = decode(images[0].png.as_ref().unwrap());
        assert_eq!((w, h), (8, 4));
        // Columns 0..7 hold 0..700: windowed to 0..255, left dark, right bright.
        assert_eq!((grey[0], grey[7]), (0, 255));
        let (_, _, inverted) = decode(images[1].png.as_ref().unwrap());
        assert_eq!((inverted[0], inverted[7]), (255, 0));
        assert!(images[2].png.as_ref().unwrap_err().contains("32-bit"));
        assert!(images[3].png.as_ref().unwrap_err().contains("not readable"));
        let _ = std::fs::remove_dir_all(&run);
    }
}

//! JPEG Baseline encoding of the synthetic pixels (grey, or RGB stored as YCbCr 4:2:2),
//! shared with the proxy, which re-encodes altered frames the same way.

use anyhow::{Context, Result};

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
pub fn encode_jpeg_samples(
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

//! The phantoms the synthetic pixels are drawn from: an angiogram disc (XA), a CT body, an
//! MR head, a CR chest and a US sector, each a pure function of the seed and the instance.

use super::{StudySpec, splitmix};

/// The image's width and height in pixels.
fn size(spec: &StudySpec) -> (usize, usize) {
    (spec.cols as usize, spec.rows as usize)
}

/// Every pixel of the image, row by row, from `pixel(x, y, rng)`; the noise of each phantom
/// comes from its own stream (`salt`), which moves with the instance.
fn raster<T>(
    spec: &StudySpec,
    index: u32,
    salt: u64,
    mut pixel: impl FnMut(usize, usize, &mut u64) -> T,
) -> Vec<T> {
    let (w, h) = size(spec);
    let mut rng = spec.seed.wrapping_mul(salt).wrapping_add(index as u64);
    let mut px = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            px.push(pixel(x, y, &mut rng));
        }
    }
    px
}

/// A gradient background with a bright disc (a "contrast-filled vessel" cross-section) whose
/// position moves with the instance, plus faint deterministic noise.
pub(super) fn pixels_8bit(spec: &StudySpec, index: u32) -> Vec<u8> {
    let (w, h) = size(spec);
    let cx = w as f64 * (0.3 + 0.4 * ((index % 8) as f64 / 8.0));
    let cy = h as f64 * 0.5;
    let radius = (w.min(h) as f64) * 0.2;
    raster(spec, index, 31, |x, y, rng| {
        let grad = 40.0 + 100.0 * (x + y) as f64 / (w + h) as f64;
        let d = ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
        let disc = if d < radius {
            100.0 * (1.0 - d / radius)
        } else {
            0.0
        };
        let noise = (splitmix(rng) % 8) as f64;
        (grad + disc + noise).clamp(0.0, 255.0) as u8
    })
}

/// A CT-like slice: air outside, a water-like body disc, a bone ring; stored = HU + 1024.
pub(super) fn pixels_ct(spec: &StudySpec, index: u32) -> Vec<u16> {
    let (w, h) = size(spec);
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let body = (w.min(h) as f64) * (0.40 + 0.02 * ((index % 5) as f64));
    let (body2, bone2) = (body * body, (body * 0.92) * (body * 0.92));
    raster(spec, index, 37, |x, y, rng| {
        let d2 = (x as f64 - cx).powi(2) + (y as f64 - cy).powi(2);
        let hu: i32 = if d2 > body2 {
            -1000
        } else if d2 > bone2 {
            700
        } else {
            40 + (splitmix(rng) % 20) as i32 - 10
        };
        (hu + 1024).clamp(0, 4095) as u16
    })
}

/// An axial head-like MR slice: an elliptic skull ring, brain with grey/white contrast and
/// ventricles, Rician-like noise; values within 12 bits.
pub(super) fn pixels_mr(spec: &StudySpec, index: u32) -> Vec<u16> {
    let (w, h) = size(spec);
    let (cx, cy) = (w as f64 / 2.0, h as f64 / 2.0);
    let scale = 1.0 - 0.03 * ((index % 7) as f64);
    let (ax, ay) = (w as f64 * 0.36 * scale, h as f64 * 0.44 * scale);
    raster(spec, index, 41, |x, y, rng| {
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
        let noise = (splitmix(rng) % 40) as f64;
        (base + noise).clamp(0.0, 4095.0) as u16
    })
}

/// A PA chest radiograph in MONOCHROME1 (high values are dark): dark lungs, bright
/// mediastinum and ribs, a gradient across the body.
pub(super) fn pixels_cr(spec: &StudySpec, index: u32) -> Vec<u16> {
    let (w, h) = size(spec);
    raster(spec, index, 43, |x, y, rng| {
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
        let noise = (splitmix(rng) % 30) as f64;
        let value = 3800.0 - att * 3000.0 + noise;
        value.clamp(0.0, 4095.0) as u16
    })
}

/// An abdominal B-mode frame: a grey speckled sector on black, with a yellow depth scale
/// and a cyan focus marker (why real US images are RGB). Interleaved RGB (planar 0).
pub(super) fn pixels_us(spec: &StudySpec, index: u32) -> Vec<u8> {
    let (w, h) = size(spec);
    let apex = (w as f64 / 2.0, h as f64 * 0.05);
    let depth = h as f64 * 0.9;
    let half_angle = 0.6f64; // radians
    let organ = (
        w as f64 * (0.45 + 0.02 * (index % 5) as f64),
        h as f64 * 0.55,
        w.min(h) as f64 * 0.15,
    );
    raster(spec, index, 47, |x, y, rng| {
        let (dx, dy) = (x as f64 - apex.0, y as f64 - apex.1);
        let r = (dx * dx + dy * dy).sqrt();
        let angle = dx.atan2(dy);
        let speckle = (splitmix(rng) % 90) as f64;
        if x < 6 && y % (h / 10).max(2) == 0 {
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
        }
    })
    .concat()
}

//! `lab images build` and `lab images prune`.

use std::path::Path;

use engine::EngineError;
use engine::progress::Progress;

/// Builds every image a lab of the catalog needs.
pub async fn build(
    labs: Option<&Path>,
    force: bool,
    progress: Progress,
) -> Result<u8, EngineError> {
    let built = engine::images::build_catalog(labs, progress, force).await?;
    if built.is_empty() {
        println!("every image is up to date");
    } else {
        println!("built: {}", built.join(", "));
    }
    Ok(0)
}

pub async fn prune() -> Result<u8, EngineError> {
    let pruned = engine::images::prune().await?;
    for r in &pruned.removed {
        println!("removed {r}");
    }
    for r in &pruned.in_use {
        println!("kept {r} (a container uses it)");
    }
    println!("removed {} image(s)", pruned.removed.len());
    Ok(0)
}

//! What several commands print the same way: untrusted text made terminal-safe, a run's
//! terminal summary, ages.

use std::io::IsTerminal;

pub use engine::wire::{terminal_safe as t, terminal_text as tt};

/// Runs one lab and prints its terminal summary (colour only on a terminal): what `run`,
/// `up` and `check` share.
pub async fn run_and_summarize(
    scenario: &engine::scenario::Scenario,
    opts: &engine::RunOptions,
) -> Result<engine::RunResult, engine::EngineError> {
    let result = engine::run_lab(scenario, opts).await?;
    let color = std::io::stdout().is_terminal() && opts.progress.interactive;
    print!(
        "{}",
        engine::report::terminal_summary(
            &result.report,
            &result.run_dir.display().to_string(),
            color
        )
    );
    Ok(result)
}

/// An age in seconds as `lab status` shows it: 90s, 15m, 3h, 2d.
pub fn age(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

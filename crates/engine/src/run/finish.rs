//! The end of a run: save the report, then keep the lab up or tear it down.
//!
//! Nothing here returns early. A report that cannot be written (a full disk, a read-only
//! runs folder), a keep marker the daemon refuses, a teardown that fails: each is added to
//! the report's error (verdict error, exit 2) and the run still ends with nothing of it
//! left up, unless it was kept on purpose.

use std::time::Duration;

use report::{RunReport, Verdict};

use runtime::{Docker, LABEL_KEPT};

use super::{KeepPolicy, Run, RunOptions, teardown};
use crate::EngineError;
use crate::grading::write_report;
use crate::plan::RunPlan;

/// Saves `report`, then keeps or tears down the lab; returns the final report and whether
/// the lab is still up.
pub(crate) async fn save_and_end(
    run: &Run<'_>,
    mut report: RunReport,
    opts: &RunOptions,
) -> (RunReport, bool) {
    let id = run.plan.id.clone();
    let saved = write_report(&run.dir, &report);
    let report_saved = saved.is_ok();
    if let Err(e) = saved {
        note(
            &mut report,
            format!("{e}; the lab was torn down all the same, nothing of the run is left"),
        );
    }
    let interrupted = opts.shutdown.last().is_some();
    // A run whose report is lost is not left up: nothing would say what it is.
    let keep = match opts.keep {
        KeepPolicy::Always => true,
        KeepPolicy::OnFailure => report.verdict != Verdict::Pass,
        KeepPolicy::Never => false,
    } && !interrupted
        && report_saved;
    let mut changed = false;
    let kept = keep && {
        match keep_up(run, opts.keep).await {
            Ok(()) => true,
            Err(e) => {
                note(
                    &mut report,
                    format!("keeping the lab up: {e}; it was torn down instead"),
                );
                changed = true;
                false
            }
        }
    };
    if !kept {
        // Teardown runs to its end whatever signal comes: stopping half-way would leave
        // the lab up, which is the one thing an interruption must not do.
        opts.progress.phase("tearing down");
        let mut swept = teardown(&run.docker, Some(&id)).await.map(|_| ());
        // A signal that cut a network or container creation short leaves that request
        // with the daemon, which may finish it after the sweep above: sweep again once it
        // has had time to (seen: a network left by SIGINT while starting, under load).
        if interrupted && (run.phase.starts_with("creating") || run.phase.starts_with("starting")) {
            tokio::time::sleep(Duration::from_secs(2)).await;
            swept = swept.and(teardown(&run.docker, Some(&id)).await.map(|_| ()));
        }
        if let Err(e) = swept {
            note(
                &mut report,
                format!("tearing down: {e}\n  fix: `lab down {id}` removes what is left"),
            );
            changed = true;
        }
        if report.error.is_none()
            && let Some(s) = opts.shutdown.last()
        {
            report.error =
                Some(EngineError::Interrupted(format!("{s} while tearing down")).to_string());
            report.verdict = Verdict::Error;
            changed = true;
        }
    }
    if changed
        && report_saved
        && let Err(e) = write_report(&run.dir, &report)
    {
        note(&mut report, e.to_string());
    }
    (report, kept)
}

/// Marks the run kept; for `lab up`, removes the stopped taps (`lab capture` taps the
/// lab from now on; `--keep` on failure leaves them, stopped, for debugging).
async fn keep_up(run: &Run<'_>, policy: KeepPolicy) -> Result<(), EngineError> {
    mark_kept(&run.docker, &run.plan).await?;
    if policy == KeepPolicy::Always {
        for tap in &run.taps_started {
            run.docker
                .remove_container(&run.plan.container(tap))
                .await?;
        }
    }
    Ok(())
}

/// Adds `what` to the report's error and makes the verdict an error.
fn note(report: &mut RunReport, what: String) {
    report.error = Some(match report.error.take() {
        Some(e) => format!("{e}; {what}"),
        None => what,
    });
    report.verdict = Verdict::Error;
}

/// Marks a run as kept on purpose, so `lab gc` leaves it although its owner exits.
pub(crate) async fn mark_kept(docker: &Docker, plan: &RunPlan) -> Result<(), EngineError> {
    let mut labels = plan.labels("kept");
    labels.insert(LABEL_KEPT.into(), "true".into());
    docker
        .create_marker(&format!("lab-{}-kept", plan.id), &labels)
        .await?;
    Ok(())
}

//! `pacs.signatures`: what the PACS side's verifier (DCMTK's `dcmsign --verify`, trusting
//! the run's CA) said of every archived instance the run kept, against what the lab
//! expects of all of them: `valid`, `broken` or `unsigned`.

use rundir::{SignatureCheck, SignatureState};
use scenario::SignatureExpect;

use crate::Evidence;
use crate::grade::{CheckResult, Outcome};

fn matches(state: SignatureState, expect: SignatureExpect) -> bool {
    matches!(
        (state, expect),
        (SignatureState::Valid, SignatureExpect::Valid)
            | (SignatureState::Broken, SignatureExpect::Broken)
            | (SignatureState::Unsigned, SignatureExpect::Unsigned)
    )
}

fn words(state: SignatureState) -> &'static str {
    match state {
        SignatureState::Valid => "valid",
        SignatureState::Broken => "broken",
        SignatureState::Unsigned => "unsigned",
        SignatureState::Unreadable => "unreadable",
    }
}

/// One line per signature (or per instance without one): which signature, which MAC,
/// whose, and the verifier's verdict.
fn lines(c: &SignatureCheck) -> Vec<String> {
    if c.signatures.is_empty() {
        return vec![format!(
            "{} ({}): {}{}",
            c.instance,
            c.file,
            words(c.state),
            c.summary
                .as_deref()
                .map(|s| format!(": {s}"))
                .unwrap_or_default()
        )];
    }
    c.signatures
        .iter()
        .map(|s| {
            format!(
                "{}: signature #{} UID {} ({}, MAC ID {}, {}, signer {}): {}",
                c.instance,
                s.number,
                s.uid.as_deref().unwrap_or("?"),
                s.location.as_deref().unwrap_or("?"),
                s.mac_id.as_deref().unwrap_or("?"),
                s.mac_algorithm.as_deref().unwrap_or("?"),
                s.signer.as_deref().unwrap_or("?"),
                if s.verification.is_empty() {
                    "no verdict"
                } else {
                    &s.verification
                }
            )
        })
        .collect()
}

pub(crate) fn grade(r: &mut CheckResult, ev: &Evidence, node: &str, expect: SignatureExpect) {
    r.expected = format!(
        "every archived instance of PACS `{node}` is {} by dcmsign --verify",
        match expect {
            SignatureExpect::Valid => "signed and verified (valid)",
            SignatureExpect::Broken => "signed with a signature that fails (broken)",
            SignatureExpect::Unsigned => "found unsigned (unsigned)",
        }
    );
    let checks = match ev.pacs.get(node).map(|p| &p.signatures) {
        Some(Ok(c)) => c,
        Some(Err(why)) => {
            r.observed = format!("unknown: {why}");
            return;
        }
        None => {
            r.observed = format!("unknown: no state of PACS `{node}` was saved");
            return;
        }
    };
    if checks.is_empty() {
        r.observed = "unknown: no archived instance was verified".into();
        return;
    }
    let count = |s: SignatureState| checks.iter().filter(|c| c.state == s).count();
    let unsigned = count(SignatureState::Unsigned);
    // Unsigned instances are the weakness: nothing tells an altered one from the original.
    r.finding = Some(unsigned > 0);
    r.outcome = if checks.iter().all(|c| matches(c.state, expect)) {
        Outcome::Met
    } else {
        Outcome::NotMet
    };
    let tally = [
        SignatureState::Valid,
        SignatureState::Broken,
        SignatureState::Unsigned,
        SignatureState::Unreadable,
    ]
    .into_iter()
    .filter(|s| count(*s) > 0)
    .map(|s| format!("{} {}", count(s), words(s)))
    .collect::<Vec<_>>()
    .join(", ");
    // The first broken signature is named in the one line a student reads.
    let first_broken = checks
        .iter()
        .flat_map(|c| c.signatures.iter().map(move |s| (c, s)))
        .find(|(_, s)| !s.ok)
        .map(|(c, s)| {
            format!(
                "; {} signature #{} UID {} (MAC ID {}): {}",
                c.instance,
                s.number,
                s.uid.as_deref().unwrap_or("?"),
                s.mac_id.as_deref().unwrap_or("?"),
                s.verification
            )
        })
        .unwrap_or_default();
    r.observed = format!(
        "{} archived instance(s): {tally}{first_broken}",
        checks.len()
    );
    r.details = checks.iter().flat_map(lines).collect();
}

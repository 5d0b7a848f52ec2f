//! `lab explain <lab>`: the engine's explanation of a lab, printed for a student.

use std::path::Path;

use engine::explain::Explanation;
use engine::{EngineError, catalog};

use crate::output::{t, tt};

pub fn explain(labs: Option<&Path>, lab: &str, json: bool) -> Result<u8, EngineError> {
    let path = catalog::find(lab, labs)?;
    let s = engine::scenario::load(&path, &Default::default())?;
    let e = engine::explain::explain(&s);
    if json {
        println!("{}", engine::output::json_pretty(&e));
    } else {
        print!("{}", render(&e));
    }
    Ok(0)
}

/// Every line of `text` indented by `by` spaces (lab text made terminal-safe first).
fn indent(text: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    tt(text.trim_end())
        .lines()
        .map(|l| {
            if l.trim().is_empty() {
                String::new()
            } else {
                format!("{pad}{}", l.trim_start())
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn render(e: &Explanation) -> String {
    let mut o = String::new();
    let mut line = |s: String| {
        o.push_str(&s);
        o.push('\n');
    };
    line(format!("{}: {}", t(&e.name), t(&e.title)));
    let mut about = format!("threat {}, {}", t(&e.threat), t(&e.variant));
    if !e.mitre.is_empty() {
        about.push_str(&format!(", MITRE {}", t(&e.mitre.join(", "))));
    }
    if let Some(p) = &e.pair {
        about.push_str(&format!(", pair {}", t(p)));
    }
    line(about);
    if let Some(d) = &e.description {
        line(String::new());
        line(indent(d, 2));
    }
    if let Some(b) = &e.brief {
        line(String::new());
        line("Your task:".into());
        line(indent(b, 2));
    }
    line(String::new());
    line("Nodes:".into());
    for n in &e.nodes {
        line(format!("  {:<10} {}", t(&n.name), t(&n.role)));
    }
    line(String::new());
    line("Steps, once every node is ready:".into());
    if e.steps.is_empty() {
        line("  (none: the checks look at the nodes as they start)".into());
    }
    for (i, st) in e.steps.iter().enumerate() {
        line(format!("  {}. {}", i + 1, t(st)));
    }
    line(String::new());
    line(format!(
        "In Wireshark{}:",
        if e.captures {
            " (open the run's capture.pcapng, or watch live with `lab up` and `lab capture <id> | wireshark -k -i -`)"
        } else {
            " (this lab keeps no capture of its own: watch it live with `lab up` and `lab capture`)"
        }
    ));
    line("  Display filters:".into());
    for f in &e.wireshark.filters {
        line(format!("    {}", t(&f.filter)));
        line(format!("        {}", t(&f.shows)));
        if let Some(p) = &f.preference {
            let (name, value) = p.split_once(':').unwrap_or((p, ""));
            line(format!(
                "        (needs the preference {} = {}: Edit > Preferences > Protocols, or `tshark -o {}`)",
                t(name),
                t(value),
                t(p)
            ));
        }
    }
    if !e.wireshark.expand.is_empty() {
        line("  Expand:".into());
        for x in &e.wireshark.expand {
            line(format!("    - {}", t(x)));
        }
    }
    if e.wireshark_derived {
        line(
            "  (hints derived from the lab's nodes and steps: the lab has no `wireshark:` section)"
                .into(),
        );
    }
    line(String::new());
    line("Checks (the lab passes when every one meets its expectation):".into());
    for c in &e.checks {
        let mut head = format!("  {} ({})", t(&c.id), t(&c.kind));
        if let Some(m) = &c.mitre {
            head.push_str(&format!(", MITRE {}", t(m)));
        }
        if c.points > 0 {
            head.push_str(&format!(", {} point(s)", c.points));
        }
        line(head);
        if let Some(d) = &c.description {
            line(format!("      {}", t(d)));
        }
        line(format!("      {}", t(&c.meaning)));
    }
    o
}

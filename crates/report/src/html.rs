//! The self-contained HTML report (`report.html`): what a student opens after a run.
//!
//! No external asset: CSS is inline and every drawing is inline SVG, so the file can be
//! mailed, archived or opened offline. Everything that comes from the evidence (AE
//! titles, PHI values, Info texts, file names, log-derived messages) is escaped: a
//! capture is hostile input.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use checks::{CheckResult, Outcome};
use scenario::Scenario;
use wire::{Analysis, Event};

use crate::escape::{html as esc, url_path};
use crate::{RunReport, Verdict};

/// At most this many association diagrams are drawn; the rest are counted.
const MAX_DIAGRAMS: usize = 24;
/// At most this many rows per diagram.
const MAX_ROWS: usize = 80;
/// Runs of consecutive data-set fragments longer than this are folded.
const FOLD_FRAGMENTS: usize = 3;
/// At most this many distinct PHI values listed.
const MAX_PHI: usize = 500;
/// At most this many detail lines per check.
const MAX_DETAILS: usize = 200;

/// Files the report writers produce, linked from the page besides the evidence.
pub(crate) const GENERATED: &[(&str, &str)] = &[
    (
        "report.json",
        "this report as JSON (schema dicom-range/report/v1)",
    ),
    ("junit.xml", "JUnit XML, for CI test reports"),
    (
        "report.sarif",
        "SARIF 2.1.0 security findings, for code-scanning tools",
    ),
    (
        "SHA256SUMS",
        "checksums of every file here: `lab verify <run-dir>`",
    ),
];

const CSS: &str = r#"
:root{--ink:#0f172a;--muted:#64748b;--line:#e2e8f0;--bg:#f8fafc;--card:#fff;
--ok:#15803d;--ok-bg:#dcfce7;--bad:#b91c1c;--bad-bg:#fee2e2;--warn:#b45309;--warn-bg:#fef3c7;
--rq:#2563eb;--rsp:#059669;--tls:#7c3aed;--frag:#94a3b8}
*{box-sizing:border-box}
body{margin:0;font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:var(--ink);background:var(--bg)}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
header.top{background:#0f172a;color:#f8fafc;padding:22px 0 18px}
header.top .in{max-width:1120px;margin:0 auto;padding:0 28px}
header.top h1{margin:6px 0 4px;font-size:24px;font-weight:650}
header.top .meta{color:#cbd5e1;font-size:13.5px}
header.top .meta span{margin-right:16px;white-space:nowrap}
.verdict{display:inline-block;font-weight:700;letter-spacing:.06em;padding:3px 12px;border-radius:999px;font-size:13px}
.verdict.pass{background:#16a34a;color:#fff}.verdict.fail{background:#dc2626;color:#fff}.verdict.error{background:#d97706;color:#fff}
.lab{font-family:ui-monospace,"DejaVu Sans Mono",monospace;color:#93c5fd;margin-left:10px;font-size:14px}
nav{display:flex;gap:18px;flex-wrap:wrap;font-size:13.5px;margin:14px 0 0}
nav a{color:#bfdbfe;text-decoration:none}nav a:hover{text-decoration:underline}
section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:18px 22px;margin:18px 0;box-shadow:0 1px 2px rgba(15,23,42,.04)}
h2{font-size:18px;margin:0 0 10px}h3{font-size:15px;margin:18px 0 6px}
p{margin:6px 0}.muted{color:var(--muted)}
code,.mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:.92em}
code{background:#f1f5f9;padding:1px 4px;border-radius:4px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:12px 0 4px}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px;background:#fbfdff}
.card b{display:block;font-size:22px}.card span{color:var(--muted);font-size:13px}
.card.bad b{color:var(--bad)}.card.ok b{color:var(--ok)}
.error-box{background:var(--warn-bg);border:1px solid #fcd34d;color:#78350f;border-radius:8px;padding:10px 14px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;vertical-align:top;padding:7px 10px;border-bottom:1px solid var(--line)}
th{font-size:12px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);background:#f8fafc}
tr.met td:first-child{box-shadow:inset 4px 0 0 #22c55e}tr.not-met td:first-child{box-shadow:inset 4px 0 0 #ef4444}tr.error td:first-child{box-shadow:inset 4px 0 0 #f59e0b}
tr.not-met{background:#fff7f7}tr.error{background:#fffbeb}
.badge{display:inline-block;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:650;white-space:nowrap}
.badge.met{background:var(--ok-bg);color:var(--ok)}.badge.not-met{background:var(--bad-bg);color:var(--bad)}.badge.error{background:var(--warn-bg);color:var(--warn)}
.badge.finding{background:#fee2e2;color:#991b1b;margin-left:6px}.badge.none{background:#e0f2fe;color:#075985;margin-left:6px}
.chip{display:inline-block;background:#eef2ff;color:#3730a3;border-radius:6px;padding:0 7px;font-size:12.5px;font-family:ui-monospace,monospace;margin-right:4px}
details summary{cursor:pointer;color:var(--muted);font-size:13px}
pre{background:#0f172a;color:#e2e8f0;padding:10px 12px;border-radius:8px;overflow:auto;font-size:12.5px;max-height:340px}
mark.phi{background:#fecaca;color:#7f1d1d;padding:1px 6px;border-radius:4px;font-weight:650;font-family:ui-monospace,monospace}
.phi-warn{background:#fef2f2;border:1px solid #fecaca;border-radius:8px;padding:10px 14px;color:#7f1d1d;margin-bottom:10px}
.phi-none{background:#f0fdf4;border:1px solid #bbf7d0;border-radius:8px;padding:10px 14px;color:#14532d}
.diagram{overflow-x:auto;margin:6px 0 14px}.diagram svg{display:block;margin:0 auto;max-width:100%;height:auto}
svg text{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
svg .mono{font-family:ui-monospace,"DejaVu Sans Mono",monospace}
div.images{display:flex;flex-wrap:wrap;gap:16px}div.images figure{margin:0;max-width:260px}div.images img{display:block;max-width:256px;border:1px solid #ccc;background:#000}div.images figcaption{font-size:13px;word-break:break-all}
ul.files{columns:2;padding-left:18px;margin:6px 0}ul.files li{margin:2px 0;break-inside:avoid}
ul.files a{font-family:ui-monospace,monospace;font-size:13.5px}
.legend{font-size:13px;color:var(--muted)}.legend i{display:inline-block;width:22px;height:3px;vertical-align:middle;margin:0 5px 0 12px}
footer{color:var(--muted);font-size:12.5px;text-align:center;margin-top:24px}
"#;

/// The HTML page of a run. `analysis` (the decoded capture) gives the sequence diagrams
/// and the PHI; `scenario` (the resolved lab file) gives the topology and description.
/// Either may be absent: the page says what is missing.
pub fn html(
    report: &RunReport,
    analysis: Option<&Analysis>,
    scenario: Option<&Scenario>,
    images: &[crate::StoredImage],
) -> String {
    let r = report;
    let mut o = String::with_capacity(32 * 1024);
    let verdict = verdict_class(r.verdict);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"generator\" content=\"dicom-range report\">\n<title>{} · {} · {}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        verdict.to_uppercase(),
        esc(&r.lab),
        esc(&r.run_id)
    );

    // Header.
    let _ = write!(
        o,
        "<header class=\"top\"><div class=\"in\"><span class=\"verdict {verdict}\" id=\"verdict\">{}</span><span class=\"lab\">{}</span>\n<h1>{}</h1>\n<div class=\"meta\"><span>run <b class=\"mono\">{}</b></span><span>threat: {}</span><span>variant: {}</span>",
        verdict.to_uppercase(),
        esc(&r.lab),
        esc(&r.title),
        esc(&r.run_id),
        esc(&r.threat),
        esc(&r.variant),
    );
    if !r.mitre.is_empty() {
        let _ = write!(o, "<span>MITRE: {}</span>", esc(&r.mitre.join(", ")));
    }
    if !r.started_at.is_empty() {
        let _ = write!(o, "<span>started {}</span>", esc(&r.started_at));
    }
    let _ = write!(o, "<span>{:.1} s</span></div>", r.duration_s);
    o.push_str("<nav><a href=\"#summary\">Summary</a><a href=\"#topology\">Topology</a><a href=\"#sequence\">Sequence diagram</a><a href=\"#checks\">Checks</a><a href=\"#phi\">PHI in clear</a><a href=\"#steps\">Steps</a>");
    if !images.is_empty() {
        o.push_str("<a href=\"#images\">Images</a>");
    }
    o.push_str("<a href=\"#evidence\">Evidence</a></nav></div></header>\n<main>\n");

    summary(&mut o, r, analysis, scenario);
    topology(&mut o, scenario);
    sequence(&mut o, analysis, scenario);
    checks_table(&mut o, r);
    phi(&mut o, analysis);
    steps(&mut o, r);
    stored_images(&mut o, images);
    evidence(&mut o, r);

    let _ = write!(
        o,
        "<footer>Generated by dicom-range {} from the run directory alone (schema {}). Regenerate with <code>lab report &lt;run-dir&gt;</code>; check integrity with <code>lab verify &lt;run-dir&gt;</code>.</footer>\n</main>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION"),
        esc(&r.schema)
    );
    o
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
    }
}

fn outcome_class(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Met => ("met", "met"),
        Outcome::NotMet => ("not-met", "NOT MET"),
        Outcome::Error => ("error", "ERROR"),
    }
}

/// Escaped text with `code` spans for backquoted words, paragraphs on blank lines.
fn prose(text: &str) -> String {
    let mut out = String::new();
    for para in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let escaped = esc(para.trim());
        let mut html = String::new();
        for (i, part) in escaped.split('`').enumerate() {
            if i % 2 == 1 {
                let _ = write!(html, "<code>{part}</code>");
            } else {
                html.push_str(part);
            }
        }
        let _ = writeln!(out, "<p>{html}</p>");
    }
    out
}

fn summary(
    o: &mut String,
    r: &RunReport,
    analysis: Option<&Analysis>,
    scenario: Option<&Scenario>,
) {
    o.push_str("<section id=\"summary\"><h2>Summary</h2>\n");
    let verdict_text = match r.verdict {
        Verdict::Pass => "Every check met what the lab expects.",
        Verdict::Fail => "At least one check did not meet what the lab expects.",
        Verdict::Error => "The lab could not be run or graded completely.",
    };
    let _ = writeln!(o, "<p><b>{verdict_text}</b></p>");
    if let Some(e) = &r.error {
        let _ = writeln!(
            o,
            "<div class=\"error-box\"><b>Run error:</b> {}</div>",
            esc(e)
        );
    }
    for n in &r.notes {
        let _ = writeln!(o, "<div class=\"error-box\"><b>Note:</b> {}</div>", esc(n));
    }
    if let Some(d) = scenario.and_then(|s| s.metadata.description.as_deref()) {
        o.push_str(&prose(d));
    }
    let met = r
        .checks
        .iter()
        .filter(|c| c.outcome == Outcome::Met)
        .count();
    let all_met = met == r.checks.len();
    o.push_str("<div class=\"cards\">");
    let _ = write!(
        o,
        "<div class=\"card {}\"><b>{met}/{}</b><span>checks met</span></div>",
        if all_met { "ok" } else { "bad" },
        r.checks.len()
    );
    if let Some(a) = analysis {
        let phi = distinct_phi(a).len();
        let _ = write!(
            o,
            "<div class=\"card {}\"><b>{phi}</b><span>PHI values readable in clear</span></div>",
            if phi > 0 { "bad" } else { "ok" }
        );
        let streams: std::collections::BTreeSet<u32> = a.events.iter().map(|e| e.stream).collect();
        let _ = write!(
            o,
            "<div class=\"card\"><b>{}</b><span>DICOM/TLS events in {} connection(s)</span></div><div class=\"card\"><b>{}</b><span>packets captured</span></div>",
            a.events.len(),
            streams.len(),
            a.packets
        );
        if !a.errors.is_empty() {
            let _ = write!(
                o,
                "<div class=\"card bad\"><b>{}</b><span>malformed things in the capture</span></div>",
                a.errors.len()
            );
        }
    }
    let _ = write!(
        o,
        "<div class=\"card\"><b>{:.1} s</b><span>run duration</span></div></div>\n</section>\n",
        r.duration_s
    );
}

// ---------------------------------------------------------------- topology

fn topology(o: &mut String, scenario: Option<&Scenario>) {
    o.push_str("<section id=\"topology\"><h2>Topology</h2>\n");
    let Some(s) = scenario else {
        o.push_str("<p class=\"muted\">The resolved lab file (scenario.yaml) could not be read: no topology to draw.</p></section>\n");
        return;
    };
    o.push_str(&topology_svg(s));
    o.push_str("<table id=\"nodes\"><thead><tr><th>Node</th><th>Kind</th><th>AE title</th><th>Networks</th><th>Details</th></tr></thead><tbody>\n");
    for n in &s.nodes {
        let v = NodeView::of(n);
        let nets = match &v.tap {
            Some(t) => format!("taps {t}"),
            None => n.networks().join(", "),
        };
        let details = match (&v.tap, v.kind.as_str()) {
            (Some(t), "sniffer") => {
                format!("captures every packet on the bridge of `{t}` (capture.pcapng)")
            }
            (Some(t), _) => format!("watches the bridge of `{t}`"),
            (None, _) => {
                let mut d = Vec::new();
                if let Some(ver) = &v.version {
                    d.push(format!("Orthanc {ver}, DICOM port 4242"));
                }
                if v.kind != "attacker" {
                    d.push(if v.tls {
                        "DICOM TLS".into()
                    } else {
                        "plain DICOM (no TLS)".into()
                    });
                }
                d.join("; ")
            }
        };
        let _ = writeln!(
            o,
            "<tr><td><b class=\"mono\">{}</b></td><td>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}</td></tr>",
            esc(&n.name),
            esc(&v.kind),
            n.aet().map(esc).unwrap_or_else(|| "&ndash;".into()),
            esc(&nets),
            prose_inline(&details)
        );
    }
    o.push_str("</tbody></table>\n</section>\n");
}

/// What the page shows of a node, read through its serialised form so that node kinds
/// added to the scenario format later still render (as a generic box).
struct NodeView {
    kind: String,
    tap: Option<String>,
    tls: bool,
    version: Option<String>,
}

impl NodeView {
    fn of(n: &scenario::Node) -> NodeView {
        let v = serde_json::to_value(&n.kind).unwrap_or_default();
        let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
        NodeView {
            kind: s("kind").unwrap_or_else(|| "node".into()),
            tap: s("tap"),
            tls: v.get("tls").is_some_and(|t| !t.is_null()),
            version: s("version"),
        }
    }
}

fn topology_svg(s: &Scenario) -> String {
    let views: Vec<(&scenario::Node, NodeView)> =
        s.nodes.iter().map(|n| (n, NodeView::of(n))).collect();
    let hosts: Vec<&(&scenario::Node, NodeView)> =
        views.iter().filter(|(_, v)| v.tap.is_none()).collect();
    let sniffers: Vec<&(&scenario::Node, NodeView)> =
        views.iter().filter(|(_, v)| v.tap.is_some()).collect();
    let width = 1000.0;
    let left = 170.0;
    let span = width - left - 30.0;
    let box_w = 170.0_f64.min(span / hosts.len().max(1) as f64 - 16.0);
    let box_h = 58.0;
    let top = 14.0;
    let bus0 = top + box_h + 40.0;
    let bus_gap = 38.0;
    let nets: Vec<&str> = s.networks.iter().map(|n| n.name.as_str()).collect();
    let bus_y = |name: &str| -> Option<f64> {
        nets.iter()
            .position(|n| *n == name)
            .map(|i| bus0 + i as f64 * bus_gap)
    };
    let last_bus = bus0 + nets.len().saturating_sub(1) as f64 * bus_gap;
    let sniff_top = last_bus + 40.0;
    let height = if sniffers.is_empty() {
        last_bus + 24.0
    } else {
        sniff_top + box_h + 14.0
    };
    let mut g = String::new();
    let _ = write!(
        g,
        "<div class=\"diagram\"><svg id=\"topology-svg\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"lab topology\">"
    );
    for (i, n) in s.networks.iter().enumerate() {
        let y = bus0 + i as f64 * bus_gap;
        let _ = write!(
            g,
            "<g class=\"network\" data-name=\"{}\"><line x1=\"{left}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"#334155\" stroke-width=\"5\" stroke-linecap=\"round\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"14\" font-weight=\"650\" fill=\"#0f172a\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11.5\" fill=\"#64748b\">{}</text></g>",
            esc(&n.name),
            width - 20.0,
            left - 12.0,
            y - 1.0,
            esc(&n.name),
            left - 12.0,
            y + 13.0,
            if n.internal {
                "internal network"
            } else {
                "network"
            }
        );
    }
    let slot = span / hosts.len().max(1) as f64;
    for (i, (n, v)) in hosts.iter().map(|x| (x.0, &x.1)).enumerate() {
        let cx = left + 10.0 + slot * (i as f64 + 0.5);
        let (fill, stroke, kind) = match v.kind.as_str() {
            "orthanc" => ("#ecfdf5", "#059669", "PACS (Orthanc)".to_string()),
            "modality" => ("#eff6ff", "#2563eb", "modality".to_string()),
            "attacker" => ("#fff7ed", "#ea580c", "attacker".to_string()),
            k => ("#f8fafc", "#475569", esc(k)),
        };
        for net in n.networks() {
            if let Some(y) = bus_y(net) {
                let _ = write!(
                    g,
                    "<line x1=\"{cx}\" y1=\"{}\" x2=\"{cx}\" y2=\"{y}\" stroke=\"{stroke}\" stroke-width=\"2.5\"/><circle cx=\"{cx}\" cy=\"{y}\" r=\"5\" fill=\"{stroke}\"/>",
                    top + box_h
                );
            }
        }
        let tls = if v.tls { " · TLS" } else { "" };
        let _ = write!(
            g,
            "<g class=\"node\" data-name=\"{}\"><rect x=\"{}\" y=\"{top}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"9\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/><text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14.5\" font-weight=\"700\" class=\"mono\">{}</text><text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#334155\">{kind}{tls}</text><text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#475569\" class=\"mono\">AET {}</text></g>",
            esc(&n.name),
            cx - box_w / 2.0,
            top + 20.0,
            esc(&n.name),
            top + 36.0,
            top + 51.0,
            esc(n.aet().unwrap_or("-"))
        );
    }
    let sslot = span / sniffers.len().max(1) as f64;
    for (i, (n, v)) in sniffers.iter().map(|x| (x.0, &x.1)).enumerate() {
        let cx = left + 10.0 + sslot * (i as f64 + 0.5);
        let tap = v.tap.as_deref().unwrap_or("");
        let (role, what) = if v.kind == "sniffer" {
            ("sniffer (eavesdropper)", "writes capture.pcapng")
        } else {
            ("IDS (watches)", "raises alerts")
        };
        if let Some(y) = bus_y(tap) {
            let _ = write!(
                g,
                "<line x1=\"{cx}\" y1=\"{y}\" x2=\"{cx}\" y2=\"{sniff_top}\" stroke=\"#dc2626\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/><circle cx=\"{cx}\" cy=\"{y}\" r=\"5\" fill=\"#fff\" stroke=\"#dc2626\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#b91c1c\">tap (bridge of {})</text>",
                cx + 9.0,
                (y + sniff_top) / 2.0 + 4.0,
                esc(tap)
            );
        }
        let _ = write!(
            g,
            "<g class=\"node sniffer\" data-name=\"{}\"><rect x=\"{}\" y=\"{sniff_top}\" width=\"{box_w}\" height=\"{box_h}\" rx=\"9\" fill=\"#fef2f2\" stroke=\"#dc2626\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/><text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"14.5\" font-weight=\"700\" class=\"mono\">{}</text><text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#334155\">{role}</text><text x=\"{cx}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#475569\">{what}</text></g>",
            esc(&n.name),
            cx - box_w / 2.0,
            sniff_top + 20.0,
            esc(&n.name),
            sniff_top + 36.0,
            sniff_top + 51.0,
        );
    }
    g.push_str("</svg></div>\n");
    g
}

// ---------------------------------------------------------------- sequence diagrams

/// Who is who in one TCP stream.
struct Sides {
    client: String,
    server: String,
    calling: Option<String>,
    called: Option<String>,
}

enum Row {
    Event(usize),
    Fold {
        count: usize,
        first: usize,
        last: usize,
    },
    More(usize),
}

fn sequence(o: &mut String, analysis: Option<&Analysis>, scenario: Option<&Scenario>) {
    o.push_str("<section id=\"sequence\"><h2>DICOM sequence diagram</h2>\n");
    let Some(a) = analysis else {
        o.push_str("<p class=\"muted\">No capture could be analysed (capture.pcapng is missing or unreadable): no sequence to draw.</p></section>\n");
        return;
    };
    if a.events.is_empty() {
        let _ = writeln!(
            o,
            "<p class=\"muted\">The capture ({} packets) holds no DICOM or TLS traffic.</p></section>",
            a.packets
        );
        return;
    }
    o.push_str("<p>Each diagram is one association (one TCP connection) as the sniffer saw it, like the paper's listings: arrows from the modality to the PACS are requests, arrows back are responses. <b>T<sub>n</sub></b> numbers every event of the capture in order; times are relative to T<sub>0</sub>, the first DICOM event.</p>\n<p class=\"legend\">Legend:<i style=\"background:var(--rq)\"></i>request<i style=\"background:var(--rsp)\"></i>response<i style=\"background:var(--frag)\"></i>data-set fragment<i style=\"background:var(--tls)\"></i>TLS<i style=\"background:#dc2626\"></i>reject, abort or failure status</p>\n");

    let t0 = a.events[0].time;
    // Streams in order of first appearance.
    let mut order: Vec<u32> = Vec::new();
    let mut by_stream: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, e) in a.events.iter().enumerate() {
        by_stream
            .entry(e.stream)
            .or_insert_with(|| {
                order.push(e.stream);
                Vec::new()
            })
            .push(i);
    }
    // PHI attached to the data-set event that completed it (same stream, last event at
    // or before the PHI's time).
    let mut phi_at: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for p in &a.phi {
        if let Some(idx) = by_stream.get(&p.stream).and_then(|ix| {
            ix.iter()
                .copied()
                .rfind(|&i| a.events[i].time <= p.time && a.events[i].pdu == "P-DATA-TF")
        }) {
            let v = phi_at.entry(idx).or_default();
            let item = format!("{}={}", p.keyword, p.value);
            if !v.contains(&item) {
                v.push(item);
            }
        }
    }

    for (n, stream) in order.iter().take(MAX_DIAGRAMS).enumerate() {
        let idx = &by_stream[stream];
        let sides = sides(a, *stream, idx);
        let assoc = a.associations.iter().find(|x| x.stream == *stream);
        let tls = idx.iter().all(|&i| a.events[i].pdu.starts_with("TLS"));
        let services: Vec<String> = {
            let mut s: Vec<String> = Vec::new();
            for &i in idx {
                if let Some(d) = &a.events[i].dimse {
                    let svc = d
                        .command
                        .trim_end_matches("-RQ")
                        .trim_end_matches("-RSP")
                        .to_string();
                    if d.command.ends_with("-RQ") && !s.contains(&svc) {
                        s.push(svc);
                    }
                }
            }
            s
        };
        let first = a.events[idx[0]].time - t0;
        let last = a.events[*idx.last().unwrap()].time - t0;
        let _ = write!(
            o,
            "<h3>Association {} &middot; TCP stream {} &middot; {}{}</h3>\n<p class=\"muted\">{} &rarr; {}",
            n + 1,
            stream,
            if tls {
                "TLS (encrypted)".to_string()
            } else if services.is_empty() {
                "DICOM".to_string()
            } else {
                esc(&services.join(", "))
            },
            match assoc {
                Some(x) => format!(" &middot; {}", esc(&x.outcome)),
                None => String::new(),
            },
            esc(&sides.client),
            esc(&sides.server),
        );
        let _ = writeln!(
            o,
            " &middot; {} event(s) from +{:.3} ms to +{:.3} ms</p>",
            idx.len(),
            first * 1000.0,
            last * 1000.0
        );
        o.push_str(&diagram(a, n, &sides, idx, t0, &phi_at, scenario, tls));
    }
    if order.len() > MAX_DIAGRAMS {
        let _ = writeln!(
            o,
            "<p class=\"muted\">{} more connection(s) not drawn; the whole timeline is in timeline.json.</p>",
            order.len() - MAX_DIAGRAMS
        );
    }
    if !a.errors.is_empty() {
        let _ = write!(
            o,
            "<details><summary>{} malformed thing(s) in the capture</summary><pre>",
            a.errors.len()
        );
        for e in a.errors.iter().take(MAX_DETAILS) {
            let _ = writeln!(
                o,
                "{:?} packet {} stream {}: {}",
                e.kind,
                e.packet
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                e.stream
                    .map(|p| p.to_string())
                    .unwrap_or_else(|| "-".into()),
                esc(&e.message)
            );
        }
        o.push_str("</pre></details>\n");
    }
    o.push_str("</section>\n");
}

fn sides(a: &Analysis, stream: u32, idx: &[usize]) -> Sides {
    if let Some(x) = a.associations.iter().find(|x| x.stream == stream) {
        return Sides {
            client: x.client.clone(),
            server: x.server.clone(),
            calling: x.calling_aet.clone(),
            called: x.called_aet.clone(),
        };
    }
    let rq = idx
        .iter()
        .map(|&i| &a.events[i])
        .find(|e| e.pdu == "A-ASSOCIATE-RQ" || e.info.contains("ClientHello"));
    let e0 = rq.unwrap_or(&a.events[idx[0]]);
    Sides {
        client: e0.src.clone(),
        server: e0.dst.clone(),
        calling: rq.and_then(|e| e.calling_aet.clone()),
        called: rq.and_then(|e| e.called_aet.clone()),
    }
}

fn arrow_class(e: &Event, from_client: bool) -> &'static str {
    let bad_status = e
        .dimse
        .as_ref()
        .and_then(|d| d.status)
        .is_some_and(|s| s != 0 && s != 0xFF00 && s != 0xFF01);
    if e.pdu == "A-ABORT" || e.pdu == "A-ASSOCIATE-RJ" || bad_status {
        "bad"
    } else if e.pdu.starts_with("TLS") {
        "tls"
    } else if e.label == "P-DATA" {
        "frag"
    } else if from_client {
        "rq"
    } else {
        "rsp"
    }
}

fn colour(class: &str) -> &'static str {
    match class {
        "bad" => "#dc2626",
        "tls" => "#7c3aed",
        "frag" => "#94a3b8",
        "rq" => "#2563eb",
        _ => "#059669",
    }
}

/// Node name of the scenario with this AE title, if any.
fn node_of<'a>(scenario: Option<&'a Scenario>, aet: Option<&str>) -> Option<&'a str> {
    let aet = aet?;
    scenario?
        .nodes
        .iter()
        .find(|n| n.aet() == Some(aet))
        .map(|n| n.name.as_str())
}

#[allow(clippy::too_many_arguments)]
fn diagram(
    a: &Analysis,
    n: usize,
    sides: &Sides,
    idx: &[usize],
    t0: f64,
    phi_at: &BTreeMap<usize, Vec<String>>,
    scenario: Option<&Scenario>,
    tls: bool,
) -> String {
    // Rows: fold long runs of data-set fragments, cap the count.
    let mut rows: Vec<Row> = Vec::new();
    let mut k = 0;
    while k < idx.len() {
        let e = &a.events[idx[k]];
        if e.label == "P-DATA" {
            let mut end = k;
            while end + 1 < idx.len()
                && a.events[idx[end + 1]].label == "P-DATA"
                && a.events[idx[end + 1]].src == e.src
            {
                end += 1;
            }
            let len = end - k + 1;
            if len > FOLD_FRAGMENTS {
                rows.push(Row::Event(idx[k]));
                rows.push(Row::Fold {
                    count: len - 2,
                    first: idx[k + 1],
                    last: idx[end - 1],
                });
                rows.push(Row::Event(idx[end]));
            } else {
                rows.extend((k..=end).map(|j| Row::Event(idx[j])));
            }
            k = end + 1;
        } else {
            rows.push(Row::Event(idx[k]));
            k += 1;
        }
    }
    if rows.len() > MAX_ROWS {
        let hidden: usize = rows[MAX_ROWS - 1..]
            .iter()
            .map(|r| match r {
                Row::Event(_) => 1,
                Row::Fold { count, .. } => *count,
                Row::More(c) => *c,
            })
            .sum();
        rows.truncate(MAX_ROWS - 1);
        rows.push(Row::More(hidden));
    }

    let width = 940.0;
    let xl = 240.0;
    let xr = 820.0;
    let mid = (xl + xr) / 2.0;
    let head_h = 64.0;
    let y0 = head_h + 20.0;
    let row_h = 50.0;
    let phi_h = 18.0;
    let mut heights: Vec<f64> = Vec::with_capacity(rows.len());
    for r in &rows {
        heights.push(match r {
            Row::Event(i) if phi_at.contains_key(i) => row_h + phi_h,
            Row::Event(_) => row_h,
            _ => 34.0,
        });
    }
    let total: f64 = heights.iter().sum();
    let tail = if tls { 40.0 } else { 14.0 };
    let height = y0 + total + tail;

    let mut g = String::new();
    let _ = write!(
        g,
        "<div class=\"diagram\"><svg class=\"sequence\" id=\"sequence-{n}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"DICOM sequence diagram, association {}\">",
        n + 1
    );
    // Lifelines and their heads.
    let head = |g: &mut String,
                x: f64,
                role: &str,
                aet: Option<&str>,
                addr: &str,
                fill: &str,
                stroke: &str| {
        let name = node_of(scenario, aet);
        let _ = write!(
            g,
            "<g class=\"lifeline\" data-role=\"{role}\"><line x1=\"{x}\" y1=\"{head_h}\" x2=\"{x}\" y2=\"{}\" stroke=\"#94a3b8\" stroke-width=\"1.5\" stroke-dasharray=\"5 5\"/><rect x=\"{}\" y=\"4\" width=\"210\" height=\"{}\" rx=\"9\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"/><text x=\"{x}\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"750\" letter-spacing=\".05em\">{role}</text><text x=\"{x}\" y=\"42\" text-anchor=\"middle\" font-size=\"11.5\" fill=\"#334155\" class=\"mono\">{}</text><text x=\"{x}\" y=\"57\" text-anchor=\"middle\" font-size=\"11\" fill=\"#64748b\" class=\"mono\">{}</text></g>",
            height - 4.0,
            x - 105.0,
            head_h - 6.0,
            esc(&match (name, aet) {
                (Some(nm), Some(ae)) => format!("{nm} · AET {ae}"),
                (None, Some(ae)) => format!("AET {ae}"),
                _ if tls => "AE title hidden by TLS".into(),
                _ => "AE title not seen".into(),
            }),
            esc(addr)
        );
    };
    head(
        &mut g,
        xl,
        "MODALITY",
        sides.calling.as_deref(),
        &sides.client,
        "#eff6ff",
        "#2563eb",
    );
    head(
        &mut g,
        xr,
        "PACS",
        sides.called.as_deref(),
        &sides.server,
        "#ecfdf5",
        "#059669",
    );

    let mut y = y0;
    for (r, h) in rows.iter().zip(&heights) {
        match r {
            Row::Event(i) => {
                let e = &a.events[*i];
                let from_client =
                    e.src == sides.client || (e.src != sides.server && e.dst == sides.server);
                let class = arrow_class(e, from_client);
                let c = colour(class);
                let ay = y + 26.0;
                let (x1, x2) = if from_client { (xl, xr) } else { (xr, xl) };
                let tip = if from_client { x2 - 1.0 } else { x2 + 1.0 };
                let back = if from_client { tip - 11.0 } else { tip + 11.0 };
                let stroke_w = if class == "frag" { 1.6 } else { 2.2 };
                let dash = if class == "frag" {
                    " stroke-dasharray=\"6 4\""
                } else {
                    ""
                };
                let dir = if from_client { "rq" } else { "rsp" };
                let label = if e.label == "P-DATA" {
                    "P-DATA (data set)".to_string()
                } else {
                    e.label.clone()
                };
                let rel = (e.time - t0) * 1000.0;
                let tx = xl - 40.0;
                let _ = write!(
                    g,
                    "<g class=\"arrow {class}\" data-dir=\"{dir}\" data-label=\"{}\" data-t=\"{}\"><text x=\"{tx}\" y=\"{}\" text-anchor=\"end\" font-size=\"14\" font-weight=\"700\" fill=\"#0f172a\">T<tspan font-size=\"10.5\" dy=\"3\">{}</tspan></text><text x=\"{tx}\" y=\"{}\" text-anchor=\"end\" font-size=\"12\" fill=\"#475569\" class=\"mono\">+{rel:.3} ms</text><line x1=\"{x1}\" y1=\"{ay}\" x2=\"{back}\" y2=\"{ay}\" stroke=\"{c}\" stroke-width=\"{stroke_w}\"{dash}/><polygon points=\"{tip},{ay} {back},{} {back},{}\" fill=\"{c}\"/><text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" font-size=\"13.5\" font-weight=\"650\" fill=\"{c}\">{}</text><text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\" fill=\"#334155\" class=\"mono info\">{}</text>",
                    esc(&e.label),
                    i,
                    ay - 2.0,
                    i,
                    ay + 14.0,
                    ay - 5.0,
                    ay + 5.0,
                    ay - 7.0,
                    esc(&label),
                    ay + 16.0,
                    esc(&clip(&e.info, 88))
                );
                if let Some(phi) = phi_at.get(i) {
                    let text = phi_summary(phi);
                    let w = (text.chars().count() as f64 * 7.1 + 24.0).min(xr - xl - 16.0);
                    let _ = write!(
                        g,
                        "<rect x=\"{}\" y=\"{}\" width=\"{w}\" height=\"18\" rx=\"4\" fill=\"#fee2e2\" stroke=\"#fca5a5\"/><text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" font-size=\"11.5\" font-weight=\"650\" fill=\"#991b1b\" class=\"mono phi\">{}</text>",
                        mid - w / 2.0,
                        ay + 22.0,
                        ay + 35.0,
                        esc(&text)
                    );
                }
                g.push_str("</g>");
            }
            Row::Fold { count, first, last } => {
                let _ = write!(
                    g,
                    "<g class=\"fold\"><text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12.5\" fill=\"#64748b\">&#8942; {count} more data-set fragments (T{first} &ndash; T{last}) &#8942;</text></g>",
                    y + 21.0
                );
            }
            Row::More(count) => {
                let _ = write!(
                    g,
                    "<g class=\"fold\"><text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12.5\" fill=\"#64748b\">&#8942; {count} more event(s) not drawn: see timeline.json &#8942;</text></g>",
                    y + 21.0
                );
            }
        }
        y += h;
    }
    if tls {
        let _ = write!(
            g,
            "<text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12.5\" fill=\"#6d28d9\" font-style=\"italic\">after the handshake every byte is encrypted: no DICOM PDU, AE title or patient data readable</text>",
            y + 22.0
        );
    }
    g.push_str("</svg></div>\n");
    g
}

/// `PHI in clear: PatientName=DOE^JANE, PatientID=DR-0001 (+6 more)`: the identifying
/// attributes first, short enough for one line of the diagram.
fn phi_summary(items: &[String]) -> String {
    const FIRST: &[&str] = &["PatientName=", "PatientID=", "PatientBirthDate="];
    let mut sorted: Vec<&String> = items.iter().collect();
    sorted.sort_by_key(|s| {
        FIRST
            .iter()
            .position(|p| s.starts_with(p))
            .unwrap_or(FIRST.len())
    });
    let mut text = String::from("PHI in clear: ");
    let mut shown = 0;
    for item in &sorted {
        let item = clip(item, 40);
        if shown > 0 && text.chars().count() + item.chars().count() > 66 {
            break;
        }
        if shown > 0 {
            text.push_str(", ");
        }
        text.push_str(&item);
        shown += 1;
    }
    if shown < sorted.len() {
        let _ = write!(text, " (+{} more)", sorted.len() - shown);
    }
    text
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

// ---------------------------------------------------------------- checks, PHI, steps, files

fn checks_table(o: &mut String, r: &RunReport) {
    o.push_str("<section id=\"checks\"><h2>Checks</h2>\n");
    if r.checks.is_empty() {
        o.push_str("<p class=\"muted\">No check was graded.</p></section>\n");
        return;
    }
    o.push_str("<table id=\"check-table\"><thead><tr><th>Check</th><th>Kind</th><th>Expected</th><th>Observed</th><th>Outcome</th><th>MITRE</th></tr></thead><tbody>\n");
    for c in &r.checks {
        check_row(o, c);
    }
    o.push_str("</tbody></table>\n</section>\n");
}

fn check_row(o: &mut String, c: &CheckResult) {
    let (class, word) = outcome_class(c.outcome);
    let finding = match c.finding {
        Some(true) => "<span class=\"badge finding\">finding</span>",
        Some(false) => "<span class=\"badge none\">none</span>",
        None => "",
    };
    let _ = write!(
        o,
        "<tr class=\"check {class}\" data-check=\"{}\"><td><b class=\"mono\">{}</b>{}</td><td class=\"mono\">{}</td><td>{}</td><td>{}{finding}",
        esc(&c.id),
        esc(&c.id),
        c.description
            .as_ref()
            .map(|d| format!("<br><span class=\"muted\">{}</span>", esc(d)))
            .unwrap_or_default(),
        esc(&c.kind),
        esc(&c.expected),
        esc(&c.observed),
    );
    if !c.details.is_empty() {
        let _ = write!(
            o,
            "<details><summary>{} detail line(s)</summary><pre>",
            c.details.len()
        );
        for d in c.details.iter().take(MAX_DETAILS) {
            let _ = writeln!(o, "{}", esc(d));
        }
        if c.details.len() > MAX_DETAILS {
            let _ = writeln!(o, "... {} more", c.details.len() - MAX_DETAILS);
        }
        o.push_str("</pre></details>");
    }
    let _ = writeln!(
        o,
        "</td><td><span class=\"badge {class}\">{word}</span></td><td>{}</td></tr>",
        c.mitre
            .as_ref()
            .map(|m| format!("<span class=\"chip\">{}</span>", esc(m)))
            .unwrap_or_else(|| "&ndash;".into())
    );
}

/// (keyword, value) -> (occurrences, first stream, first time).
fn distinct_phi(a: &Analysis) -> BTreeMap<(String, String), (usize, u32, f64)> {
    let mut m: BTreeMap<(String, String), (usize, u32, f64)> = BTreeMap::new();
    for p in &a.phi {
        m.entry((p.keyword.clone(), p.value.clone()))
            .and_modify(|e| e.0 += 1)
            .or_insert((1, p.stream, p.time));
    }
    m
}

fn phi(o: &mut String, analysis: Option<&Analysis>) {
    o.push_str("<section id=\"phi\"><h2>Patient data readable in clear</h2>\n");
    let Some(a) = analysis else {
        o.push_str("<p class=\"muted\">No capture could be analysed.</p></section>\n");
        return;
    };
    let m = distinct_phi(a);
    if m.is_empty() {
        let _ = writeln!(
            o,
            "<div class=\"phi-none\">No patient data was readable in the capture ({} packets, {} DICOM/TLS events).</div></section>",
            a.packets,
            a.events.len()
        );
        return;
    }
    let t0 = a.events.first().map(|e| e.time).unwrap_or(0.0);
    let _ = writeln!(
        o,
        "<div class=\"phi-warn\"><b>{} value(s) were read straight off the wire</b>, with no key: anyone who can see this network segment (the sniffer did) reads them too. Open capture.pcapng in Wireshark, filter <code>dicom</code>, and find them in the P-DATA fragments.</div>",
        m.len()
    );
    o.push_str("<table id=\"phi-table\"><thead><tr><th>Attribute</th><th>Value seen in clear</th><th>Times seen</th><th>First seen</th></tr></thead><tbody>\n");
    for ((k, v), (count, stream, time)) in m.iter().take(MAX_PHI) {
        let _ = writeln!(
            o,
            "<tr><td class=\"mono\">{}</td><td><mark class=\"phi\">{}</mark></td><td>{count}</td><td class=\"mono\">stream {stream}, +{:.3} ms</td></tr>",
            esc(k),
            esc(v),
            (time - t0) * 1000.0
        );
    }
    o.push_str("</tbody></table>\n");
    if m.len() > MAX_PHI {
        let _ = writeln!(
            o,
            "<p class=\"muted\">{} more not listed.</p>",
            m.len() - MAX_PHI
        );
    }
    o.push_str("</section>\n");
}

fn steps(o: &mut String, r: &RunReport) {
    o.push_str("<section id=\"steps\"><h2>Steps</h2>\n");
    if r.steps.is_empty() {
        o.push_str("<p class=\"muted\">No step ran (or none was recorded).</p></section>\n");
        return;
    }
    o.push_str("<table><thead><tr><th>#</th><th>Node</th><th>Action</th><th>Result</th><th>Time</th><th>Message</th></tr></thead><tbody>\n");
    for s in &r.steps {
        let _ = writeln!(
            o,
            "<tr class=\"{}\"><td>{}</td><td class=\"mono\">{}</td><td class=\"mono\">{}</td><td><span class=\"badge {}\">{}</span></td><td>{} ms</td><td>{}</td></tr>",
            if s.ok { "met" } else { "not-met" },
            s.index,
            esc(&s.node),
            esc(&s.action),
            if s.ok { "met" } else { "not-met" },
            if s.ok { "ok" } else { "FAILED" },
            s.elapsed_ms,
            esc(s.error.as_deref().unwrap_or(""))
        );
    }
    o.push_str("</tbody></table>\n</section>\n");
}

fn describe(path: &str) -> &'static str {
    match path {
        "capture.pcapng" => "everything the sniffer saw; opens in Wireshark (filter `dicom`)",
        "timeline.json" => "the decoded DICOM timeline, one JSON event per line",
        "scenario.yaml" => "the lab file as it ran, parameters substituted",
        p if p.starts_with("logs/") && p.ends_with("steps.jsonl") => "each step's result line",
        p if p.starts_with("logs/") => "a node's log",
        p if p.starts_with("pacs/") && p.ends_with(".dcm") => {
            "a file the PACS stored, as it holds it (open it in a DICOM viewer)"
        }
        p if p.starts_with("pacs/") => "what the PACS held at the end (REST snapshot)",
        p if p.starts_with("pki/") => "the run's certificates (TLS labs)",
        _ => "",
    }
}

/// The first images the PACS held, as PNG data URIs (the page stays self-contained).
fn stored_images(o: &mut String, images: &[crate::StoredImage]) {
    use base64::Engine as _;
    if images.is_empty() {
        return;
    }
    o.push_str("<section id=\"images\"><h2>Images the PACS holds</h2>\n<p class=\"muted\">The first frame of the first stored files, as archived (windowed to their own range); open the files in a DICOM viewer for the full image.</p>\n<div class=\"images\">\n");
    for i in images {
        let caption = format!(
            "<figcaption><a href=\"{}\">{}</a><br>PatientName {}</figcaption>",
            esc(&url_path(&i.file)),
            esc(i.file.rsplit('/').next().unwrap_or(&i.file)),
            esc(&i.patient_name)
        );
        match &i.png {
            Ok(png) => {
                let _ = writeln!(
                    o,
                    "<figure><img alt=\"stored image {}\" src=\"data:image/png;base64,{}\">{caption}</figure>",
                    esc(&i.file),
                    base64::engine::general_purpose::STANDARD.encode(png)
                );
            }
            Err(why) => {
                let _ = writeln!(
                    o,
                    "<figure><p class=\"muted\">No preview: {}</p>{caption}</figure>",
                    esc(why)
                );
            }
        }
    }
    o.push_str("</div>\n</section>\n");
}

fn evidence(o: &mut String, r: &RunReport) {
    o.push_str("<section id=\"evidence\"><h2>Evidence files</h2>\n<p class=\"muted\">Relative to this page's folder (the run directory).</p>\n<ul class=\"files\">\n");
    let generated: Vec<&str> = GENERATED.iter().map(|(f, _)| *f).collect();
    for f in r
        .evidence
        .iter()
        .filter(|f| !generated.contains(&f.as_str()) && f.as_str() != "report.html")
    {
        let d = describe(f);
        let _ = writeln!(
            o,
            "<li><a href=\"{}\">{}</a>{}</li>",
            esc(&url_path(f)),
            esc(f),
            if d.is_empty() {
                String::new()
            } else {
                format!(" <span class=\"muted\">&ndash; {}</span>", prose_inline(d))
            }
        );
    }
    o.push_str("</ul>\n<h3>Reports</h3>\n<ul class=\"files\">\n");
    for (f, d) in GENERATED {
        let _ = writeln!(
            o,
            "<li><a href=\"{}\">{}</a> <span class=\"muted\">&ndash; {}</span></li>",
            url_path(f),
            f,
            prose_inline(d)
        );
    }
    o.push_str("</ul>\n</section>\n");
}

fn prose_inline(s: &str) -> String {
    let p = prose(s);
    p.trim()
        .trim_start_matches("<p>")
        .trim_end_matches("</p>")
        .to_string()
}

//! report.html: opened in headless Chromium (Debian's `chromium`), screenshotted, and
//! its DOM checked for the sequence diagram and the check table. Plus hostile input.

mod common;

use std::path::Path;
use std::process::Command;

use common::{missing, plaintext_run};

fn chromium(args: &[&str], page: &Path) -> std::process::Output {
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
        ])
        .args(args)
        .arg(url)
        .output()
        .expect("chromium starts")
}

/// `data-label` of each arrow of one sequence diagram, in drawing order.
fn arrow_labels(svg: &str) -> Vec<String> {
    svg.split("class=\"arrow ")
        .skip(1)
        .filter_map(|part| {
            let start = part.find("data-label=\"")? + "data-label=\"".len();
            let end = part[start..].find('"')?;
            Some(part[start..start + end].to_string())
        })
        .collect()
}

#[test]
fn html_report_renders_in_chromium() {
    let (dir, r) = plaintext_run("html");
    common::write_record(&dir, &r).unwrap();
    let page = dir.join("report.html");
    assert!(page.exists());
    if missing("chromium", "apt-get install chromium") {
        eprintln!("report.html was written to {}", page.display());
        return;
    }

    // A screenshot that is not blank.
    let shot = dir.join("screenshot.png");
    let out = chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000",
        ],
        &page,
    );
    assert!(
        shot.exists(),
        "no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 2000));
    let px = info.color_type.samples();
    let pixels: Vec<&[u8]> = buf[..info.buffer_size()].chunks(px).collect();
    let background = pixels[pixels.len() - 1].to_vec();
    let differing = pixels.iter().filter(|p| p[..3] != background[..3]).count();
    let mut colours: Vec<[u8; 3]> = pixels.iter().map(|p| [p[0], p[1], p[2]]).collect();
    colours.sort();
    colours.dedup();
    assert!(
        differing * 10 > pixels.len(),
        "the page looks blank: {differing} of {} pixels differ from the background",
        pixels.len()
    );
    assert!(
        colours.len() > 50,
        "only {} colours: not rendered",
        colours.len()
    );

    // The DOM Chromium built.
    let out = chromium(&["--dump-dom"], &page);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<svg class=\"sequence\""),
        "no sequence diagram in\n{dom}"
    );
    let diagrams: Vec<&str> = dom.split("<svg class=\"sequence\"").skip(1).collect();
    assert_eq!(
        diagrams.len(),
        2,
        "one diagram per association (C-ECHO, C-STORE)"
    );
    assert_eq!(
        arrow_labels(diagrams[0]),
        [
            "A-ASSOCIATE-RQ",
            "A-ASSOCIATE-AC",
            "C-ECHO-RQ",
            "C-ECHO-RSP Success",
            "A-RELEASE-RQ",
            "A-RELEASE-RP"
        ]
    );
    assert_eq!(
        arrow_labels(diagrams[1]),
        [
            "A-ASSOCIATE-RQ",
            "A-ASSOCIATE-AC",
            "C-STORE-RQ",
            "P-DATA",
            "P-DATA",
            "C-STORE-RSP Success",
            "A-RELEASE-RQ",
            "A-RELEASE-RP"
        ]
    );
    let store = diagrams[1];
    let first = store
        .find("A-ASSOCIATE request")
        .expect("A-ASSOCIATE request drawn");
    let last = store
        .find("A-RELEASE response")
        .expect("A-RELEASE response drawn");
    assert!(first < last);
    // Requests left to right, responses right to left, times T6.. in the second one.
    assert_eq!(store.matches("data-dir=\"rq\"").count(), 5);
    assert_eq!(store.matches("data-dir=\"rsp\"").count(), 3);
    assert!(store.contains("data-t=\"6\"") && store.contains("data-t=\"13\""));
    // Each end named by the node owning its address, its title its own.
    assert!(
        store.contains("<g class=\"lifeline\" data-side=\"requestor\" data-node=\"modality\"")
            && store.contains("<g class=\"lifeline\" data-side=\"acceptor\" data-node=\"pacs\""),
        "{store}"
    );
    assert!(store.contains(">AET MODALITY, its own</text>"), "{store}");
    assert!(!store.contains("impostor"), "{store}");
    assert!(store.contains("PHI in clear: PatientName=DOE^JANE"));

    // The check table: one row per check, with its outcome.
    let table = dom
        .split("<table id=\"check-table\">")
        .nth(1)
        .expect("check table")
        .split("</table>")
        .next()
        .unwrap();
    assert_eq!(table.matches("<tr class=\"check ").count(), r.checks.len());
    for c in &r.checks {
        assert!(
            table.contains(&format!("<tr class=\"check met\" data-check=\"{}\"", c.id)),
            "row of {}",
            c.id
        );
    }
    // PHI highlighted, topology drawn, evidence linked relatively.
    assert!(dom.contains("<mark class=\"phi\">DOE^JANE</mark>"));
    assert!(dom.contains("id=\"topology-svg\""));
    assert!(dom.contains("tap (bridge of clinical)"));
    assert!(dom.contains("<a href=\"capture.pcapng\">capture.pcapng</a>"));
    assert!(dom.contains("<a href=\"logs/pacs.log\">logs/pacs.log</a>"));
    assert!(
        !dom.contains("http://") || !dom.contains("src=\"http"),
        "no external asset"
    );
    eprintln!("screenshot: {}", shot.display());
}

#[test]
fn html_escapes_everything_from_the_evidence() {
    let (_, mut r) = plaintext_run("html-hostile");
    r.title = "</title><script>alert(1)</script>".into();
    r.checks[0].observed = "<img src=x onerror=alert(2)>".into();
    r.checks[0].details = vec!["</pre><script>alert(3)</script>".into()];
    r.evidence.push("javascript:alert(4)".into());
    r.error = Some("<iframe src=//evil>".into());
    let mut analysis = wire::analyze_file(
        &common::root().join("crates/wire/tests/fixtures/plaintext-store.pcapng"),
    )
    .unwrap();
    analysis.phi[0].value = "<svg onload=alert(5)>".into();
    analysis.events[0].info = "A-ASSOCIATE request <script>alert(6)</script>".into();
    analysis.events[0].calling_aet = Some("\"><script>".into());
    analysis
        .associations
        .iter_mut()
        .for_each(|a| a.calling_aet = Some("</text><script>alert(7)</script>".into()));
    let page = report::html(&r, Some(&analysis), None, &[]);
    for bad in [
        "<script",
        "<img",
        "<iframe",
        "<svg onload",
        "href=\"javascript:",
    ] {
        assert!(!page.contains(bad), "`{bad}` made it into the page");
    }
    assert!(page.contains("&lt;svg onload=alert(5)&gt;"));
    assert!(page.contains("href=\"javascript%3Aalert%284%29\""));
    assert!(page.contains("The resolved lab file (scenario.yaml) could not be read"));
}

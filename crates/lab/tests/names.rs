//! Who sent a packet, for real: `lab run proxy-tamper`, whose on-path proxy keeps the
//! modality's calling AE title. Every rendering must name the proxy's address as the
//! attacker in both associations (the modality's to it, its own to the PACS), with the AE
//! titles shown as what it claimed: the terminal, report.json, timeline.json, the HTML's
//! SVG as headless Chromium builds it, `lab inspect --addresses`, and `lab report` grading
//! again offline.
//!
//! The proxy's address is found in the capture (re-read here with wire), not taken from
//! the run's address map: the address that receives the modality's association and sends
//! the one to the PACS.

use std::path::Path;
use std::process::Command;

mod common;
use common::{expect_exit, lab, lab_in, only_run, report, runs_dir};

/// The proxy's IP in the capture: the acceptor of one association and the requestor of
/// another.
fn proxy_ip(capture: &Path) -> String {
    let a = wire::analyze_file(capture).unwrap();
    let ip = |e: &str| e.rsplit_once(':').unwrap().0.to_string();
    let servers: Vec<String> = a.associations.iter().map(|x| ip(&x.server)).collect();
    let both: Vec<String> = a
        .associations
        .iter()
        .map(|x| ip(&x.client))
        .filter(|c| servers.contains(c))
        .collect();
    assert_eq!(
        both.len(),
        1,
        "one address both accepts and requests: {:?}",
        a.associations
    );
    both[0].clone()
}

/// `(side, node, address, aet, aet node)` of each lifeline head, per diagram, from a DOM.
fn heads(dom: &str) -> Vec<Vec<[String; 5]>> {
    let attr = |g: &str, name: &str| {
        let key = format!(" {name}=\"");
        g.find(&key)
            .map(|i| {
                let rest = &g[i + key.len()..];
                rest[..rest.find('"').unwrap()].to_string()
            })
            .unwrap_or_default()
    };
    dom.split("<svg class=\"sequence\"")
        .skip(1)
        .map(|svg| {
            svg.split("<g class=\"lifeline")
                .skip(1)
                .map(|g| {
                    let g = &g[..g.find('>').unwrap()];
                    [
                        "data-side",
                        "data-node",
                        "data-address",
                        "data-aet",
                        "data-aet-node",
                    ]
                    .map(|n| attr(g, n))
                })
                .collect()
        })
        .collect()
}

fn chromium_dom(page: &Path) -> Option<String> {
    let have = Command::new("chromium").arg("--version").output().is_ok();
    if !have {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "chromium is not installed: apt-get install chromium"
        );
        eprintln!("not run here: chromium is not installed (apt-get install chromium)");
        return None;
    }
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-extensions",
            "--dump-dom",
        ])
        .arg(url)
        .output()
        .expect("chromium starts");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Every association end at the proxy's address is the attacker, and it is the acceptor
/// of one association and the requestor of another; the other ends are the modality and
/// the PACS, as their own titles say.
fn assert_named(assocs: &[serde_json::Value], proxy: &str, what: &str) {
    assert_eq!(assocs.len(), 2, "{what}: {assocs:?}");
    let ip = |e: &serde_json::Value| {
        e["address"]
            .as_str()
            .unwrap()
            .rsplit_once(':')
            .unwrap()
            .0
            .to_string()
    };
    let first = &assocs[0];
    let second = &assocs[1];
    assert_eq!(ip(&first["server"]), proxy, "{what}: {first}");
    assert_eq!(first["server"]["node"], "attacker", "{what}: {first}");
    assert_eq!(first["server"]["aet"], "ORTHANC", "{what}: {first}");
    assert_eq!(first["server"]["aet_node"], "pacs", "{what}: {first}");
    assert_eq!(first["client"]["node"], "modality", "{what}: {first}");
    assert_eq!(ip(&second["client"]), proxy, "{what}: {second}");
    assert_eq!(second["client"]["node"], "attacker", "{what}: {second}");
    assert_eq!(second["client"]["aet"], "MODALITY", "{what}: {second}");
    assert_eq!(second["client"]["aet_node"], "modality", "{what}: {second}");
    assert_eq!(second["server"]["node"], "pacs", "{what}: {second}");
}

#[test]
fn proxy_tamper_names_the_proxy_as_the_attacker_everywhere() {
    let dir = runs_dir("names-proxy");
    let out = lab_in(&dir, &["run", "proxy-tamper"]);
    let stdout = expect_exit(&out, 0);
    let run = only_run(&dir);
    let proxy = proxy_ip(&run.join("capture.pcapng"));

    // The evidence: the map the engine saved says the same (and `lab verify` covers it).
    let map: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("addresses.json")).unwrap()).unwrap();
    let attacker = map["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "attacker")
        .unwrap();
    assert_eq!(attacker["addresses"][0]["ipv4"], proxy.as_str(), "{map}");
    assert_eq!(attacker["addresses"][0]["network"], "clinical", "{map}");
    let sums = std::fs::read_to_string(run.join("SHA256SUMS")).unwrap();
    assert!(sums.contains("  addresses.json\n"), "{sums}");
    expect_exit(&lab().arg("verify").arg(&run).output().unwrap(), 0);

    // report.json.
    let r = report(&run);
    let assocs = r["associations"].as_array().expect("associations").clone();
    assert_named(&assocs, &proxy, "report.json");

    // The terminal: the attacker's address under the attacker's name, in both.
    let lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("association "))
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].contains(&format!("-> attacker {proxy}:"))
            && lines[0].contains("(claims AET ORTHANC, the AE title of pacs)"),
        "{stdout}"
    );
    assert!(
        lines[1].contains(&format!(": attacker {proxy}:"))
            && lines[1].contains("(claims AET MODALITY, the AE title of modality) -> pacs "),
        "{stdout}"
    );

    // timeline.json: each event's ends by node.
    let timeline = std::fs::read_to_string(run.join("timeline.json")).unwrap();
    let events: Vec<serde_json::Value> = timeline
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(!events.is_empty());
    for e in &events {
        for (addr, node) in [("src", "src_node"), ("dst", "dst_node")] {
            let at_proxy = e[addr].as_str().unwrap().starts_with(&format!("{proxy}:"));
            assert_eq!(e[node] == "attacker", at_proxy, "{e}");
        }
    }

    // The HTML's SVG as Chromium builds it: the attacker's address is the attacker,
    // claiming the PACS's title in the first association, the modality's in the second.
    if let Some(dom) = chromium_dom(&run.join("report.html")) {
        let h = heads(&dom);
        assert_eq!(h.len(), 2, "two diagrams: {h:?}");
        let at = |d: usize, s: usize| &h[d][s];
        assert_eq!(at(0, 1)[0], "acceptor");
        assert!(at(0, 1)[2].starts_with(&format!("{proxy}:")), "{h:?}");
        assert_eq!(
            [&at(0, 1)[1], &at(0, 1)[3], &at(0, 1)[4]],
            ["attacker", "ORTHANC", "pacs"],
            "{h:?}"
        );
        assert_eq!(at(0, 0)[1], "modality", "{h:?}");
        assert_eq!(at(1, 0)[0], "requestor");
        assert!(at(1, 0)[2].starts_with(&format!("{proxy}:")), "{h:?}");
        assert_eq!(
            [&at(1, 0)[1], &at(1, 0)[3], &at(1, 0)[4]],
            ["attacker", "MODALITY", "modality"],
            "{h:?}"
        );
        assert_eq!(at(1, 1)[1], "pacs", "{h:?}");
        // What a reader sees: the attacker's name in the head, the borrowed title as a claim.
        let second = dom.split("<svg class=\"sequence\"").nth(2).unwrap();
        assert!(second.contains(">attacker</text>"), "{second}");
        assert!(second.contains(">claims AET MODALITY</text>"), "{second}");
        assert!(
            second.contains(">the AE title of modality</text>"),
            "{second}"
        );
    }

    // `lab inspect --addresses`: the same names from the map, offline; without it, as before.
    let inspect = |extra: &[&str]| {
        let out = lab()
            .arg("inspect")
            .arg(run.join("capture.pcapng"))
            .args(extra)
            .output()
            .unwrap();
        expect_exit(&out, 0)
    };
    let map_file = run.join("addresses.json");
    let table = inspect(&["--addresses", map_file.to_str().unwrap()]);
    let endpoints: Vec<&str> = table
        .lines()
        .filter(|l| l.contains("endpoints: "))
        .collect();
    assert_eq!(endpoints.len(), 2, "{table}");
    assert!(
        endpoints
            .iter()
            .any(|l| l.contains(&format!("attacker {proxy}:"))
                && l.contains("(claims AET MODALITY, the AE title of modality) -> pacs ")),
        "{table}"
    );
    let plain = inspect(&[]);
    assert!(
        !plain.contains("endpoints: ") && !plain.contains("attacker"),
        "{plain}"
    );
    let json = inspect(&["--json", "--addresses", run.to_str().unwrap()]);
    let named: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "association")
        .collect();
    assert!(
        named
            .iter()
            .any(|a| a["client_node"] == "attacker" && a["calling_aet_node"] == "modality"),
        "{json}"
    );

    // Grading again offline names the ends the same way.
    let again = lab().arg("report").arg(&run).output().unwrap();
    expect_exit(&again, 0);
    let regraded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("regrade/report.json")).unwrap()).unwrap();
    assert_eq!(regraded["associations"], r["associations"]);
    let html = std::fs::read_to_string(run.join("regrade/report.html")).unwrap();
    assert_eq!(
        html.matches("data-node=\"attacker\"").count(),
        2,
        "regrade/report.html"
    );
}

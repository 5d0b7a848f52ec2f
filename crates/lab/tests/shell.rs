//! `lab completions` and `lab man` (no Docker needed): the bash script really completes in
//! bash, and the roff page holds every subcommand.

use std::path::Path;
use std::process::Command;

fn lab(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lab"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// The subcommands `lab --help` lists (the help is clap's, from the same definitions).
fn subcommands() -> Vec<String> {
    let (code, out, _) = lab(&["--help"]);
    assert_eq!(code, Some(0));
    let mut names = Vec::new();
    let mut in_list = false;
    for l in out.lines() {
        if l.starts_with("Commands:") {
            in_list = true;
        } else if in_list && l.starts_with("  ") && !l.starts_with("   ") {
            let name = l.split_whitespace().next().unwrap();
            if name != "help" {
                names.push(name.to_string());
            }
        } else if in_list && !l.starts_with(' ') {
            break;
        }
    }
    assert!(
        names.len() > 15 && names.iter().any(|n| n == "explain"),
        "{names:?}"
    );
    names
}

/// What bash's completion offers for the words typed so far, from the generated script.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let cur = words.last().unwrap();
    let prev = words[words.len() - 2];
    let program = format!(
        "source {script}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE='{line}'\nCOMP_POINT=${{#COMP_LINE}}\n_lab lab '{cur}' '{prev}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display(),
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1,
        line = words.join(" "),
    );
    let out = Command::new("bash")
        .args(["--norc", "-c", &program])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_flags_from_the_generated_script() {
    let (code, script, err) = lab(&["completions", "bash"]);
    assert_eq!(code, Some(0), "{err}");
    let dir = std::env::temp_dir().join(format!("lab-shell-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("lab.bash");
    std::fs::write(&file, &script).unwrap();

    let syntax = Command::new("bash").arg("-n").arg(&file).status().unwrap();
    assert!(syntax.success(), "bash -n refuses the script");

    let got = bash_complete(&file, &["lab", "ex"]);
    assert!(
        got.contains(&"explain".to_string()) && got.contains(&"export".to_string()),
        "{got:?}"
    );
    assert!(!got.contains(&"run".to_string()), "{got:?}");
    let got = bash_complete(&file, &["lab", "run", "--ke"]);
    assert_eq!(got, vec!["--keep".to_string()]);
    let got = bash_complete(&file, &["lab", "completions", ""]);
    for shell in ["bash", "zsh", "fish"] {
        assert!(got.contains(&shell.to_string()), "{got:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zsh_and_fish_scripts_name_every_subcommand() {
    let names = subcommands();
    for (shell, marker) in [("zsh", "#compdef lab"), ("fish", "complete -c lab")] {
        let (code, script, err) = lab(&["completions", shell]);
        assert_eq!(code, Some(0), "{err}");
        assert!(script.contains(marker), "{shell}: no `{marker}`");
        let missing: Vec<&String> = names.iter().filter(|n| !script.contains(*n)).collect();
        assert!(missing.is_empty(), "{shell} misses {missing:?}");
    }
    let (code, _, err) = lab(&["completions", "tcsh"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("possible values"), "{err}");
}

/// The `.SH` sections and `.TH` title of a roff page, and whether every request line is
/// one man(7) knows: a page clap_mangen got wrong would not render.
fn roff_problems(page: &str) -> Vec<String> {
    const MACROS: &[&str] = &[
        "TH", "SH", "SS", "TP", "PP", "LP", "P", "IP", "RS", "RE", "B", "I", "BR", "IR", "RB",
        "RI", "BI", "IB", "br", "sp", "nf", "fi", "ie", "el", "if", "ds", "nr", "in", "ti", "TQ",
        "EX", "EE", "UR", "UE", "MT", "ME", "SY", "YS", "OP", "ne", "ft", "ad", "na", "hy", "nh",
    ];
    page.lines()
        .filter(|l| l.starts_with('.') && !l.starts_with(".\\\""))
        .filter_map(|l| {
            let name = l[1..].split_whitespace().next().unwrap_or("");
            (!MACROS.contains(&name)).then(|| format!("unknown request: {l}"))
        })
        .collect()
}

#[test]
fn man_page_is_roff_with_every_subcommand() {
    let (code, page, err) = lab(&["man"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        page.starts_with(".ie") || page.contains("\n.TH lab 1"),
        "{page}"
    );
    assert!(page.contains(".TH lab 1"), "no .TH title");
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    let problems = roff_problems(&page);
    assert!(problems.is_empty(), "{problems:?}");
    for name in subcommands() {
        assert!(page.contains(&format!("lab\\-{name}")), "no lab-{name}");
    }
    // Where man-db is installed, it formats the page without a warning.
    if Command::new("man").arg("--version").output().is_ok() {
        let dir = std::env::temp_dir().join(format!("lab-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("lab.1");
        std::fs::write(&file, &page).unwrap();
        let out = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .unwrap();
        // man prints bold as overstrike (`X\x08X`) even into a pipe: keep the letters.
        let raw = String::from_utf8_lossy(&out.stdout);
        let mut text = String::new();
        for c in raw.chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("SUBCOMMANDS") && text.contains("explain"),
            "{text}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn man_out_writes_one_page_per_subcommand() {
    let dir = std::env::temp_dir().join(format!("lab-man-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (code, _, err) = lab(&["man", "--out", dir.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(dir.join("lab.1").is_file());
    for name in subcommands() {
        let page = dir.join(format!("lab-{name}.1"));
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|_| panic!("no {}", page.display()));
        assert!(
            text.contains(&format!(".TH lab-{name} 1")),
            "{name}: {text}"
        );
        assert!(roff_problems(&text).is_empty(), "{name}");
    }
    let run = std::fs::read_to_string(dir.join("lab-run.1")).unwrap();
    assert!(run.contains("\\-\\-keep"), "lab-run.1 has no --keep");
    let _ = std::fs::remove_dir_all(&dir);
}

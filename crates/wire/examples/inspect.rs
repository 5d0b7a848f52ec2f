//! `cargo run -p wire --example inspect -- capture.pcapng [--json]`: print the DICOM
//! timeline, PHI seen and issues of a capture.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: inspect <capture.pcap|capture.pcapng> [--json]");
        return std::process::ExitCode::from(2);
    };
    match wire::analyze_file(std::path::Path::new(path)) {
        Ok(a) if args.iter().any(|a| a == "--json") => {
            println!("{}", serde_json::to_string_pretty(&a).expect("serialize"));
            std::process::ExitCode::SUCCESS
        }
        Ok(a) => {
            print!("{}", wire::render_table(&a));
            for p in &a.phi {
                println!("PHI stream {} {} = {}", p.stream, p.keyword, p.value);
            }
            for e in &a.errors {
                println!("ISSUE {e:?}");
            }
            println!("{} packets, {} DICOM streams", a.packets, a.dicom_streams);
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

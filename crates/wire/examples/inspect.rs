//! `cargo run -p wire --example inspect -- capture.pcapng [--json]`: print the DICOM
//! timeline, PHI seen, issues and association summaries of a capture as it is read (the
//! same output as `lab inspect`).

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("usage: inspect <capture.pcap|capture.pcapng> [--json]");
        return std::process::ExitCode::from(2);
    };
    let path = std::path::Path::new(path);
    let out = std::io::BufWriter::new(std::io::stdout().lock());
    let result = if args.iter().any(|a| a == "--json") {
        let mut sink = wire::JsonLines::new(out);
        wire::analyze_file_with(path, &mut sink).map(|t| sink.finish(&t).map(drop))
    } else {
        let mut sink = wire::Table::new(out);
        wire::analyze_file_with(path, &mut sink).map(|t| sink.finish(&t).map(drop))
    };
    match result {
        Ok(Ok(())) => std::process::ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error writing: {e}");
            std::process::ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

//! Runs the attacker and IDS subcommands of `lab-agent` ([`protocol::AttackCommand`]).
//!
//! Contract with the engine: one JSON line on stdout carrying `"action"` and `"success"`
//! (whether the attack worked); exit 0 when the action ran (whatever `success` says), 4 when
//! the target was unreachable, 1 on any other error (with `"error"` in the JSON), 2 on bad
//! usage.

use super::fingerprint::{self, FingerprintOptions};
use super::rest::{self, Rest};
use super::scan::{self, FloodOptions, ScanOptions};
use crate::error::AgentError;
use crate::process::{emit, emit_value, runtime, shutdown_signal};
use protocol::AttackCommand;
use protocol::attack::{RestArgs, RestLogin};
use protocol::result::{self as out, PolyglotAttempt, RestWriteAttempt, keys, tags, to_value};
use serde_json::Value;

/// The line of an attack that could not start: its action (the error is added by
/// [`finish`]).
fn attempt(action: &str) -> Value {
    to_value(&out::Outcome {
        action: Some(action.into()),
        ..Default::default()
    })
}
use std::process::ExitCode;
use std::time::Duration;

/// The REST client of Orthanc's API the options name.
fn rest_client(rest: &RestArgs, login: &RestLogin) -> Result<Rest, AgentError> {
    Rest::new(
        &rest.url,
        login.user.as_deref(),
        login.password.as_deref(),
        Duration::from_secs(rest.timeout_secs.clamp(1, 60)),
    )
}

/// Print the JSON line and map the result to the exit code.
pub fn finish(r: Result<Value, (Value, AgentError)>) -> ExitCode {
    match r {
        Ok(v) => {
            emit(&v);
            ExitCode::SUCCESS
        }
        Err((mut v, e)) => {
            if let Some(m) = v.as_object_mut() {
                m.insert(keys::ERROR.into(), Value::from(e.message.clone()));
                m.entry(keys::SUCCESS).or_insert(Value::Bool(false));
            }
            emit(&v);
            eprintln!("lab-agent: {}", e.message);
            // Refused is not an outcome of these tools: a refusal is a result (exit 0).
            let code = match e.kind {
                crate::FailureKind::Unreachable => 4,
                _ => 1,
            };
            ExitCode::from(code)
        }
    }
}

pub fn run(cmd: AttackCommand) -> ExitCode {
    match cmd {
        AttackCommand::ArpSpoof {
            iface,
            target,
            impersonate,
            target_mac,
            opts,
        } => {
            let base = attempt("arp-spoof");
            let target_mac = match target_mac.as_deref().map(super::arp::parse_mac) {
                None => None,
                Some(Some(m)) => Some(m),
                Some(None) => {
                    return finish(Err((
                        base,
                        AgentError::other("--target-mac: use aa:bb:cc:dd:ee:ff"),
                    )));
                }
            };
            finish(super::arp::spoof(&super::arp::ArpOptions {
                iface,
                target,
                impersonate,
                target_mac,
                both_ways: opts.both_ways,
                count: opts.count,
                interval: Duration::from_millis(opts.interval_ms),
            }))
        }
        AttackCommand::Ids {
            iface,
            alerts,
            opts,
        } => cmd_ids(crate::ids::IdsOptions {
            iface,
            alerts,
            window: Duration::from_secs(opts.window_secs),
            snaplen: opts.snaplen,
            thresholds: crate::ids::Thresholds::from_options(&opts),
        }),
        AttackCommand::Proxy {
            listen,
            upstream,
            max_secs,
            opts:
                protocol::attack::ProxyOptions {
                    rewrite_patient,
                    tamper_pixels,
                    idle_secs,
                },
        } => {
            if rewrite_patient.len() > 64 || !rewrite_patient.is_ascii() {
                return finish(Err((
                    attempt("proxy"),
                    AgentError::other("--rewrite-patient: at most 64 ASCII characters"),
                )));
            }
            let rt = runtime();
            let signal = {
                let _g = rt.enter();
                shutdown_signal()
            };
            let opts = super::proxy::ProxyOptions {
                listen,
                upstream,
                new_name: rewrite_patient,
                tamper_pixels,
                max_time: Duration::from_secs(max_secs),
                idle_timeout: Duration::from_secs(idle_secs.clamp(1, 600)),
            };
            match rt.block_on(super::proxy::run(opts, signal, emit_value)) {
                Ok(v) => finish(Ok(v)),
                Err(e) => finish(Err((attempt("proxy"), AgentError::other(e)))),
            }
        }
        AttackCommand::RestProbe { rest, opts } => match rest_client(&rest, &opts.login) {
            Ok(r) => finish(rest::probe(&r, opts.download)),
            Err(e) => finish(Err((attempt("rest-probe"), e))),
        },
        AttackCommand::RestWrite { rest, opts } => match rest_client(&rest, &opts.login) {
            Ok(r) => finish(rest::rest_write(&r, &opts.path)),
            Err(e) => finish(Err((
                to_value(&RestWriteAttempt {
                    action: "rest-write".into(),
                    path: opts.path,
                }),
                e,
            ))),
        },
        AttackCommand::UploadPolyglot { rest, opts } => match rest_client(&rest, &opts.login) {
            Ok(r) => finish(rest::upload_polyglot(&r, opts.preamble.into())),
            Err(e) => finish(Err((
                to_value(&PolyglotAttempt {
                    action: "upload-polyglot".into(),
                    preamble: opts.preamble.name().into(),
                }),
                e,
            ))),
        },
        AttackCommand::Fingerprint {
            host,
            port,
            called,
            url,
            opts,
        } => finish(fingerprint::fingerprint(&FingerprintOptions {
            host,
            port,
            calling: opts.calling,
            called,
            url,
            user: opts.user,
            password: opts.password,
            timeout: Duration::from_secs(opts.timeout_secs.clamp(1, 60)),
        })),
        AttackCommand::AetScan {
            host,
            port,
            calling,
            opts,
        } => {
            let called = match scan::parse_aet_list(&opts.called.join(",")) {
                Ok(c) => c,
                Err(e) => return finish(Err((attempt("aet-scan"), e))),
            };
            finish(scan::aet_scan(&ScanOptions {
                host,
                port,
                calling,
                called,
                random_probe: opts.random_probe,
                max: opts.max as usize,
                delay: Duration::from_millis(opts.delay_ms.min(60_000)),
                timeout: Duration::from_secs(opts.timeout_secs.clamp(1, 60)),
                max_time: Duration::from_secs(opts.max_secs.clamp(1, 3600)),
            }))
        }
        AttackCommand::Flood {
            host,
            port,
            calling,
            opts,
        } => finish(scan::flood(&FloodOptions {
            host,
            port,
            calling,
            called: opts.called,
            associations: opts.associations,
            concurrency: opts.concurrency,
            max_time: Duration::from_secs(opts.max_secs),
            hold: Duration::from_millis(opts.hold_ms.min(10_000)),
            timeout: Duration::from_secs(opts.timeout_secs.clamp(1, 30)),
        })),
    }
}

fn cmd_ids(opts: crate::ids::IdsOptions) -> ExitCode {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let signal = {
        let _g = rt.enter();
        shutdown_signal()
    };
    rt.spawn(async move {
        signal.await;
        flag.store(true, Ordering::SeqCst);
    });
    let iface = opts.iface.clone();
    let alerts = opts.alerts.display().to_string();
    let result = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            crate::ids::run(
                &opts,
                stop,
                || {
                    emit(&out::Capturing {
                        alerts: Some(alerts),
                        event: tags::Capturing,
                        iface,
                    })
                },
                emit::<protocol::result::Alert>,
            )
        })
        .await
    });
    match result {
        Ok(Ok(stats)) => {
            emit(&out::IdsStopped {
                alerts: stats.alerts,
                event: tags::Stopped,
                packets: stats.packets,
            });
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            let msg = format!("{e:#}");
            emit(&out::ErrorEvent {
                error: msg.clone(),
                event: tags::Error,
                ok: None,
            });
            eprintln!("lab-agent: {msg}");
            ExitCode::from(1)
        }
        Err(e) => {
            emit(&out::ErrorEvent {
                error: format!("the IDS thread crashed: {e}"),
                event: tags::Error,
                ok: None,
            });
            ExitCode::from(1)
        }
    }
}

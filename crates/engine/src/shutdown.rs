//! SIGINT and SIGTERM, caught once per `lab` command and shared by everything it runs.
//!
//! One `lab` process owns the signals: `lab run` passes its handle to its one run, `lab
//! test` and `lab grade` to every run of the batch (which then stops launching runs while
//! those in flight save their evidence and tear down), `lab capture` stops on it. Each
//! holder asks the same counter, so no run can eat a signal the batch needed to see.
//! Once installed, the default action (die on the spot, leaving the lab up) never comes
//! back for the life of the process.

use std::sync::Arc;

use tokio::sync::watch;

/// A shared view of the signals received so far. Cloning shares it.
#[derive(Clone)]
pub struct Shutdown {
    rx: watch::Receiver<(u32, &'static str)>,
    _task: Arc<Listener>,
}

/// Stops listening when the last handle goes.
struct Listener(Option<tokio::task::JoinHandle<()>>);

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

impl std::fmt::Debug for Shutdown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (n, name) = *self.rx.borrow();
        f.debug_struct("Shutdown")
            .field("signals", &n)
            .field("last", &name)
            .finish()
    }
}

impl Shutdown {
    /// Catches SIGINT and SIGTERM from now on (inside a tokio runtime).
    pub fn install() -> Shutdown {
        use tokio::signal::unix::{SignalKind, signal};
        let (tx, rx) = watch::channel((0u32, ""));
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        let task = tokio::spawn(async move {
            async fn next(s: &mut Option<tokio::signal::unix::Signal>) {
                match s.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            loop {
                let name = tokio::select! {
                    _ = next(&mut int) => "SIGINT (Ctrl-C)",
                    _ = next(&mut term) => "SIGTERM",
                };
                tx.send_modify(|(n, s)| {
                    *n += 1;
                    *s = name;
                });
            }
        });
        Shutdown {
            rx,
            _task: Arc::new(Listener(Some(task))),
        }
    }

    /// A handle no signal ever reaches (for callers that own no process, e.g. tests of
    /// the library).
    pub fn never() -> Shutdown {
        // A closed channel never changes again.
        let (_, rx) = watch::channel((0u32, ""));
        Shutdown {
            rx,
            _task: Arc::new(Listener(None)),
        }
    }

    /// Waits until at least `count` signals have come in all; returns the last one's name.
    pub async fn wait(&self, count: u32) -> &'static str {
        let mut rx = self.rx.clone();
        loop {
            let (n, name) = *rx.borrow_and_update();
            if n >= count {
                return name;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The last signal received, if any.
    pub fn last(&self) -> Option<&'static str> {
        let (n, name) = *self.rx.borrow();
        (n > 0).then_some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every clone sees the one signal; a second one is counted apart.
    #[tokio::test]
    async fn one_signal_is_seen_by_every_holder() {
        let s = Shutdown::install();
        let batch = s.clone();
        let run = s.clone();
        assert_eq!(s.last(), None);
        // The handler is registered when `install` returns: the signal cannot be lost.
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let name = tokio::time::timeout(std::time::Duration::from_secs(5), run.wait(1))
            .await
            .expect("the run saw the signal");
        assert_eq!(name, "SIGTERM");
        assert_eq!(batch.last(), Some("SIGTERM"));
        let second = tokio::time::timeout(std::time::Duration::from_millis(200), run.wait(2));
        assert!(second.await.is_err(), "a second signal was never sent");
    }

    #[tokio::test]
    async fn never_never_fires() {
        let s = Shutdown::never();
        assert_eq!(s.last(), None);
        let w = tokio::time::timeout(std::time::Duration::from_millis(50), s.wait(1));
        assert!(w.await.is_err());
    }
}

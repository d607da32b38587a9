//! A tiny TAP test runner for the Rust userspace tests that run in the VM.

use std::io;
use std::sync::mpsc;
use std::time::Duration;

/// The family number the loaded module registered (from sysfs, through
/// `afc_socket::family`; `AFC_FAMILY=inet` makes it AF_INET for a run
/// on a host without the module).
pub fn family() -> io::Result<i32> {
    afc_socket::family()
}

/// A named test returning `Err(reason)` on failure.
pub type Test = (&'static str, fn() -> Result<(), String>);

/// How long one test may take before it counts as failed (a hung test
/// must not cost the whole program its Totals line):
/// `AFC_RUST_TEST_TIMEOUT` seconds, default 60.
fn per_test_timeout() -> Duration {
    let secs = std::env::var("AFC_RUST_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

/// Runs `tests` printing TAP (as kselftest does); exits 1 if any failed.
/// Each test runs in its own thread; one that panics or outlives the
/// per-test timeout fails and the next one runs.
pub fn run(suite: &str, tests: &[Test]) -> ! {
    println!("TAP version 13");
    println!("1..{}", tests.len());
    let timeout = per_test_timeout();
    let mut failed = 0;
    for (i, &(name, test)) in tests.iter().enumerate() {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let r = std::panic::catch_unwind(test).unwrap_or_else(|p| {
                    let msg = p
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| p.downcast_ref::<&str>().copied())
                        .unwrap_or("?");
                    Err(format!("panicked: {msg}"))
                });
                let _ = tx.send(r);
            });
        let result = match spawned {
            Err(e) => Err(format!("cannot start the test thread: {e}")),
            Ok(_) => rx
                .recv_timeout(timeout)
                .unwrap_or_else(|_| Err(format!("did not finish within {} s", timeout.as_secs()))),
        };
        match result {
            Ok(()) => println!("ok {} {}.{}", i + 1, suite, name),
            Err(why) => {
                failed += 1;
                println!("# {}: {}", name, why);
                println!("not ok {} {}.{}", i + 1, suite, name);
            }
        }
    }
    println!(
        "# Totals: pass:{} fail:{} xfail:0 xpass:0 skip:0 error:0",
        tests.len() - failed,
        failed
    );
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

/// Fails with `what` and the OS error if `cond` is false.
pub fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(format!("{} (errno: {})", what, io::Error::last_os_error()))
    }
}

/// Fails with `what` (no errno) if `cond` is false.
pub fn ensure(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// Turns an `io::Result` into the runner's `Result<_, String>`, naming
/// the step that failed.
pub trait Ctx<T> {
    /// `Err("what: error (kind)")` on failure.
    fn ctx(self, what: &str) -> Result<T, String>;
}

impl<T> Ctx<T> for io::Result<T> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {e} ({:?})", e.kind()))
    }
}

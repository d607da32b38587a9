//! A tiny TAP test runner for the Rust userspace tests that run in the VM.

use std::io;

/// The family number the loaded module registered, read from sysfs.
pub fn family() -> io::Result<i32> {
    let s = std::fs::read_to_string("/sys/module/af_custom/parameters/family")?;
    s.trim()
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A named test returning `Err(reason)` on failure.
pub type Test = (&'static str, fn() -> Result<(), String>);

/// Runs `tests` printing TAP (as kselftest does); exits 1 if any failed.
pub fn run(suite: &str, tests: &[Test]) -> ! {
    println!("TAP version 13");
    println!("1..{}", tests.len());
    let mut failed = 0;
    for (i, (name, test)) in tests.iter().enumerate() {
        match test() {
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

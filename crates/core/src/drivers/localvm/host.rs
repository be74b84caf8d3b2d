//! What this computer has, for the local VM forms' bounds: CPUs and memory. Read once.

use std::sync::OnceLock;

/// Logical CPUs.
pub fn cpus() -> Option<i64> {
    static CPUS: OnceLock<Option<i64>> = OnceLock::new();
    *CPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as i64)
    })
}

/// Physical memory in MB.
pub fn memory_mb() -> Option<i64> {
    static MEMORY: OnceLock<Option<i64>> = OnceLock::new();
    *MEMORY.get_or_init(read_memory_mb)
}

#[cfg(target_os = "linux")]
fn read_memory_mb() -> Option<i64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: i64 = info
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb / 1024)
}

#[cfg(target_os = "macos")]
fn read_memory_mb() -> Option<i64> {
    let mut bytes: u64 = 0;
    let mut len = std::mem::size_of::<u64>();
    // SAFETY: hw.memsize is a u64; `bytes` and `len` describe a buffer of that size.
    let rc = unsafe {
        libc::sysctlbyname(
            c"hw.memsize".as_ptr(),
            (&mut bytes as *mut u64).cast(),
            &mut len,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0).then(|| (bytes / (1024 * 1024)) as i64)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn read_memory_mb() -> Option<i64> {
    // Windows: the form keeps its static bound (GlobalMemoryStatusEx would need a binding).
    None
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(target_os = "linux")]
    fn this_computer_has_cpus_and_memory() {
        assert!(super::cpus().unwrap() >= 1);
        assert!(super::memory_mb().unwrap() >= 256);
    }
}

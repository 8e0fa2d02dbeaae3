//! The process's own figures, read from `/proc/self` at each scrape:
//! CPU time, memory, descriptors, threads, start time. Named as every
//! Prometheus client library names them (`process_*`), so the usual
//! dashboards and alerts apply unchanged.
//!
//! Clock ticks in `/proc/self/stat` are taken as 1/100 s: Linux reports
//! them in USER_HZ, which is 100 on every architecture it runs on today
//! (reading `sysconf(_SC_CLK_TCK)` would take `unsafe`, which the host
//! keeps to five modules).

/// Clock ticks per second in `/proc` (USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// What was read; a figure `/proc` did not give is None (not Linux, or a
/// line that changed shape).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Process {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub threads: Option<u64>,
    pub start_time_seconds: Option<f64>,
}

/// Reads the figures now.
pub fn read() -> Process {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|text| boot_time(&text));
    let stat = stat.as_deref().and_then(parse_stat);
    let status = status.as_deref();
    Process {
        cpu_seconds: stat.map(|s| (s.utime + s.stime) as f64 / TICKS_PER_SECOND),
        resident_bytes: status.and_then(|s| kib_field(s, "VmRSS:")),
        virtual_bytes: status.and_then(|s| kib_field(s, "VmSize:")),
        open_fds: std::fs::read_dir("/proc/self/fd")
            .ok()
            .map(|entries| entries.count() as u64),
        max_fds: crate::open_files::soft_limit(),
        threads: status.and_then(|s| field(s, "Threads:")),
        start_time_seconds: stat
            .zip(boot)
            .map(|(s, boot)| boot as f64 + s.starttime as f64 / TICKS_PER_SECOND),
    }
}

/// The fields of `/proc/self/stat` used here, in clock ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stat {
    utime: u64,
    stime: u64,
    starttime: u64,
}

/// `/proc/<pid>/stat`: the command name, in parentheses, may hold spaces
/// and parentheses, so fields are counted after its last `)`.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is the first; utime is field 14,
    // stime 15, starttime 22.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let at = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        utime: at(14)?,
        stime: at(15)?,
        starttime: at(22)?,
    })
}

/// The boot time, in Unix seconds, from `/proc/stat`'s `btime` line.
fn boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// A `Name: value` line of `/proc/self/status`, as a number.
fn field(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

/// A `Name: N kB` line of `/proc/self/status`, in bytes.
fn kib_field(status: &str, name: &str) -> Option<u64> {
    field(status, name).map(|kib| kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let text = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 1 0 0 0 \
                    250 125 0 0 20 0 7 0 98765 1000000 500 18446744073709551615";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                utime: 250,
                stime: 125,
                starttime: 98765
            })
        );
        assert_eq!(parse_stat("4242 (short) S 1"), None);
    }

    #[test]
    fn status_lines_are_read_by_name() {
        let status = "Name:\tmqhost\nVmSize:\t  10240 kB\nVmRSS:\t   2048 kB\nThreads:\t3\n";
        assert_eq!(kib_field(status, "VmRSS:"), Some(2048 * 1024));
        assert_eq!(kib_field(status, "VmSize:"), Some(10240 * 1024));
        assert_eq!(field(status, "Threads:"), Some(3));
        assert_eq!(field(status, "VmSwap:"), None);
        assert_eq!(
            boot_time("cpu 1 2\nbtime 1700000000\n"),
            Some(1_700_000_000)
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_is_read_whole() {
        let process = read();
        assert!(process.cpu_seconds.is_some());
        assert!(process.resident_bytes.is_some_and(|b| b > 0));
        assert!(process.virtual_bytes.is_some_and(|b| b > 0));
        assert!(process.open_fds.is_some_and(|n| n > 0));
        assert!(process.threads.is_some_and(|n| n > 0));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = process.start_time_seconds.unwrap();
        assert!(
            started <= now + 1.0 && started > now - 86_400.0,
            "{started} {now}"
        );
    }
}

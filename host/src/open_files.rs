//! Open-file settings the broker makes before it accepts thousands of
//! connections, each one a descriptor.
//!
//! - The soft limit on open files is raised to the hard limit (as Go's
//!   runtime and nginx's `worker_rlimit_nofile` do), so that 1,024, where a
//!   login shell leaves it, is not the broker's connection limit.
//! - The kernel's descriptor table is grown once, up front, to room for
//!   [`TABLE`] descriptors. Linux doubles the table as descriptors are
//!   opened and, in a multi-threaded process, waits for an RCU grace period
//!   at each doubling (`expand_fdtable`): the accepting thread stopped for
//!   about 20 ms at 256, 512, ... 8,192 connections, which was the 99th
//!   percentile of connection setup. Before the runtime starts its threads
//!   the growth costs no grace period, and the table never shrinks.
//!
//! The system calls here are the host's third `unsafe`.
#![allow(unsafe_code)]

/// Descriptors the table is grown to hold, at most (the soft limit caps
/// it): half a megabyte of kernel memory.
pub const TABLE: u64 = 65_536;
/// The soft limit is raised no higher than this, whatever the hard limit.
const MAX_SOFT: u64 = 1 << 20;

/// What [`prepare`] did, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenFiles {
    /// The soft limit before.
    pub was: u64,
    /// The soft limit now.
    pub soft: u64,
    /// Descriptors the table holds without growing.
    pub table: u64,
}

/// Raises the soft limit and grows the descriptor table. Call it before
/// any thread starts; failures leave things as they were.
pub fn prepare() -> Option<OpenFiles> {
    let (was, hard) = sys::limit()?;
    let wanted = hard.min(MAX_SOFT).max(was);
    let soft = if wanted > was && sys::set_limit(wanted, hard) {
        wanted
    } else {
        was
    };
    let table = soft.min(TABLE);
    let table = if sys::grow_table(table) { table } else { 0 };
    Some(OpenFiles { was, soft, table })
}

/// The soft limit on open files now, if it can be read.
pub fn soft_limit() -> Option<u64> {
    sys::limit().map(|(soft, _)| soft)
}

#[cfg(unix)]
mod sys {
    use std::os::fd::AsRawFd;

    /// The soft and hard limits on open files.
    #[allow(clippy::unnecessary_cast)] // rlim_t is not u64 on every unix
    pub fn limit() -> Option<(u64, u64)> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes the struct it is given, nothing else.
        let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
        ok.then_some((limit.rlim_cur as u64, limit.rlim_max as u64))
    }

    pub fn set_limit(soft: u64, hard: u64) -> bool {
        let limit = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: setrlimit reads the struct it is given, nothing else.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 }
    }

    /// Opens a descriptor numbered `size - 1` and closes it: the table
    /// grows to hold it.
    pub fn grow_table(size: u64) -> bool {
        let Ok(lowest) = libc::c_int::try_from(size.saturating_sub(1)) else {
            return false;
        };
        let Ok(null) = std::fs::File::open("/dev/null") else {
            return false;
        };
        // SAFETY: F_DUPFD_CLOEXEC duplicates a descriptor we own onto the
        // lowest free number at or above `lowest`; the duplicate is closed
        // at once and used for nothing else.
        unsafe {
            let copy = libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, lowest);
            if copy < 0 {
                return false;
            }
            libc::close(copy);
        }
        true
    }
}

#[cfg(not(unix))]
mod sys {
    pub fn limit() -> Option<(u64, u64)> {
        None
    }

    pub fn set_limit(_soft: u64, _hard: u64) -> bool {
        false
    }

    pub fn grow_table(_size: u64) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_reaches_the_hard_one_and_the_table_is_grown() {
        let Some((_, hard)) = sys::limit() else {
            return;
        };
        let done = prepare().expect("limits are readable");
        assert_eq!(done.soft, hard.min(MAX_SOFT).max(done.was));
        assert_eq!(done.table, done.soft.min(TABLE));
        assert_eq!(sys::limit().map(|(soft, _)| soft), Some(done.soft));
    }
}

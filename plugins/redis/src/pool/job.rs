//! What waits in a pool's write queue: a write function or a command list
//! with the event it applies to. Commands are only built when the writer
//! takes the job, on the plugin's threads, so a hook costs one copy of the
//! event and a queue push.

use std::sync::Arc;

use crate::commands::Commands;
use crate::event::Event;
use crate::functions::Function;
use crate::resp::CommandSink;

/// One rule's writes for one event.
#[derive(Debug, Clone)]
pub(crate) enum Job {
    /// A write function.
    Function {
        /// Which.
        function: Function,
        /// Its event.
        event: Event,
        /// The rule's `expired_time`.
        ttl: u64,
    },
    /// Raw commands.
    Commands {
        /// The rule's commands.
        commands: Arc<Commands>,
        /// Their event.
        event: Event,
    },
}

impl Job {
    /// Writes the job's commands to `out`.
    pub(crate) fn emit(&self, out: &mut impl CommandSink) {
        match self {
            Job::Function {
                function,
                event,
                ttl,
            } => function.emit(event, *ttl, out),
            Job::Commands { commands, event } => commands.emit(event, out),
        }
    }

    /// Bytes it will take on the wire, roughly.
    pub(crate) fn size_hint(&self) -> usize {
        match self {
            Job::Function { event, .. } | Job::Commands { event, .. } => event.size_hint(),
        }
    }
}

/// A job, how many commands it makes and its size (counted against the
/// queue's bounds when it was accepted).
#[derive(Debug)]
pub(crate) struct Queued {
    /// The job.
    pub(crate) job: Job,
    /// Its commands.
    pub(crate) count: usize,
    /// Its bytes, roughly ([`Job::size_hint`]).
    pub(crate) bytes: usize,
}

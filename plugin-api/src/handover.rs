//! Sessions that move between the nodes of a cluster (since 1.7): the
//! `session.resuming` hook point, asked before a connection is handed to
//! its session, and the receiver of a session taken out of the broker
//! with [`HostApi::take_session`](crate::HostApi::take_session).
#![allow(non_local_definitions)] // emitted by #[sabi_trait] on current rustc
#![allow(clippy::unnecessary_cast)] // emitted by #[sabi_trait] for a by-value method

use abi_stable::sabi_trait;
use abi_stable::std_types::{RBox, RResult, RStr, RVec};
use abi_stable::StableAbi;

use crate::types::HostError;

/// `session.resuming`: an authenticated client is about to get its
/// session on this node. Asked after `client.authenticate` allowed the
/// client and before the broker looks for the session, so a plugin that
/// finds the session elsewhere (another node of a cluster) can bring it
/// here with [`HostApi::put_session`](crate::HostApi::put_session) first,
/// and the client then resumes it (Session Present 1).
///
/// ```
/// use mqhost_plugin_api::abi_stable::std_types::RStr;
/// use mqhost_plugin_api::ResumeEvent;
///
/// let event = ResumeEvent {
///     client_id: RStr::from_str("sensor-1"),
///     clean_start: false,
///     protocol: 5,
///     node: RStr::from_str("n2"),
/// };
/// assert!(!event.clean_start);
/// ```
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Copy)]
pub struct ResumeEvent<'a> {
    /// The client id.
    pub client_id: RStr<'a>,
    /// Clean Start (5.0) or Clean Session (3.x): the client wants a new
    /// session, and any old one is discarded.
    pub clean_start: bool,
    /// Protocol level: 3 (MQTT 3.1), 4 (3.1.1) or 5 (5.0).
    pub protocol: u8,
    /// The node's name.
    pub node: RStr<'a>,
}

/// Where a session taken out with
/// [`HostApi::take_session`](crate::HostApi::take_session) goes: the
/// host calls [`receive`](Self::receive) once, from one of its threads,
/// with the session's bytes or the reason there are none.
///
/// ```
/// use mqhost_plugin_api::abi_stable::std_types::{RResult, RVec};
/// use mqhost_plugin_api::{session_receiver, HostError};
///
/// let (tx, rx) = std::sync::mpsc::channel();
/// let receiver = session_receiver(move |taken: Result<Vec<u8>, HostError>| {
///     let _ = tx.send(taken);
/// });
/// receiver.receive(RResult::RErr(HostError::NO_SUCH_CLIENT));
/// assert_eq!(rx.recv().unwrap(), Err(HostError::NO_SUCH_CLIENT));
/// ```
#[sabi_trait]
pub trait SessionReceiver: Send + Sync + 'static {
    /// The session as bytes for
    /// [`HostApi::put_session`](crate::HostApi::put_session), or why
    /// there is none.
    #[sabi(last_prefix_field)]
    fn receive(self, session: RResult<RVec<u8>, HostError>);
}

/// The ABI object behind a [`SessionReceiver`].
///
/// ```
/// use mqhost_plugin_api::{session_receiver, SessionReceiverBox};
///
/// let _receiver: SessionReceiverBox = session_receiver(|_taken| {});
/// ```
pub type SessionReceiverBox = SessionReceiver_TO<RBox<()>>;

/// A closure as a [`SessionReceiver`].
struct ReceiveWith<F>(F);

impl<F> SessionReceiver for ReceiveWith<F>
where
    F: FnOnce(Result<Vec<u8>, HostError>) + Send + Sync + 'static,
{
    fn receive(self, session: RResult<RVec<u8>, HostError>) {
        (self.0)(session.into_result().map(RVec::into_vec));
    }
}

/// Wraps a closure as the receiver
/// [`HostApi::take_session`](crate::HostApi::take_session) wants. It is
/// called once; dropped uncalled only when the host could not even try
/// (the call returned an error).
///
/// ```
/// use mqhost_plugin_api::abi_stable::std_types::{RResult, RVec};
/// use mqhost_plugin_api::session_receiver;
///
/// let receiver = session_receiver(|taken| assert_eq!(taken, Ok(vec![1, 2, 3])));
/// receiver.receive(RResult::ROk(RVec::from(vec![1, 2, 3])));
/// ```
pub fn session_receiver<F>(receive: F) -> SessionReceiverBox
where
    F: FnOnce(Result<Vec<u8>, HostError>) + Send + Sync + 'static,
{
    SessionReceiver_TO::from_value(ReceiveWith(receive), sabi_trait::TD_Opaque)
}

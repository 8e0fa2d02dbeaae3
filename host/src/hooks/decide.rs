//! The decision hook points, `client.authenticate` and `client.authorize`:
//! each question goes to the handlers registered for it in rank order
//! until one allows or denies.
//!
//! A handler answers at once or later, through a channel. The common case,
//! every answer at once, is a plain loop on the caller's thread with no
//! allocation beyond the request. Only when a handler answers later does
//! the rest of the walk become a future: the caller (a session, a
//! connection's handshake) waits on it without holding any other client,
//! and each wait is bounded by `auth.timeout`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mqhost_codec::{ProtocolVersion, QoS};
use tokio::sync::oneshot;

use super::{HookHandler, HookSet, Hooks, Registered};
use crate::access::Access;
use crate::config::listeners::ListenerSpec;

/// One source's answer to an access question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Granted; later sources are not asked.
    Allow,
    /// Granted to a superuser, whom no topic question is asked about
    /// (authentication only; a topic answer reads as [`Decision::Allow`]).
    AllowSuperuser,
    /// Refused; later sources are not asked.
    Deny,
    /// This source has no say; the next one is asked.
    Ignore,
}

impl Decision {
    /// Whether this answer ends the question.
    pub fn is_final(self) -> bool {
        self != Decision::Ignore
    }
}

/// A handler's answer: given now, or to come through the channel.
pub enum Answer {
    Now(Decision),
    Later(oneshot::Receiver<Decision>),
}

/// A verified client certificate's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCert {
    /// The subject's common name, if it has one (several are joined with
    /// `,`, as EMQX does).
    pub common_name: Option<String>,
    /// The whole subject, as EMQX writes it: RFC 4514, the most specific
    /// part first (`CN=dev-1,O=Acme`), special characters escaped.
    pub subject: String,
}

/// `client.authenticate`: a CONNECT, before any session is touched.
#[derive(Debug, Clone)]
pub struct AuthenticateRequest {
    pub client_id: Arc<str>,
    pub username: Option<String>,
    pub password: Option<Vec<u8>>,
    pub peer: SocketAddr,
    pub protocol: ProtocolVersion,
    /// The listener the client came in on.
    pub listener: Arc<ListenerSpec>,
    /// The client certificate the listener verified, if any.
    pub cert: Option<PeerCert>,
}

/// `session.resuming`: an authenticated client about to get its session.
#[derive(Debug, Clone)]
pub struct ResumeRequest {
    pub client_id: Arc<str>,
    pub clean_start: bool,
    pub protocol: ProtocolVersion,
}

/// `client.authorize`: one use of one topic by an authenticated client.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub client_id: Arc<str>,
    pub username: Option<String>,
    pub peer: SocketAddr,
    pub access: Access,
    /// A topic name, or the filter for [`Access::Subscribe`].
    pub topic: Box<str>,
    pub qos: QoS,
    pub retain: bool,
}

/// The rest of a walk that is waiting for a handler's answer.
pub type Pending = Pin<Box<dyn Future<Output = Decision> + Send>>;

/// The handlers' answer to one question: known now, or to be awaited.
pub enum Step {
    Ready(Decision),
    Pending(Pending),
}

/// How long an answer that comes later is waited for, and what one that
/// did not come in time counts as (`auth.timeout`, `auth.timeout_action`).
#[derive(Debug, Clone, Copy)]
pub struct Patience {
    pub timeout: Duration,
    pub late: Decision,
}

/// The hook point a topic question goes to: reads only to handlers that
/// opted in, since they come once per topic a client receives.
pub fn point_for(access: Access) -> HookSet {
    match access {
        Access::Read => HookSet::CLIENT_AUTHORIZE_READ,
        Access::Write | Access::Subscribe => HookSet::CLIENT_AUTHORIZE,
    }
}

/// Where a walk over the handlers stopped.
enum Walk {
    Done(Decision),
    /// The handler at this index answers later.
    Waiting(usize, oneshot::Receiver<Decision>),
}

type Ask = dyn Fn(&dyn HookHandler) -> Answer + Send + Sync;

impl Hooks {
    /// Asks `client.authenticate` handlers about `request`.
    pub fn authenticate(&self, request: AuthenticateRequest, patience: Patience) -> Step {
        self.decide(
            HookSet::CLIENT_AUTHENTICATE,
            patience,
            Box::new(move |h| h.authenticate(&request)),
        )
    }

    /// Tells `session.resuming` handlers of `request`, each in turn; the
    /// step is over when each answered (what they answer is not a
    /// verdict: a plugin that brings a session here answers once it is
    /// here).
    pub fn resuming(&self, request: ResumeRequest, patience: Patience) -> Step {
        self.decide(
            HookSet::SESSION_RESUMING,
            patience,
            Box::new(move |h| h.resuming(&request)),
        )
    }

    /// Asks `client.authorize` handlers (for a read, those that opted in)
    /// about `request`.
    pub fn authorize(&self, request: AuthorizeRequest, patience: Patience) -> Step {
        self.decide(
            point_for(request.access),
            patience,
            Box::new(move |h| h.authorize(&request)),
        )
    }

    fn decide(&self, point: HookSet, patience: Patience, ask: Box<Ask>) -> Step {
        let Some(list) = self.with_list(point, Arc::clone) else {
            return Step::Ready(Decision::Ignore);
        };
        match walk(&list, 0, point, ask.as_ref()) {
            Walk::Done(decision) => Step::Ready(decision),
            Walk::Waiting(at, answer) => {
                Step::Pending(Box::pin(finish(list, at, answer, point, ask, patience)))
            }
        }
    }
}

/// Asks the handlers for `point` from index `from` on, until one decides
/// or one answers later.
fn walk(list: &[Registered], from: usize, point: HookSet, ask: &Ask) -> Walk {
    for (at, registered) in list.iter().enumerate().skip(from) {
        if !registered.points.contains(point) {
            continue;
        }
        match ask(registered.handler.as_ref()) {
            Answer::Now(decision) if decision.is_final() => return Walk::Done(decision),
            Answer::Now(_) => {}
            Answer::Later(answer) => return Walk::Waiting(at, answer),
        }
    }
    Walk::Done(Decision::Ignore)
}

/// Waits for the answer of the handler at `at`, then goes on down the list
/// as [`walk`] does, waiting again as often as needed.
async fn finish(
    list: Arc<Vec<Registered>>,
    mut at: usize,
    mut answer: oneshot::Receiver<Decision>,
    point: HookSet,
    ask: Box<Ask>,
    patience: Patience,
) -> Decision {
    loop {
        let source = &list[at].rank.name;
        let hook = point.name().unwrap_or("a decision hook");
        let decision = match tokio::time::timeout(patience.timeout, answer).await {
            Ok(Ok(decision)) => decision,
            Ok(Err(_)) => {
                tracing::warn!(plugin = %source, hook, "the plugin dropped its reply without answering; counts as ignore");
                Decision::Ignore
            }
            Err(_) => {
                tracing::warn!(plugin = %source, hook, timeout = ?patience.timeout, "no answer within auth.timeout; counts as {:?}", patience.late);
                patience.late
            }
        };
        if decision.is_final() {
            return decision;
        }
        match walk(&list, at + 1, point, ask.as_ref()) {
            Walk::Done(decision) => return decision,
            Walk::Waiting(next, next_answer) => {
                at = next;
                answer = next_answer;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::hooks::Rank;

    /// Answers from a script: a decision now, or later through a channel
    /// whose sender the test keeps.
    struct Scripted {
        now: Option<Decision>,
        later: Mutex<Vec<oneshot::Sender<Decision>>>,
    }

    impl HookHandler for Scripted {
        fn authenticate(&self, _request: &AuthenticateRequest) -> Answer {
            match self.now {
                Some(decision) => Answer::Now(decision),
                None => {
                    let (tx, rx) = oneshot::channel();
                    self.later.lock().unwrap().push(tx);
                    Answer::Later(rx)
                }
            }
        }
    }

    fn scripted(now: Option<Decision>) -> Arc<Scripted> {
        Arc::new(Scripted {
            now,
            later: Mutex::new(Vec::new()),
        })
    }

    fn request() -> AuthenticateRequest {
        AuthenticateRequest {
            client_id: Arc::from("c"),
            username: None,
            password: None,
            peer: "127.0.0.1:1".parse().unwrap(),
            protocol: ProtocolVersion::V5,
            listener: Arc::new(ListenerSpec::tcp_default("127.0.0.1:1883".parse().unwrap())),
            cert: None,
        }
    }

    const PATIENCE: Patience = Patience {
        timeout: Duration::from_secs(30),
        late: Decision::Deny,
    };

    fn register(hooks: &Hooks, priority: i64, name: &str, handler: Arc<Scripted>) {
        let rank = Rank {
            priority,
            name: Arc::from(name),
        };
        hooks.register(HookSet::CLIENT_AUTHENTICATE, rank, handler);
    }

    fn ready(step: Step) -> Decision {
        match step {
            Step::Ready(decision) => decision,
            Step::Pending(_) => panic!("expected an answer now"),
        }
    }

    fn later(step: Step) -> Pending {
        match step {
            Step::Pending(pending) => pending,
            Step::Ready(decision) => panic!("expected a pending answer, got {decision:?}"),
        }
    }

    #[test]
    fn no_handler_ignores_and_the_first_final_answer_wins_in_rank_order() {
        let hooks = Hooks::default();
        assert_eq!(
            ready(hooks.authenticate(request(), PATIENCE)),
            Decision::Ignore
        );
        register(&hooks, 0, "b-deny", scripted(Some(Decision::Deny)));
        register(&hooks, 0, "a-ignore", scripted(Some(Decision::Ignore)));
        register(&hooks, 0, "c-allow", scripted(Some(Decision::Allow)));
        // Same priority: by name, so a-ignore then b-deny.
        assert_eq!(
            ready(hooks.authenticate(request(), PATIENCE)),
            Decision::Deny
        );
        register(&hooks, 10, "z-allow", scripted(Some(Decision::Allow)));
        assert_eq!(
            ready(hooks.authenticate(request(), PATIENCE)),
            Decision::Allow
        );
    }

    #[tokio::test]
    async fn a_later_answer_is_awaited_then_the_walk_goes_on() {
        let hooks = Hooks::default();
        let slow = scripted(None);
        register(&hooks, 2, "slow", Arc::clone(&slow));
        register(&hooks, 1, "deny", scripted(Some(Decision::Deny)));
        let pending = later(hooks.authenticate(request(), PATIENCE));
        let sender = slow.later.lock().unwrap().pop().unwrap();
        sender.send(Decision::Ignore).unwrap();
        assert_eq!(pending.await, Decision::Deny);

        // A dropped reply counts as ignore at once.
        let pending = later(hooks.authenticate(request(), PATIENCE));
        drop(slow.later.lock().unwrap().pop());
        assert_eq!(pending.await, Decision::Deny);
    }

    #[tokio::test]
    async fn an_answer_that_does_not_come_counts_as_the_timeout_action() {
        let hooks = Hooks::default();
        let slow = scripted(None);
        register(&hooks, 0, "slow", Arc::clone(&slow));
        register(&hooks, 0, "then-allow", scripted(Some(Decision::Allow)));
        let patience = Patience {
            timeout: Duration::from_millis(20),
            late: Decision::Ignore,
        };
        let pending = later(hooks.authenticate(request(), patience));
        assert_eq!(pending.await, Decision::Allow);
        let patience = Patience {
            late: Decision::Deny,
            ..patience
        };
        let pending = later(hooks.authenticate(request(), patience));
        assert_eq!(pending.await, Decision::Deny);
        assert_eq!(slow.later.lock().unwrap().len(), 2);
    }
}
